"""uvicorn's protocols, with what ASGI cannot express: a response in one write, and WebSockets always released.

HTTP (`OneWriteHttpProtocol`, uvicorn's httptools protocol): uvicorn writes a response's head and its body in two
`write` calls, so two TCP segments; a client that closes its connection right after reading the head loses the
body. Here the head of a response with a known `content-length` is held back and written together with the first
bytes of the body, in one `write`.

WebSocket (`ReleasingWebSocketProtocol`, uvicorn's sans-I/O `websockets` one):

1. A connection is always released. uvicorn ends a connection with `transport.close()`, which waits for the write
   buffer to drain first: a client that stopped reading keeps it open forever (and a SIGTERM waits for it forever).
   Here every way a connection ends — the application returned, the server shuts down, a keepalive ping went
   unanswered — arms a timer that resets the TCP connection (SO_LINGER 0, abort) if it is still open when it fires.
2. A last word past the backpressure. ASGI's `websocket.send`/`websocket.close` wait until the transport is
   writable, so nothing reaches a client whose buffers are full. The scope carries the extension
   `FINISH_EXTENSION` with a `finish(texts, code, reason, release)` callable: it writes the text frames and a close
   frame behind whatever is already buffered (no waiting), ends the application's receive and the sending side of
   the stream, and resets the connection after `release` seconds if the client has not read it all by then.
3. A long message in fragments. ASGI sends a message whole: its compression (permessage-deflate) and its write are
   one step of the event loop, ~0.1 s for the 29 MB snapshot of 5,000 accounts. The same extension carries
   `send_part(data, first, last)`: one fragment of a text message (a text frame, then continuation frames, FIN on
   the last), each compressed and written alone, waiting for the transport as `websocket.send` does.
"""

import asyncio
import contextlib
import socket
import struct
import weakref
from asyncio import BaseTransport, TimerHandle
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from tradovate_sim.server.connection import FINISH_EXTENSION, RELEASE_SECONDS, SHUTDOWN_RELEASE_SECONDS

LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST and frees the socket at once
JSON_TYPE = (b"content-type", b"application/json")  # the one `content-type` header every API answer carries
_JSON_LINE = b"content-type: application/json\r\n"
_FRAMING = frozenset({b"content-length", b"transfer-encoding", b"connection"})  # headers uvicorn's `send` acts on


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose responses (with a `content-length`) leave in one `write`: each request's
    cycle writes through a `ResponseWriter` instead of the connection's transport."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()  # makes the request's cycle; its task starts on a later loop iteration
        if self.cycle is not previous:  # not an upgrade to a WebSocket
            self.cycle.transport = ResponseWriter(self.transport, self.cycle)


class ResponseWriter(asyncio.Transport):
    """The connection's transport as one request/response cycle sees it. The cycle writes the head when the
    response starts, then each piece of the body: the head of a response with a `content-length` (not to a HEAD
    request, which has no body to wait for) is held and goes out in the same `write` as the body's first bytes
    (uvicorn writes the body even when it is empty). What is held is written before the transport closes (an
    application that fails after starting its response); it is dropped if the client has gone.

    The cycle is referenced weakly: a reference cycle per request would be garbage only the collector frees."""

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        super().__init__()
        self.transport = transport
        self.cycle = weakref.ref(cycle)
        self.head: bytes | None = None
        self.head_seen = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.head is not None:
            data, self.head = self.head + data, None
        elif not self.head_seen and (cycle := self.cycle()) is not None and cycle.response_started:
            self.head_seen = True  # this is the head (a 100 Continue goes before the response starts)
            if cycle.chunked_encoding is False and cycle.scope["method"] != "HEAD":
                self.head = bytes(data)
                return
        self.transport.write(data)

    def flush(self) -> None:
        if self.head is not None:
            head, self.head = self.head, None
            self.transport.write(head)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)


