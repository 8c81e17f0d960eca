"""What each request did, for operators: an ASGI middleware that times every HTTP request into the metrics, and the
access log (one line per HTTP request, one per WebSocket when it closes).

An access line holds the method, the path (never the query string), the status, the duration and the user id when
the request carried a valid token; never a header, a token, a password or a body.
"""

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tradovate_sim.server.logs import ACCESS_LOGGER
from tradovate_sim.server.metrics import HTTP, UNKNOWN, Metrics, Operations

USER_ID = "tradovate_sim.user_id"  # scope key: the caller's user id, set by the app once the token is checked
MAX_PATH = 200  # characters of a path written to the log
MAX_KNOWN = 4096  # paths whose operation name is remembered


class AccessLog:
    """The access log: off unless `--access-log`; lines go through the `tradovate_sim.access` logger."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.log = logging.getLogger(ACCESS_LOGGER)

    def request(self, scope: Scope, status: int, seconds: float) -> None:
        method, path = scope.get("method", ""), str(scope.get("path", ""))[:MAX_PATH]
        user_id, client = scope.get(USER_ID), scope.get("client")
        ms = round(seconds * 1000, 3)
        fields: dict[str, object] = {"method": method, "path": path, "status": status, "durationMs": ms}
        if user_id is not None:
            fields["userId"] = user_id
        if client:
            fields["client"] = client[0]
        user = "-" if user_id is None else user_id
        self.log.info("%s %s %s %d %.3fms user=%s", client[0] if client else "-", method, path, status, ms, user,
                      extra={"fields": fields})

    def socket_closed(self, scope: Scope, code: int | None, seconds: float, requests: int,
                      user_id: int | None) -> None:
        """One WebSocket, when it closes: its close code, how long it was open and how many requests it carried."""
        path, client = str(scope.get("path", ""))[:MAX_PATH], scope.get("client")
        ms = round(seconds * 1000, 3)
        fields: dict[str, object] = {"method": "WEBSOCKET", "path": path, "status": code, "durationMs": ms,
                                     "requests": requests}
        if user_id is not None:
            fields["userId"] = user_id
        if client:
            fields["client"] = client[0]
        user = "-" if user_id is None else user_id
        self.log.info("%s WEBSOCKET %s %s %.3fms requests=%d user=%s", client[0] if client else "-", path,
                      "-" if code is None else code, ms, requests, user, extra={"fields": fields})


class HttpOperations:
    """Tradovate's name of the operation an HTTP path names (`order/liquidatePosition`, `sim/quote`, `health`), or
    `unknown`: the metrics' label set stays bounded whatever paths clients send."""

    def __init__(self, v1: Operations, root: Operations) -> None:
        self.v1 = v1
        self.root = root
        self.known: dict[str, str] = {}  # path -> name, for the paths seen (bounded: cleared when full)

    def of(self, path: str) -> str:
        found = self.known.get(path)
        if found is None:
            if len(self.known) >= MAX_KNOWN:
                self.known.clear()
            found = self.known[path] = self._name(path)
        return found

    def _name(self, path: str) -> str:
        if path.startswith("/v1/"):
            return self.v1.name(path[4:].strip("/").lower())
        if path.startswith("/"):
            return self.root.name(path[1:].strip("/").lower())
        return UNKNOWN


class Observed:
    """ASGI middleware: every HTTP request counted and timed by operation and status (from its arrival to the end of
    its answer), and logged when the access log is on. WebSockets pass through (the hub observes them)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, operations: HttpOperations, access: AccessLog) -> None:
        self.app = app
        self.metrics = metrics
        self.operations = operations
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app starts an answer

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.request(HTTP, self.operations.of(scope["path"]), status, seconds)
            if self.access.enabled:
                self.access.request(scope, status, seconds)
