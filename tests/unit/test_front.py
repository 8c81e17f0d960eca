"""The short way in for `/v1` (server/front.py) answers exactly as Starlette's way does: for a table of requests,
the same status, headers and body bytes, the same metrics and the same access-log line; other methods and paths
still go through Starlette (405 with `Allow`, `/v1/openapi.json`)."""

import asyncio
import gc
import io
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from tradovate_sim.server.app import create_app
from tradovate_sim.server.front import Application, PiecedJson
from tradovate_sim.server.runtime import Runtime
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.settings import Settings

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
Way = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope_of(method: str, path: str, query: bytes = b"",
             headers: tuple[tuple[bytes, bytes], ...] = ()) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
            "root_path": "", "headers": [(b"host", b"test"), *headers], "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000), "state": {}}


async def ask(way: Way, method: str, path: str, *, body: bytes | list[bytes] = b"", query: bytes = b"",
              token: str | None = None, disconnect: bool = False) -> Answer:
    """Drive one request through an ASGI callable; the answer's status, headers and body."""
    headers: tuple[tuple[bytes, bytes], ...] = ((b"content-type", b"application/json"),)
    if token is not None:
        headers += ((b"authorization", f"Bearer {token}".encode()),)
    chunks = body if isinstance(body, list) else [body]
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                                      for i, chunk in enumerate(chunks)]
    if disconnect:
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await way(scope_of(method, path, query, headers), receive, send)
    assert sent[0]["type"] == "http.response.start"
    return sent[0]["status"], list(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Application]:
    thresholds = gc.get_threshold()
    settings = Settings(db=f"sqlite:///{tmp_path / 'front.db'}", quotes="manual", admin_password="admin-pw",
                        demo_password="demo-pw", access_log=True)
    runtime = Runtime(settings, out=io.StringIO(), hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1))
    made = create_app(runtime)
    assert isinstance(made, Application)
    try:
        async with made.router.lifespan_context(made):
            yield made
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def starlette_way(app: Application) -> Way:
    async def way(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await Starlette.__call__(app, scope, receive, send)
    return way


async def token_of(app: Application) -> str:
    status, _, body = await ask(app, "POST", "/v1/auth/accesstokenrequest",
                                body=json.dumps({"name": "demo", "password": "demo-pw"}).encode())
    assert status == 200, body
    token: str = json.loads(body)["accessToken"]
    return token


async def test_the_short_way_answers_byte_for_byte_as_starlettes_way(app: Application) -> None:
    token = await token_of(app)
    big = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    table: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/auth/me", {"token": token}),
        ("POST", "/v1/auth/me", {"token": token}),  # GET and POST alike
        ("GET", "/v1/auth/me", {}),  # no token: 401
        ("GET", "/v1/auth/me", {"token": "not-a-token"}),
        ("GET", "/v1/AUTH/Me/", {"token": token}),  # names in any case, a trailing slash
        ("GET", "/v1/account/list", {"token": token}),
        ("GET", "/v1/contract/find", {"token": token, "query": b"name=ESZ6"}),
        ("GET", "/v1/contract/find", {"token": token, "query": b"NAME=ESZ6&name="}),
        ("GET", "/v1/contract/find", {"token": token}),  # a missing parameter: 400 naming it
        ("GET", "/v1/contract/items", {"token": token, "query": b"ids=1,%202,x"}),
        ("GET", "/v1/no/such", {"token": token}),  # 404
        ("GET", "/v1/", {"token": token}),
        ("GET", "/v1/websocket", {"token": token}),  # plain HTTP to the socket's path
        ("POST", "/v1/order/placeorder", {"token": token, "body": b"{not json"}),  # 400
        ("POST", "/v1/order/placeorder", {"token": token, "body": b""}),
        ("POST", "/v1/order/placeorder", {"token": token, "body": b'{"accountId": "x"}'}),
        ("POST", "/v1/order/placeorder", {"token": token, "body": big}),  # 413
        ("POST", "/v1/contract/items", {"token": token, "body": [b'{"ids"', b": [1]}"]}),  # a body in pieces
        ("POST", "/v1/order/placeorder", {"token": token, "body": b'{"acc', "disconnect": True}),  # left mid-body
    ]
    for method, path, given in table:
        short = await ask(app, method, path, **given)
        long = await ask(starlette_way(app), method, path, **given)
        assert short == long, (method, path, short[:2], long[:2])
        assert short[0] in (200, 400, 401, 404, 413), (method, path, short)


def counted(exposition: bytes, operation: str, status: int) -> float:
    for line in exposition.decode().splitlines():
        if line.startswith(f'tradovate_sim_requests_total{{operation="{operation}",status="{status}",'
                           'transport="http"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_the_short_way_is_counted_timed_and_logged_like_starlettes(
        app: Application, caplog: pytest.LogCaptureFixture) -> None:
    token = await token_of(app)
    lines: list[dict[str, Any]] = []
    for way in (app, starlette_way(app)):
        before = (await ask(app, "GET", "/metrics"))[2]
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tradovate_sim.access"):
            await ask(way, "GET", "/v1/auth/me", token=token)
        after = (await ask(app, "GET", "/metrics"))[2]
        assert counted(after, "auth/me", 200) == counted(before, "auth/me", 200) + 1
        [record] = [r for r in caplog.records if r.name == "tradovate_sim.access"]
        fields = dict(getattr(record, "fields"))  # noqa: B009
        assert fields.pop("durationMs") >= 0
        lines.append(fields)
    assert lines[0] == lines[1]
    assert lines[0]["userId"] > 0 and lines[0]["path"] == "/v1/auth/me"


async def test_other_methods_and_paths_go_through_starlette(app: Application) -> None:
    short_way = app.short_way
    assert short_way is not None
    token = await token_of(app)
    assert not short_way.takes(scope_of("PUT", "/v1/auth/me"))
    assert not short_way.takes(scope_of("GET", "/v1/openapi.json"))
    assert not short_way.takes(scope_of("GET", "/sim/clock"))
    assert not short_way.takes({**scope_of("GET", "/v1/auth/me"), "type": "websocket"})
    assert short_way.takes(scope_of("POST", "/v1/order/liquidateposition"))
    status, headers, body = await ask(app, "PUT", "/v1/auth/me", token=token)
    assert status == 405 and (b"allow", b"GET, POST") in headers and b"errorText" in body
    status, headers, body = await ask(app, "GET", "/v1/openapi.json")
    assert status == 200 and json.loads(body)["openapi"].startswith("3.1")


async def test_a_long_answer_is_written_in_fragments_with_the_loop_turning_between() -> None:
    pieces = [b"[", *(b'{"id":%d,"pad":"%s"},' % (i, b"x" * 1000) for i in range(999)), b'{"id":999}', b"]"]
    answer = PiecedJson(pieces)
    turns, sent = 0, []

    async def ticker() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    async def send(message: dict[str, Any]) -> None:
        sent.append((turns, message))

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await answer(scope_of("GET", "/v1/position/list"), None, send)
    ticking.cancel()
    start, *bodies = [message for _, message in sent]
    body = b"".join(message["body"] for message in bodies)
    assert body == b"".join(pieces) and json.loads(body)[-1] == {"id": 999}
    assert start["headers"] == [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
    assert [message.get("more_body", False) for message in bodies] == [True] * (len(bodies) - 1) + [False]
    assert len(bodies) >= 4  # ~1 MB in fragments of about 256 KiB, never one write
    assert all(len(message["body"]) < (256 << 10) + 2000 for message in bodies)
    moments = [moment for moment, message in sent[1:]]
    assert moments == sorted(set(moments))  # the event loop turned between two fragments
