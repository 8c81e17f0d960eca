"""One client socket of `/v1/websocket`: its caller, its subscriptions and its outbox; how it is closed."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, cast

from starlette.websockets import WebSocket, WebSocketDisconnect

from tradovate_sim import wire
from tradovate_sim.core.decision import Change
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

FRAGMENT_BYTES = 1 << 18  # a longer message goes out in fragments of about this size, the loop running between them

Finish = Callable[[Sequence[str], int, str, float], bool]
SendPart = Callable[[bytes, bool, bool], Awaitable[None]]


class Pieces:
    """A text message (or an answer's data, `reply`) held as the UTF-8 pieces it was encoded in, a slice at a time:
    sent as fragments without ever being joined whole (a snapshot of thousands of accounts is tens of MB, and each
    copy of it a step of the event loop of ~1 ms a MB), where the server offers `send_part`."""

    __slots__ = ("parts", "size")

    def __init__(self, parts: Sequence[bytes | memoryview]) -> None:
        self.parts = parts
        self.size = sum(map(len, parts))

    def __len__(self) -> int:
        return self.size

    def fragments(self) -> list[tuple[int, int]]:
        """Where each fragment of about `FRAGMENT_BYTES` begins and ends among the pieces (`parts[begin:end]`,
        joined only when it is sent; the last one possibly shorter)."""
        bounds: list[tuple[int, int]] = []
        begin = size = 0
        for end, part in enumerate(self.parts, 1):
            size += len(part)
            if size >= FRAGMENT_BYTES:
                bounds.append((begin, end))
                begin, size = end, 0
        if begin < len(self.parts) or not bounds:
            bounds.append((begin, len(self.parts)))
        return bounds


Frame = str | Pieces
# A commit as the hub delivers it: its changes, whether they may change who sees what, the contracts they touch
Commit = tuple[Sequence[Change], bool, frozenset[int]]


def finisher(socket: WebSocket) -> Finish | None:
    """The ASGI server's `finish` extension (server/protocol.py), if it offers one."""
    extension = (socket.scope.get("extensions") or {}).get(FINISH_EXTENSION) or {}
    finish = extension.get("finish")
    return cast(Finish, finish) if callable(finish) else None


def part_sender(socket: WebSocket) -> SendPart | None:
    """The ASGI server's `send_part` (server/protocol.py: one fragment of a text message), if it offers one."""
    extension = (socket.scope.get("extensions") or {}).get(FINISH_EXTENSION) or {}
    send_part = extension.get("send_part")
    return cast(SendPart, send_part) if callable(send_part) else None


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
        # while its snapshot (or a long query) is made (`Hub.sync_request`), the commits to select afterwards
        self.held: list[Commit] | None = None
        self.quotes: set[int] = set()
        self.doms: set[int] = set()
        self.frames: deque[Frame] = deque()
        self.pending_chars = 0
        self.md_dirty: set[int] = set()
        self.charts: dict[int, ChartFeed] = {}  # by realtimeId
        self.charts_dirty = False
        self.wake = asyncio.Event()
        self.last_received = time.monotonic()
        self.handling = False  # a request of this socket is being answered
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

    def push(self, frame: Frame) -> None:
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
        if isinstance(payload, Pieces):  # JSON in wire form already (a long list, a snapshot): not encoded again
            self.push(Pieces([wire.response_head(request_id, status), *payload.parts, wire.RESPONSE_END]))
        else:
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
                await self.send(frame)
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

    async def send(self, frame: Frame) -> None:
        """One text message; a long one (a snapshot of thousands of accounts) in fragments of about
        `FRAGMENT_BYTES`, each joined, compressed and written in a step of its own, where the server offers
        `send_part`."""
        send_part = part_sender(self.socket) if len(frame) > FRAGMENT_BYTES else None
        if send_part is None:
            await self.socket.send_text(frame if isinstance(frame, str) else b"".join(frame.parts).decode())
            return
        if isinstance(frame, str):
            data = memoryview(frame.encode())
            frame = Pieces([data[start:start + FRAGMENT_BYTES] for start in range(0, len(data), FRAGMENT_BYTES)])
        bounds = frame.fragments()
        try:
            for index, (begin, end) in enumerate(bounds):
                if index:
                    await asyncio.sleep(0)
                await send_part(b"".join(frame.parts[begin:end]), index == 0, index == len(bounds) - 1)
        except OSError:  # uvicorn's ClientDisconnected: gone, as `send_text` says it
            raise WebSocketDisconnect(1006) from None


def close_code(code: int) -> int:
    """A code a close frame may carry."""
    return code if code in (1000, 1001, 1008, 1011) or 3000 <= code < 5000 else 1000


def report_failure(task: "asyncio.Task[None]") -> None:
    """Log a sender that failed other than by the client going away."""
    if not task.cancelled() and (error := task.exception()) is not None and not isinstance(error, WebSocketDisconnect):
        log.error("websocket sender failed", exc_info=error)
