"""`Tradovate` (blocking) and `AsyncTradovate` (asyncio): the HTTP clients, two thin drivers of one sans-I/O
`Session` (client/session.py) over httpx. Everything else (building requests, reading answers, tokens, penalty
tickets) is shared; a driver only sends a request or sleeps when the session's steps say so."""

import asyncio
import functools
import ssl
import time
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from tradovate_sim.client.calls import HttpAnswer, HttpRequest, Sleep
from tradovate_sim.client.environments import Environment, environment
from tradovate_sim.client.errors import TransportError
from tradovate_sim.client.groups import Api, bind
from tradovate_sim.client.session import MAX_TICKETS, RENEW_BEFORE, Credentials, Session, Steps
from tradovate_sim.client.socket import TradovateSocket
from tradovate_sim.model.api import Awaiting, Blocking, Operation
from tradovate_sim.model.results import AccessTokenResponse

Req = TypeVar("Req")
Res = TypeVar("Res")
TIMEOUT = 10.0


def session_of(*, name: str | None, password: str | None, token: str | None, app_id: str | None,
               app_version: str | None, cid: int | str | None, sec: str | None, device_id: str | None,
               renew_before: timedelta, relogin: bool, max_tickets: int) -> Session:
    if (name is None) != (password is None):
        raise ValueError("name and password go together")
    if name is None and token is None:
        raise ValueError("give name and password, or a token")
    credentials = None if name is None or password is None else Credentials(
        name=name, password=password, app_id=app_id, app_version=app_version, cid=cid, sec=sec, device_id=device_id)
    return Session(credentials, token, renew_before=renew_before, relogin=relogin, max_tickets=max_tickets)


@functools.cache
def tls() -> ssl.SSLContext:
    """The TLS context of every client in the process, made once: httpx otherwise makes one per client, even for
    an http:// URL, and reading its CA bundle is most of the cost of a client (~30 ms of CPU; a test suite makes a
    client per test)."""
    return httpx.create_ssl_context()


def answer(response: httpx.Response) -> HttpAnswer:
    return HttpAnswer(status=response.status_code, content=response.content)


class Tradovate(Api[Blocking]):
    """The blocking client. `Tradovate(url="local", name=..., password=...)`; `url` is `demo`, `live`, `local` or
    `http(s)://host:port`. Logs in on the first call; use it as a context manager, or `close()` it."""

    def __init__(self, url: str | Environment = "local", name: str | None = None, password: str | None = None, *,
                 token: str | None = None, app_id: str | None = None, app_version: str | None = None,
                 cid: int | str | None = None, sec: str | None = None, device_id: str | None = None,
                 renew_before: timedelta = RENEW_BEFORE, relogin: bool = True, max_tickets: int = MAX_TICKETS,
                 timeout: float = TIMEOUT, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.environment = environment(url)
        self.session = session_of(name=name, password=password, token=token, app_id=app_id,
                                  app_version=app_version, cid=cid, sec=sec, device_id=device_id,
                                  renew_before=renew_before, relogin=relogin, max_tickets=max_tickets)
        self.http = httpx.Client(base_url=self.environment.rest, timeout=timeout, transport=transport,
                                 verify=tls())
        self.sleep = sleep
        bind(self, self.call)

    def call(self, operation: Operation[Req, Res], request: Req) -> Res:
        """Any operation of model/api.py (served over HTTP) with its request."""
        return self.run(self.session.call(operation, request))

    def login(self) -> AccessTokenResponse:
        """Log in now (a new session); calls log in by themselves when they need to."""
        return self.run(self.session.login())

    def renew(self) -> AccessTokenResponse:
        """Renew the token now; calls renew it by themselves when it is about to expire."""
        return self.run(self.session.renew())

    @property
    def token(self) -> str | None:
        return self.session.token

    def run(self, steps: Steps[Res]) -> Res:
        """Drive the session's steps: send each request, sleep each penalty, until the result."""
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    self.sleep(step.seconds)
                    step = steps.send(None)
                else:
                    step = steps.send(self.send(step))
        except StopIteration as stop:
            result: Res = stop.value
            return result

    def send(self, request: HttpRequest) -> HttpAnswer:
        try:
            return answer(self.http.request(request.method, request.path, params=tuple(request.params),
                                            content=request.content, headers=request.headers))
        except httpx.TransportError as error:
            raise TransportError(f"{request.method} {request.path}: {error!r}") from error

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class AsyncTradovate(Api[Awaiting]):
    """The asyncio client: `Tradovate`'s twin, every call awaited. `websocket()` opens a `TradovateSocket` that
    authorizes with this client's token (and takes a fresh one when it reconnects)."""

    def __init__(self, url: str | Environment = "local", name: str | None = None, password: str | None = None, *,
                 token: str | None = None, app_id: str | None = None, app_version: str | None = None,
                 cid: int | str | None = None, sec: str | None = None, device_id: str | None = None,
                 renew_before: timedelta = RENEW_BEFORE, relogin: bool = True, max_tickets: int = MAX_TICKETS,
                 timeout: float = TIMEOUT, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self.environment = environment(url)
        self.session = session_of(name=name, password=password, token=token, app_id=app_id,
                                  app_version=app_version, cid=cid, sec=sec, device_id=device_id,
                                  renew_before=renew_before, relogin=relogin, max_tickets=max_tickets)
        self.http = httpx.AsyncClient(base_url=self.environment.rest, timeout=timeout, transport=transport,
                                      verify=tls())
        self.sleep = sleep
        bind(self, self.call)

    async def call(self, operation: Operation[Req, Res], request: Req) -> Res:
        """Any operation of model/api.py (served over HTTP) with its request."""
        return await self.run(self.session.call(operation, request))

    async def login(self) -> AccessTokenResponse:
        return await self.run(self.session.login())

    async def renew(self) -> AccessTokenResponse:
        return await self.run(self.session.renew())

    async def fresh_token(self) -> str:
        """A token good for a while (logged in or renewed first when needed): what a socket authorizes with."""
        await self.run(self.session.fresh_token())
        assert self.session.token is not None
        return self.session.token

    async def fresh_md_token(self) -> str:
        """The market-data token (Tradovate's `mdAccessToken`), or the access token when the server gives none."""
        token = await self.fresh_token()
        return self.session.md_token or token

    @property
    def token(self) -> str | None:
        return self.session.token

    def websocket(self, *, market_data: bool = False, reconnect: bool = True) -> TradovateSocket:
        """A socket authorized with this client's token (`async with client.websocket() as ws:`); `market_data`:
        Tradovate's market-data host with the `mdAccessToken` (on this server, the same socket)."""
        if market_data:
            return TradovateSocket(self.environment.market_data, self.fresh_md_token, reconnect=reconnect)
        return TradovateSocket(self.environment.websocket, self.fresh_token, reconnect=reconnect)

    async def run(self, steps: Steps[Res]) -> Res:
        try:
            step = next(steps)
            while True:
                if isinstance(step, Sleep):
                    await self.sleep(step.seconds)
                    step = steps.send(None)
                else:
                    step = steps.send(await self.send(step))
        except StopIteration as stop:
            result: Res = stop.value
            return result

    async def send(self, request: HttpRequest) -> HttpAnswer:
        try:
            return answer(await self.http.request(request.method, request.path, params=tuple(request.params),
                                                  content=request.content, headers=request.headers))
        except httpx.TransportError as error:
            raise TransportError(f"{request.method} {request.path}: {error!r}") from error

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()