class DefaultHead:
    """The server's default headers (`date`, `server`) as uvicorn writes them, kept until uvicorn replaces its list
    (each second, for the date). Checked once per list with uvicorn's own patterns: a header it would refuse is
    never written from here (`whole` leaves the answer to uvicorn's `send`)."""

    __slots__ = ("headers", "lines")

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.lines: bytes | None = None

    def of(self, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        if headers is not self.headers:
            self.headers = headers  # held, so that its id is never another list's
            valid = not any(HEADER_RE.search(name) or HEADER_VALUE_RE.search(value) or name.lower() in _FRAMING
                            for name, value in headers)
            self.lines = b"".join(b"%s: %s\r\n" % (name.lower(), value) for name, value in headers) if valid else None
        return self.lines


_DEFAULT_HEAD = DefaultHead()


def whole(send: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes | memoryview) -> bool:
    """Answer a JSON response (`headers`: `content-length`, then `JSON_TYPE`) in one `write` straight to the
    connection's transport, with the bytes and the cycle's state uvicorn's two `send` calls would produce (default
    headers, the two given, `connection: close` when the connection does not stay open; then the body): the same
    answer without two ASGI messages, two coroutines, the per-header pattern checks and the held head. False (and
    nothing done) unless `send` is a `OneWriteHttpProtocol` cycle's, ready to answer now (no response started, the
    client there, writing not paused, uvicorn's access log off, not a HEAD request) and the headers are those two:
    the caller then uses `send`."""
    cycle = getattr(send, "__self__", None)
    if type(cycle) is not RequestResponseCycle or len(headers) != 2 or headers[1] is not JSON_TYPE:
        return False
    writer = cycle.transport
    if (type(writer) is not ResponseWriter or cycle.response_started or cycle.disconnected or cycle.access_log
            or cycle.flow.write_paused or writer.head_seen or cycle.scope["method"] == "HEAD"):
        return False
    name, length = headers[0]
    lines = _DEFAULT_HEAD.of(cycle.default_headers)
    if lines is None or name != b"content-length" or length != b"%d" % len(body) or type(body) is not bytes:
        return False
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.chunked_encoding = False
    writer.head_seen = True
    close = b"" if cycle.keep_alive else b"connection: close\r\n"
    writer.transport.write(b"%s%scontent-length: %s\r\n%s%s\r\n%s" % (
        STATUS_LINE[status], lines, length, _JSON_LINE, close, body))
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        writer.close()
    cycle.on_response()
    return True


class ReleasingWebSocketProtocol(WebSocketsSansIOProtocol):
    """`WebSocketsSansIOProtocol` whose connections end within a bound even when the client does not read."""

    release_timer: TimerHandle | None = None
    release_at: float = 0.0
    eof_written = False  # by `finish`: the transport refuses any further write

    def connection_made(self, transport: BaseTransport) -> None:
        upgraded_from = transport.get_protocol()
        super().connection_made(transport)
        # uvicorn's HTTP protocol hands its transport over here and is dropped, but its parser holds its callbacks
        # (bound methods), so the two keep each other (and the request's buffers) alive until a full collection.
        # Nothing uses that parser after the upgrade: cut the cycle so refcounting frees them.
        if upgraded_from is not self and getattr(upgraded_from, "parser", None) is not None:
            upgraded_from.parser = None  # type: ignore[attr-defined]

    async def run_asgi(self) -> None:
        extensions = self.scope.get("extensions")
        if extensions is not None:
            extensions[FINISH_EXTENSION] = {"finish": self.finish, "send_part": self.send_part}
        try:
            await super().run_asgi()
        finally:
            if extensions is not None:  # the scope held `self.finish`: a cycle that kept every connection alive
                extensions.pop(FINISH_EXTENSION, None)
            self.release_later(RELEASE_SECONDS)  # the application is done with it

    def shutdown(self) -> None:
        super().shutdown()
        self.release_later(SHUTDOWN_RELEASE_SECONDS)

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.release_later(RELEASE_SECONDS)

    def handle_ping(self) -> None:
        if self.eof_written:
            self.conn.data_to_send()  # no pong after our close frame
            return
        super().handle_ping()

    def handle_parser_exception(self) -> None:
        if self.eof_written:
            self.conn.data_to_send()
            self.transport.close()
            return
        super().handle_parser_exception()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.release_timer is not None:
            self.release_timer.cancel()
            self.release_timer = None
        super().connection_lost(exc)
        self.conn.parser.close()  # the sans-I/O parser is a generator holding its protocol: a cycle; no data follows

    def finish(self, texts: Sequence[str], code: int, reason: str, release: float) -> bool:
        """Write `texts` and a close frame now and end the sending side (FIN once the client has read them); reset
        the connection after `release` seconds if it is still open. False when already closing (nothing written).

        Reading goes on (and is discarded) until then: closing a socket with unread input would send a reset, and a
        reset can destroy what the client has not read yet."""
        if self.disconnected or self.close_sent or self.transport.is_closing() or self.conn.state is not State.OPEN:
            self.release_later(release)
            return False
        if not self.conn.expect_continuation_frame:  # (in the middle of a fragmented message: the close alone)
            for text in texts:
                self.conn.send_text(text.encode())
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.eof_written = True
        else:
            self.transport.close()
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        # uvicorn closes the transport when the application returns unless a close timer runs; the client's close
        # frame (or its end of the stream) closes it before this one fires
        self.close_timer = self.loop.call_later(release, self.release)
        self.release_later(release)
        return True

    async def send_part(self, data: bytes | memoryview, first: bool, last: bool) -> None:
        """Write one fragment of a text message: the first as a text frame, the next ones as continuation frames, FIN
        on the `last`; waits while the transport's buffer is full, as `websocket.send` does. `ClientDisconnected`
        when the connection is gone or closing."""
        await self.writable.wait()
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        if first:
            self.conn.send_text(data, fin=last)
        else:
            self.conn.send_continuation(data, fin=last)
        self.transport.write(b"".join(self.conn.data_to_send()))

    def release_later(self, delay: float) -> None:
        """Reset the connection in `delay` seconds unless it ends before (an earlier deadline wins)."""
        if self.disconnected:
            return
        at = self.loop.time() + delay
        if self.release_timer is not None and not self.release_timer.cancelled():
            if self.release_at <= at:
                return
            self.release_timer.cancel()
        self.release_at = at
        self.release_timer = self.loop.call_later(delay, self.release)

    def release(self) -> None:
        self.release_timer = None
        if self.disconnected:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:  # without it the abort still frees our side; the kernel may keep the connection a while
            with contextlib.suppress(OSError, AttributeError, TypeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        self.transport.abort()
