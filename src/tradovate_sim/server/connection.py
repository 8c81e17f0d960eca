"""One client socket of `/v1/websocket`: its caller, its subscriptions and its outbox; how it is closed."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from starlette.websockets import WebSocket, WebSocketDisconnect

from tradovate_sim import wire
from tradovate_sim.core.view import Caller
from tradovate_sim.service.chart import ChartFeed
from tradovate_sim.service.sync import Subscription

if TYPE_CHECKING:
    from tradovate_sim.server.websocket import Hub

log = logging.getLogger("tradovate_sim.websocket")

HEARTBEAT_SECONDS = 2.5
MAX_PENDING_FRAMES = 10_000  # a client that lets more pile up is told `c[1008,...]` and dropped
MAX_PENDING_CHARS = 64 << 20  # likewise for 64 Mi characters of queued text (one larger frame alone is let through)
CLOSE_FLUSH_SECONDS = 2.0  # a closing socket's queued frames get this long to go out; then the close is forced
SHUTDOWN_FLUSH_SECONDS = 1.0  # the same on server shutdown
RELEASE_SECONDS = 5.0  # after the close frame, a connection the client has not drained is reset
SHUTDOWN_RELEASE_SECONDS = 1.0  # the same on server shutdown
MAX_SOCKETS_PER_USER = 50
MAX_CHARTS_PER_SOCKET = 100
FINISH_EXTENSION = "tradovate_sim.finish"  # scope extension of server/protocol.py: a close past the backpressure
TOO_SLOW = (1008, "Client too slow: outbound buffer full")
SESSION_ENDED = (4401, "Session ended")

Finish = Callable[[Sequence[str], int, str, float], bool]


def finisher(socket: WebSocket) -> Finish | None:
    """The ASGI server's `finish` extension (server/protocol.py), if it offers one."""
    extension = (socket.scope.get("extensions") or {}).get(FINISH_EXTENSION) or {}
    finish = extension.get("finish")
    return cast(Finish, finish) if callable(finish) else None


class Connection:
    """One client socket: its caller, its subscriptions and its outbox.

    Closing: `close()` lets the sender send what is queued, then the goodbye (an optional notice such as the
    `shutdown` event, then `c[code,"reason"]`) and the close frame. When that has not happened within the flush
    bound, or at once when the outbox overflows, `force()` drops the queue and writes the goodbye and the close frame
    behind whatever the transport already holds; the connection is reset if the client has not read it all within
    the release bound."""

    def __init__(self, hub: "Hub", socket: WebSocket) -> None:
        self.hub = hub
        self.socket = socket
        self.caller: Caller | None = None
        self.subscription: Subscription | None = None
        self.quotes: set[int] = set()
        self.doms: set[int] = set()
        self.frames: deque[str] = deque()
        self.pending_chars = 0
        self.md_dirty: set[int] = set()
        self.charts: dict[int, ChartFeed] = {}  # by realtimeId
        self.charts_dirty = False
        self.wake = asyncio.Event()
        self.last_received = time.monotonic()
        self.last_sent = time.monotonic()
        self.closing: tuple[int, str] | None = None
        self.goodbye: deque[str] = deque()  # what is still to be said before the close frame
        self.release = RELEASE_SECONDS
        self.deadline: asyncio.TimerHandle | None = None
        self.finished = False  # the close frame is out (or the client is gone): nothing more is sent
        self.opened = time.monotonic()
        self.sender_task: asyncio.Task[None] | None = None
        self.requests = 0  # requests received (heartbeats aside), for the access log
        self.status = 0  # the status of the last reply, for the metrics
        self.client_code: int | None = None  # the close code the client sent, when it closed first
        self.after_reply: list[Callable[[], None]] = []  # what follows the next reply (a chart's history, a close)

    def push(self, frame: str) -> None:
        if self.closing:
            return
        if self.frames and (len(self.frames) >= MAX_PENDING_FRAMES
                            or self.pending_chars + len(frame) > MAX_PENDING_CHARS):
            self.close(*TOO_SLOW)
            self.force()
            return
        self.frames.append(frame)
        self.pending_chars += len(frame)
        self.wake.set()

    def reply(self, request_id: int | None, status: int, payload: object = None) -> None:
        """`a[{"s","i","d"}]` (no `d` when `payload` is None), then what the handler left to follow it."""
        self.status = status
        self.push(wire.response_frame(request_id, status, payload, self.hub.codec.encode))
        follow, self.after_reply = self.after_reply, []
        for then in follow:
            then()

    def close(self, code: int, reason: str, notice: str | None = None, *, flush: float = CLOSE_FLUSH_SECONDS,
              release: float = RELEASE_SECONDS) -> None:
        """Close after what is queued: `notice` (a frame), `c[code,"reason"]`, the close frame; forced after `flush`
        seconds."""
        if self.closing is not None:
            return
        self.closing = (code, reason)
        if notice is not None:
            self.goodbye.append(notice)
        self.goodbye.append(wire.close_frame(code, reason, self.hub.codec.encode))
        self.release = release
        self.deadline = asyncio.get_running_loop().call_later(flush, self.force)
        self.wake.set()

    def force(self) -> None:
        """Drop what is queued; write the goodbye and the close frame past the backpressure (see `close`)."""
        if self.finished:
            return
        self.finished = True
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if self.sender_task is not None:
            self.sender_task.cancel()  # it may be stuck writing to a client that does not read
        self.frames.clear()
        self.pending_chars = 0
        code, reason = self.closing or (1000, "Closed")
        finish = finisher(self.socket)
        if finish is not None:
            finish(list(self.goodbye), close_code(code), reason[:120], self.release)
        self.goodbye.clear()

    def gone(self) -> None:
        """The client disconnected: nothing more is sent."""
        self.finished = True
        if self.deadline is not None:
            self.deadline.cancel()

    def sender_done(self, task: "asyncio.Task[None]") -> None:
        """Log a sender that failed other than by the client going away; forget the task, whose exception's traceback
        holds this connection (a cycle that would keep every closed connection alive until a full collection)."""
        self.sender_task = None
        report_failure(task)

    async def sender(self) -> None:
        """Send frames in order; market data coalesced to the latest quote per contract; then the goodbye."""
        socket = self.socket
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.frames:
                frame = self.frames.popleft()
                self.pending_chars -= len(frame)
                await socket.send_text(frame)
                self.last_sent = time.monotonic()
            if self.closing is not None:
                break
            if self.md_dirty:
                dirty, self.md_dirty = self.md_dirty, set()
                market = self.hub.market_frame(self, dirty)
                if market:
                    await socket.send_text(market)
                    self.last_sent = time.monotonic()
            if self.charts_dirty and not self.frames:  # never ahead of a getChart reply and its history
                self.charts_dirty = False
                chart = self.hub.chart_frame(self)
                if chart:
                    await socket.send_text(chart)
                    self.last_sent = time.monotonic()
        while self.goodbye:
            await socket.send_text(self.goodbye[0])
            self.goodbye.popleft()
        code, reason = self.closing
        await socket.close(code=close_code(code), reason=reason[:120])
        self.finished = True
        if self.deadline is not None:
            self.deadline.cancel()


def close_code(code: int) -> int:
    """A code a close frame may carry."""
    return code if code in (1000, 1001, 1008, 1011) or 3000 <= code < 5000 else 1000


def report_failure(task: "asyncio.Task[None]") -> None:
    """Log a sender that failed other than by the client going away."""
    if not task.cancelled() and (error := task.exception()) is not None and not isinstance(error, WebSocketDisconnect):
        log.error("websocket sender failed", exc_info=error)
