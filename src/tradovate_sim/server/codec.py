"""JSON in and out of the server: decoders built once per request type, errors that name the field, and one rule
for every datetime on the wire.

Datetimes go out as Tradovate sends them: UTC, exactly three fractional digits and `Z` (`2026-11-24T15:00:00.452Z`,
`2026-11-24T15:00:00.000Z`), in REST answers, WebSocket replies and events, and `/sim` answers alike. msgspec writes
six digits or none, so `Codec.encode` rewrites the value of every field that a wire shape declares as a datetime (the
names are read from the declarations; a user's text is never touched). Every datetime the server holds is UTC: its
clocks and calendar say UTC, and a client's datetimes are made UTC when decoded (`model.entities.as_utc`).
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeGuard, TypeVar, cast, get_args, get_origin

import msgspec

from tradovate_sim.model.api import Source
from tradovate_sim.model.entities import Wire
from tradovate_sim.service import slices
from tradovate_sim.service.endpoints import Table
from tradovate_sim.service.errors import bad_request, field_message

T = TypeVar("T")

ITEMS = 500  # entities encoded between two turns of the event loop (`Codec.encode_slices`): ~1-2 ms


def is_long(payload: object) -> TypeGuard[list[Any]]:
    """Whether an answer is a list to encode a slice at a time (`Codec.encode_slices`)."""
    return type(payload) is list and len(payload) > ITEMS


def decode_as(raw: bytes, kind: type[T]) -> T:
    """Decode one body into `kind`, or raise a 400 naming the field."""
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as error:
        raise bad_request(field_message(str(error))) from None
    except msgspec.DecodeError as error:
        raise bad_request(f"body: malformed JSON ({error})") from None


def _mentions_datetime(annotation: object) -> bool:
    return annotation is datetime or any(_mentions_datetime(arg) for arg in get_args(annotation))


def time_field_names() -> frozenset[bytes]:
    """The wire names of every datetime field of every wire shape: `Wire` and its subclasses (entities, requests,
    results, market data, the simulator controls' shapes)."""
    shapes: list[type[msgspec.Struct]] = []
    pending: list[type[msgspec.Struct]] = [Wire]
    while pending:
        shape = pending.pop()
        shapes.append(shape)
        pending.extend(shape.__subclasses__())
    return frozenset(field.encode_name.encode() for shape in shapes for field in msgspec.structs.fields(shape)
                     if _mentions_datetime(field.type))


_SECONDS = len(b"2026-11-24T15:00:00")
_MICROS = len(b".452000")
_SHAPE = b"--T::"  # bytes 4, 7, 10, 13 and 16 of "2026-11-24T15:00:00"


def to_wire_times(raw: bytes, names: frozenset[bytes]) -> bytes:
    """`raw` JSON (as msgspec writes it) with each UTC datetime value of a field in `names` written with exactly
    three fractional digits: `...:00Z` becomes `...:00.000Z`, `...:00.452000Z` becomes `...:00.452Z`.

    Finds each `Z"` (a C-speed search: the bytes in between are copied, never looped over in Python), then checks
    that a datetime ends there and that it is the value of a named field, `"name":"` right before it. Inside a JSON
    string every quote is escaped, so no text can look like that."""
    end = raw.find(b'Z"')
    parts: list[bytes] = []
    copied = 0
    while end >= 0:
        micros = end > _SECONDS + _MICROS and raw[end - _MICROS] == 0x2E  # "."
        begin = end - _SECONDS - (_MICROS if micros else 0)
        if begin >= 5 and raw[begin - 3:begin] == b'":"' and raw[begin + 4:begin + 17:3] == _SHAPE \
                and raw[raw.rfind(b'"', 0, begin - 3) + 1:begin - 3] in names:
            cut = end - 3 if micros else end
            parts.append(raw[copied:cut])
            parts.append(b"" if micros else b".000")
            copied = end
        end = raw.find(b'Z"', end + 2)
    if not parts:
        return raw
    parts.append(raw[copied:])
    return b"".join(parts)


def joined(shape: type[msgspec.Struct], encoded: dict[str, list[bytes]]) -> list[bytes]:
    """The JSON of a `shape` (a Struct with `omit_defaults`) whose field values, by attribute name, are in `encoded`
    as JSON already (each as its pieces): msgspec's own bytes for it (its fields in order, under their wire names),
    as pieces, nothing copied. A field left out of `encoded` is left out of the JSON, as a default value is."""
    pieces: list[bytes] = []
    for field in msgspec.structs.fields(shape):
        value = encoded.get(field.name)
        if value is not None:
            pieces.append((b',"' if pieces else b'{"') + field.encode_name.encode() + b'":')
            pieces += value
    pieces.append(b"}" if pieces else b"{}")
    return pieces


class QueryShape:
    """How one query-parameter Struct is read from a query string: its parameters by lower-cased name (matching is
    case-insensitive), and which of them are comma-separated lists."""

    def __init__(self, kind: type[msgspec.Struct]) -> None:
        fields = msgspec.structs.fields(kind)
        self.names = {field.encode_name.lower(): field.encode_name for field in fields}
        self.lists = frozenset(field.encode_name for field in fields if get_origin(_unannotated(field.type)) is list)


def _unannotated(annotation: object) -> object:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


class Codec:
    """Encoder and per-request-type decoders, built once per app from the endpoint table."""

    def __init__(self, table: Table) -> None:
        self.encoder = msgspec.json.Encoder()
        self.time_fields = time_field_names()
        self.decoders: dict[type, msgspec.json.Decoder[Any]] = {
            e.request: msgspec.json.Decoder(e.request) for e in table.values() if e.source is Source.BODY}
        self.queries: dict[type, QueryShape] = {
            e.request: QueryShape(e.request) for e in table.values() if e.source is Source.QUERY}

    def decode(self, request_type: type[T], body: bytes) -> T:
        if not body.strip():
            raise bad_request("body: a JSON object is required")
        try:
            return cast(T, self.decoders[request_type].decode(body))
        except msgspec.ValidationError as error:
            raise bad_request(field_message(str(error))) from None
        except msgspec.DecodeError as error:
            raise bad_request(f"body: malformed JSON ({error})") from None

    def decode_query(self, request_type: type[T], params: Iterable[tuple[str, str]]) -> T:
        """The query string's parameters as `request_type`, or a 400 naming the parameter (lower-cased). Names match
        in any case; unknown parameters are ignored; a list parameter is comma-separated (`ids=1,2,3`)."""
        shape = self.queries[request_type]
        values: dict[str, object] = {}
        for key, value in params:
            name = shape.names.get(key.lower())
            if name is not None:
                values[name] = [p.strip() for p in value.split(",") if p.strip()] if name in shape.lists else value
        try:
            return msgspec.convert(values, request_type, strict=False)
        except msgspec.ValidationError as error:
            message = str(error)
            missing = message.removeprefix("Object missing required field `")
            if missing != message:  # parameters are named lower-cased: their names match in any case
                raise bad_request(f"{missing.rstrip('`').lower()}: query parameter is required") from None
            name, _, text = field_message(message).partition(": ")
            raise bad_request(f"{name.lower()}: {text}") from None

    def encode(self, payload: object) -> bytes:
        """JSON of `payload`, its datetimes in Tradovate's form (see the module's docstring)."""
        return to_wire_times(self.encoder.encode(payload), self.time_fields)

    async def encode_slices(self, items: Sequence[object], slice_items: int | None = None) -> list[bytes]:
        """`encode(items)` as pieces to be joined (`b"".join`), a slice of `slice_items` (default `ITEMS`) encoded at
        a time with a turn of the event loop between slices: the same bytes (each slice's datetimes are rewritten
        alone, and the slices are the list's items)."""
        slice_items = slice_items or ITEMS
        if len(items) <= slice_items:
            return [self.encode(items)]
        pieces = [b"["]
        for start in range(0, len(items), slice_items):
            if start:
                await slices.turn()
                pieces.append(b",")
            pieces.append(self.encode(items[start:start + slice_items])[1:-1])
        pieces.append(b"]")
        return pieces
