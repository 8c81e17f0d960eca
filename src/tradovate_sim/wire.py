"""Tradovate's WebSocket frames, shared by the server and the client (needs msgspec only).

Server to client, SockJS-style: `o` (open), `h` (heartbeat), `a[...]` (messages: responses `{"s","i","d"}` and
events `{"e","d"}`), `c[code,"reason"]` (close). Client to server: a request `endpoint\\nid\\nquery\\nbody` (query
and body may be empty) or the heartbeat `[]`.

Encoding takes an `encode` function (object -> JSON bytes) so the server can pass its codec (which writes every
datetime as Tradovate does); the default is msgspec's.
"""

from collections.abc import Callable, Sequence

import msgspec

OPEN = "o"
HEARTBEAT = "h"
CLIENT_HEARTBEAT = "[]"
MAX_REQUEST_ID = 10**19 - 1  # at most 19 digits

Encode = Callable[[object], bytes]


class FrameError(ValueError):
    """A frame that does not follow the protocol; its message says what is wrong."""


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """A client's request: `endpoint\\nid\\nquery\\nbody`."""

    endpoint: str
    id: int
    query: str = ""
    body: str = ""


class Response(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The answer to request `i` (`None` when the request's id could not be read): status `s` and data `d` (omitted
    when there is none)."""

    s: int
    i: int | None
    d: object = None


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """A server event: `props`, `md`, `chart`, `shutdown`, `clock`..."""

    e: str
    d: object


Message = Response | Event


class Messages(msgspec.Struct, frozen=True):
    """A decoded `a[...]` frame."""

    items: list[Message]


class Open(msgspec.Struct, frozen=True):
    """A decoded `o` frame."""


class Heartbeat(msgspec.Struct, frozen=True):
    """A decoded `h` frame."""


class Close(msgspec.Struct, frozen=True):
    """A decoded `c[code,"reason"]` frame."""

    code: int
    reason: str


Frame = Open | Heartbeat | Messages | Close


class _AnyMessage(msgspec.Struct, frozen=True):
    s: int | None = None
    i: int | None = None
    e: str | None = None
    d: object = None


_decode_messages = msgspec.json.Decoder(list[_AnyMessage]).decode
_decode_close = msgspec.json.Decoder(tuple[int, str]).decode
_default_encode = msgspec.json.Encoder().encode


# --- requests (client -> server) ------------------------------------------------------------------------------------


def build_request(endpoint: str, request_id: int, query: str = "", body: str = "") -> str:
    """`endpoint\\nid\\nquery\\nbody`."""
    if "\n" in endpoint or not 0 <= request_id <= MAX_REQUEST_ID or "\n" in query:
        raise FrameError("endpoint and query are one line each; the id is 0 to 19 digits")
    return f"{endpoint}\n{request_id}\n{query}\n{body}"


def parse_request(text: str) -> Request:
    """The request a frame carries; `FrameError` for a malformed one. (A heartbeat `[]` is not a request: check
    `is_heartbeat` first.)"""
    parts = text.split("\n", 3)
    if len(parts) < 2:
        raise FrameError("Malformed frame: expected endpoint\\nid\\nquery\\nbody")
    raw_id = parts[1].strip()
    if not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 19:
        raise FrameError(f"Malformed request id {raw_id[:32]!r}")
    return Request(endpoint=parts[0].strip(), id=int(raw_id), query=parts[2] if len(parts) > 2 else "",
                   body=parts[3] if len(parts) > 3 else "")


def is_heartbeat(text: str) -> bool:
    return text.strip() == CLIENT_HEARTBEAT


# --- frames (server -> client) --------------------------------------------------------------------------------------


def messages_frame(messages: Sequence[Message], encode: Encode = _default_encode) -> str:
    """`a[...]`."""
    return "a" + encode(list(messages)).decode()


def response_frame(request_id: int | None, status: int, data: object = None, encode: Encode = _default_encode) -> str:
    """`a[{"s":status,"i":id,"d":data}]` (no `d` when `data` is None)."""
    return messages_frame([Response(s=status, i=request_id, d=data)], encode)


def response_head(request_id: int | None, status: int) -> bytes:
    """The start of `response_frame`'s frame, up to its data: `a[{"s":status,"i":id,"d":` (`RESPONSE_END` ends it), to
    send data that is JSON already (a long answer, encoded a slice at a time) without encoding it again."""
    head = _default_encode(Response(s=status, i=request_id))  # {"s":...,"i":...} (no `d`)
    return b"a[" + head[:-1] + b',"d":'


RESPONSE_END = b"}]"


def event_frame(name: str, data: object, encode: Encode = _default_encode) -> str:
    """`a[{"e":name,"d":data}]`."""
    return messages_frame([Event(e=name, d=data)], encode)


def close_frame(code: int, reason: str, encode: Encode = _default_encode) -> str:
    """`c[code,"reason"]`."""
    return "c" + encode([code, reason]).decode()


def parse_frame(text: str) -> Frame:
    """A server frame, its messages' `d` as plain JSON values (convert them with `msgspec.convert`); `FrameError`
    for anything else."""
    kind, payload = text[:1], text[1:]
    try:
        match kind:
            case "o" if not payload:
                return Open()
            case "h" if not payload:
                return Heartbeat()
            case "a":
                return Messages([_message(m) for m in _decode_messages(payload)])
            case "c":
                code, reason = _decode_close(payload)
                return Close(code, reason)
    except msgspec.DecodeError as error:  # ValidationError is one
        raise FrameError(f"Malformed {kind!r} frame: {error}") from None
    raise FrameError(f"Unknown frame {text[:32]!r}")


def _message(raw: _AnyMessage) -> Message:
    if raw.e is not None:
        return Event(e=raw.e, d=raw.d)
    if raw.s is None:
        raise FrameError("Malformed message: neither `s` nor `e`")
    return Response(s=raw.s, i=raw.i, d=raw.d)
