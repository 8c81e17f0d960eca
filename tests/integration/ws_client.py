"""A small Tradovate WebSocket client for the integration tests, over the `websockets` library.

It speaks the wire protocol only: sends `endpoint\\nid\\nquery\\nbody`, parses the server's `o` / `h` / `a[...]` /
`c[code,"reason"]` frames, and keeps everything it received (with arrival times) so that a test can wait for a reply
by id, for an event, or for the close. Nothing here imports the server's code.
"""

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

JSON = dict[str, Any]


@dataclass
class Frame:
    """One text frame from the server."""

    kind: str  # "o", "h", "a", "c", or "?" for anything else
    raw: str
    at: float  # time.monotonic() on arrival
    items: list[Any] = field(default_factory=list)  # the messages of an `a` frame; [code, reason] of a `c` frame


@dataclass
class Event:
    """One `{"e": ..., "d": ...}` message, with the index of the frame it came in."""

    kind: str  # "props", "md", "shutdown", ...
    data: Any
    at: float
    frame: int


def ws_url(base_url: str, path: str = "/v1/websocket") -> str:
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{path}"


def parse(raw: str, at: float) -> Frame:
    kind = raw[:1]
    if kind in ("o", "h") and len(raw) == 1:
        return Frame(kind, raw, at)
    if kind in ("a", "c"):
        with contextlib.suppress(ValueError):
            items = json.loads(raw[1:])
            if isinstance(items, list):
                return Frame(kind, raw, at, items)
    return Frame("?", raw, at)


class WsClient:
    """One socket. Open with `await WsClient.open(base_url)`; reads in the background unless `read=False`."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.frames: list[Frame] = []
        self.events: list[Event] = []
        self.replies: dict[Any, list[JSON]] = {}  # by the reply's `i` (None for replies without an id)
        self.close_frame: tuple[int, str] | None = None  # the server's `c[code,"reason"]`
        self.ended = False  # the connection itself is closed
        self.next_id = 1
        self.changed = asyncio.Condition()
        self.reader: asyncio.Task[None] | None = None
        self.beater: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, base_url: str, *, path: str = "/v1/websocket", read: bool = True,
                   max_queue: int | None = None, receive_buffer: int | None = None) -> "WsClient":
        """Connect. `read=False` leaves the socket unread until `start_reading()`; `max_queue` bounds the frames
        the library buffers (it stops reading the TCP stream when full) and `receive_buffer` sets SO_RCVBUF, so a
        client that does not read pushes back on the server quickly."""
        options: dict[str, Any] = {"open_timeout": 10, "ping_interval": None, "max_size": 1 << 24}
        if max_queue is not None:
            options["max_queue"] = max_queue
        if receive_buffer is not None:
            parts = urlsplit(base_url)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
            options["sock"] = sock
        connection = await connect(ws_url(base_url, path), **options)
        client = cls(connection)
        if read:
            client.start_reading()
        return client

    # --- receiving -------------------------------------------------------------------------------------------------

    def start_reading(self) -> None:
        if self.reader is None:
            self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.connection:
                raw = message if isinstance(message, str) else message.decode("utf-8", errors="replace")
                await self._received(parse(raw, time.monotonic()))
        except ConnectionClosed:
            pass
        finally:
            async with self.changed:
                self.ended = True
                self.changed.notify_all()

    async def _received(self, frame: Frame) -> None:
        async with self.changed:
            index = len(self.frames)
            self.frames.append(frame)
            if frame.kind == "a":
                for item in frame.items:
                    if isinstance(item, dict) and "e" in item:
                        self.events.append(Event(str(item["e"]), item.get("d"), frame.at, index))
                    elif isinstance(item, dict):
                        self.replies.setdefault(item.get("i"), []).append(item)
            elif frame.kind == "c" and len(frame.items) >= 2:
                self.close_frame = (int(frame.items[0]), str(frame.items[1]))
            self.changed.notify_all()

    async def wait_until(self, condition: Callable[[], bool], within: float = 5.0, what: str = "condition") -> None:
        """Wait until `condition()` (evaluated on every frame received) holds."""
        try:
            async with self.changed:
                await asyncio.wait_for(self.changed.wait_for(condition), within)
        except TimeoutError:
            raise AssertionError(f"timed out after {within} s waiting for {what}; last frames: "
                                 f"{[f.raw[:200] for f in self.frames[-5:]]}") from None

    async def reply(self, request_id: Any, within: float = 5.0) -> JSON:
        """The (first) reply carrying `request_id`."""
        await self.wait_until(lambda: request_id in self.replies or self.ended, within, f"reply {request_id}")
        if request_id not in self.replies:
            raise AssertionError(f"connection ended before reply {request_id}; close frame {self.close_frame}")
        return self.replies[request_id][0]

    async def event(self, match: Callable[[Event], bool], within: float = 5.0, start: int = 0) -> Event:
        """The first event from index `start` on that matches."""
        found: list[Event] = []

        def seen() -> bool:
            found[:] = [e for e in self.events[start:] if match(e)][:1]
            return bool(found)

        await self.wait_until(seen, within, "an event")
        return found[0]

    async def closed(self, within: float = 5.0) -> tuple[int, str] | None:
        """Wait for the connection to end; the server's `c` frame, if it sent one."""
        await self.wait_until(lambda: self.ended, within, "the connection to close")
        return self.close_frame

    def props(self, start: int = 0) -> list[JSON]:
        """The `d` of every props event (entityType, eventType, entity) from event index `start` on."""
        return [e.data for e in self.events[start:] if e.kind == "props"]

    def md(self, start: int = 0) -> list[JSON]:
        return [e.data for e in self.events[start:] if e.kind == "md"]

    def kinds(self) -> list[str]:
        return [f.kind for f in self.frames]

    # --- sending ---------------------------------------------------------------------------------------------------

    async def send(self, text: str | bytes) -> None:
        await self.connection.send(text)

    def new_id(self) -> int:
        request_id = self.next_id
        self.next_id += 1
        return request_id

    async def post(self, endpoint: str, body: object = None, query: str = "", request_id: int | None = None) -> int:
        """Send one request without waiting; the id used."""
        request_id = self.new_id() if request_id is None else request_id
        text = body if isinstance(body, str) else "" if body is None else json.dumps(body)
        await self.send(f"{endpoint}\n{request_id}\n{query}\n{text}")
        return request_id

    async def request(self, endpoint: str, body: object = None, query: str = "", within: float = 5.0) -> JSON:
        """Send one request and wait for its reply `{"s", "i", "d"?}`."""
        return await self.reply(await self.post(endpoint, body, query), within)

    async def call(self, endpoint: str, body: object = None, query: str = "", within: float = 5.0) -> Any:
        """A request that must answer 200; its `d`."""
        answer = await self.request(endpoint, body, query, within)
        assert answer.get("s") == 200, f"{endpoint}: {answer}"
        return answer.get("d")

    async def authorize(self, token: str, within: float = 5.0) -> JSON:
        await self.send(f"authorize\n0\n\n{token}")
        return await self.reply(0, within)

    async def sync(self, body: JSON | None = None, within: float = 10.0) -> JSON:
        """`user/syncrequest`; the snapshot."""
        result: JSON = await self.call("user/syncrequest", body if body is not None else {"splitResponses": False},
                                       within=within)
        return result

    def start_heartbeat(self, interval: float = 1.0) -> None:
        """Send the client heartbeat `[]` every `interval` seconds."""
        async def beat() -> None:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await asyncio.sleep(interval)
                    await self.send("[]")

        if self.beater is None:
            self.beater = asyncio.create_task(beat())

    async def close(self) -> None:
        if self.beater is not None:
            self.beater.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.connection.close(), 2)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(BaseException):
                await self.reader

    async def __aenter__(self) -> "WsClient":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


