"""The short way in for `/v1/<operation>`: GET and POST requests to the API are served straight from the ASGI scope,
before Starlette's middleware, router and `Request`; everything else goes through Starlette.

A liquidation spent about a quarter of its event-loop time in the layers between uvicorn and the operation
(Starlette's error and exception middlewares, the router trying each route, `Request` and its lazy parsing, the
timing middleware's wrapped `send`). What those layers did for an API request is done here in a few lines, with the
same functions: the operation is dispatched by the same code (`Call` is what it reads of a request, whichever way
the request came), answered by the same `Response` objects (same bytes, same headers), counted and timed into the
same metrics and written to the same access log. Other methods (answered 405 naming GET and POST, or Starlette's
own 405), `/v1/openapi.json`, WebSockets and every other path take Starlette's way, unchanged.
"""

import asyncio
from collections.abc import Awaitable, Callable
from time import perf_counter
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tradovate_sim.server.access import AccessLog, HttpOperations
from tradovate_sim.server.connection import Pieces
from tradovate_sim.server.metrics import HTTP, Metrics
from tradovate_sim.server.protocol import JSON_TYPE, whole

API_PREFIX = "/v1/"
OWN_ROUTES = frozenset({"/v1/openapi.json"})  # `/v1/` paths with a Starlette route of their own
SHORT_METHODS = frozenset({"GET", "POST"})  # what an operation takes; any other method goes through Starlette


class PiecedJson(Response):
    """A long JSON answer (`codec.is_long`) from the pieces it was encoded in, never joined whole: the head with the
    whole length, then the body in fragments of about `FRAGMENT_BYTES` (`Pieces.fragments`), each a body message of
    its own, with a turn of the event loop between two (issue 9: a list of 30,000 positions joined, copied into its
    head and written at once held the loop ~100 ms). `whole` declines it (its `body` is empty, its length the
    pieces'), so it goes out through `send`."""

    def __init__(self, pieces: list[bytes]) -> None:  # sets what Response.__init__ would
        self.status_code = 200
        self.background = None
        self.body = b""
        self.pieces = Pieces(pieces)
        self.raw_headers = [(b"content-length", b"%d" % len(self.pieces)), JSON_TYPE]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        parts = self.pieces.parts
        for begin, end in self.pieces.fragments():
            await send({"type": "http.response.body", "body": b"".join(parts[begin:end]), "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})


class Call:
    """One HTTP request as an operation reads it: its method, the operation's path (what follows `/v1/` or
    `/sim/`), a header, its bearer token, the client's address, its body and its query parameters. Read from the
    ASGI scope, as Starlette's `Request` would read it (headers and the query string as latin-1, the first of a
    repeated header, blank query values kept)."""

    __slots__ = ("_body", "operation", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive, operation: str) -> None:
        self.scope = scope
        self.receive = receive
        self.operation = operation
        self._body: bytes | None = None

    @property
    def method(self) -> str:
        method: str = self.scope["method"]
        return method

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    def header(self, name: bytes) -> str:
        """The first header of this (lower-case) name, or an empty string."""
        for key, value in self.scope["headers"]:
            if key == name:
                text: str = value.decode("latin-1")
                return text
        return ""

    def bearer(self) -> str | None:
        scheme, _, token = self.header(b"authorization").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def client_host(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    def query_items(self) -> list[tuple[str, str]]:
        return parse_qsl(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)

    async def body(self) -> bytes:
        """The whole body; `ClientDisconnect` if the client leaves before sending it all."""
        if self._body is None:
            chunks: list[bytes] = []
            while True:
                message = await self.receive()
                if message["type"] == "http.request":
                    if chunk := message.get("body", b""):
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                elif message["type"] == "http.disconnect":
                    raise ClientDisconnect()
            self._body = b"".join(chunks)
        return self._body


class ShortWay:
    """Serves `/v1/<operation>` GET and POST requests: `serve` answers the call (it never raises for a request's
    fault); the request is counted and timed by operation and status, and logged when the access log is on, as
    `access.Observed` does for Starlette's way."""

    def __init__(self, serve: Callable[[Call], Awaitable[Response]], metrics: Metrics, operations: HttpOperations,
                 access: AccessLog) -> None:
        self.serve = serve
        self.metrics = metrics
        self.operations = operations
        self.access = access

    def takes(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] not in SHORT_METHODS or scope.get("root_path"):
            return False
        path: str = scope["path"]
        return path.startswith(API_PREFIX) and path not in OWN_ROUTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = perf_counter()
        status = 500  # unless an answer starts
        try:
            response = await self.serve(Call(scope, receive, scope["path"][len(API_PREFIX):]))
            status = response.status_code
            if response.background is None and whole(send, status, response.raw_headers, response.body):
                return  # the same bytes, written at once by the connection's protocol
            await response(scope, receive, send)  # through `send` (a long answer: in fragments, `PiecedJson`)
        finally:
            seconds = perf_counter() - started
            self.metrics.request(HTTP, self.operations.of(scope["path"]), status, seconds)
            if self.access.enabled:
                self.access.request(scope, status, seconds)


class Application(Starlette):
    """Starlette, with the API's GET and POST requests taken by `short_way` (once set) before anything else."""

    short_way: ShortWay | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        short_way = self.short_way
        if short_way is not None and short_way.takes(scope):
            await short_way(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def routed(answer: Callable[[Call], Awaitable[Response]], parameter: str) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint answering the `Call` of its request, whose operation is the path parameter named."""
    async def endpoint(request: Request) -> Response:
        return await answer(Call(request.scope, request.receive, request.path_params[parameter]))
    return endpoint