async def authorized(base_url: str, token: str, **options: Any) -> WsClient:
    """A socket that has been opened and authorized (the reply checked)."""
    client = await WsClient.open(base_url, **options)
    answer = await client.authorize(token)
    assert answer == {"s": 200, "i": 0}, answer
    return client


def rebuild(snapshot: JSON, events: list[JSON], plural: dict[str, str]) -> dict[str, dict[int, JSON]]:
    """State from a syncrequest snapshot plus the props events after it: {entityType: {id: entity}}, for the entity
    types named in `plural` (entityType -> the snapshot's collection name)."""
    state: dict[str, dict[int, JSON]] = {kind: {e["id"]: e for e in snapshot.get(name) or []}
                                         for kind, name in plural.items()}
    for event in events:
        rows = state.get(event["entityType"])
        if rows is None:
            continue
        entity = event["entity"]
        if event["eventType"] == "Deleted":
            rows.pop(entity["id"], None)
        else:
            rows[entity["id"]] = entity
    return state


class RawSocket:
    """A WebSocket client over a plain blocking socket, for a client that does not read: nothing buffers on this
    side beyond the kernel's (small) receive buffer until `read_frames` is called."""

    def __init__(self, base_url: str, path: str = "/v1/websocket", receive_buffer: int = 4096) -> None:
        parts = urlsplit(base_url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(10)
        self.sock.connect((parts.hostname, parts.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head
        self.pending = b""
        self.end = "open"  # after read_frames: "eof" (the server closed), "reset", or still "open"

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def read_frames(self, quiet: float = 0.5) -> list[str]:
        """Read everything until nothing arrives for `quiet` seconds or the connection ends; the text messages
        (a close frame as `CLOSE <code>`)."""
        self.sock.settimeout(quiet)
        data = bytearray(self.pending)
        try:
            while chunk := self.sock.recv(1 << 20):
                data += chunk
            self.end = "eof"
        except TimeoutError:
            pass
        except ConnectionError:
            self.end = "reset"
        messages: list[str] = []
        at = 0
        while len(data) - at >= 2:
            opcode, length, start = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
            if length == 126:
                (length,), start = struct.unpack_from("!H", data, at + 2), at + 4
            elif length == 127:
                (length,), start = struct.unpack_from("!Q", data, at + 2), at + 10
            if len(data) < start + length:
                break
            payload = bytes(data[start:start + length])
            at = start + length
            if opcode == 0x1:
                messages.append(payload.decode())
            elif opcode == 0x8:
                messages.append(f"CLOSE {struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else 1005}")
        self.pending = bytes(data[at:])
        return messages

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


Opener = Callable[[str], Awaitable[WsClient]]  # opens an authorized socket with a token (the `ws` fixture)
