"""The sans-I/O half of the client: how an operation of `model/api.py` becomes an HTTP request or a socket frame,
and how an answer becomes its typed result. No I/O here: `Tradovate`, `AsyncTradovate` and the socket send what
these functions build and hand back what they received.

Results are decoded from plain JSON values, so an HTTP body and a socket reply's `d` go through the same code.
A result declared as a union of Structs (`PlaceOrderResult | Violations`) is read as the alternative whose fields the
answer carries (msgspec decodes untagged unions of Structs one member at a time).
"""

from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import msgspec

from tradovate_sim import wire
from tradovate_sim.client.errors import ProtocolError, TradovateError, status_error
from tradovate_sim.model.api import Operation, Served, Source
from tradovate_sim.model.results import PenaltyTicket

Req = TypeVar("Req")
Res = TypeVar("Res")
JSON = "application/json"
TICKET = "p-ticket"

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class HttpRequest(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    path: str
    params: list[tuple[str, str]] = []
    content: bytes | None = None
    headers: dict[str, str] = {}


class HttpAnswer(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    content: bytes


class Sleep(msgspec.Struct, frozen=True):
    """Wait this long before the next request (a penalty ticket's `p-time`)."""

    seconds: float


def path_of(operation: Operation[Any, Any]) -> str:
    match operation.served:
        case Served.API:
            return f"/v1/{operation.name}"
        case Served.SIMULATOR:
            return f"/sim/{operation.name}"
        case Served.SOCKET:
            raise TradovateError(f"{operation.name} is served over the WebSocket only")


def body_of(request: object, ticket: str | None = None) -> bytes:
    """The JSON body; with `ticket`, the same body carrying `"p-ticket"` (how a penalized request is sent again)."""
    if ticket is None:
        return _encode(request)
    data = msgspec.to_builtins(request)
    if not isinstance(data, dict):
        raise TradovateError("a penalty ticket can only be added to a JSON object body")
    return _encode({**data, TICKET: ticket})


def query_of(request: object) -> list[tuple[str, str]]:
    """A query-parameter Struct as parameters: lists comma-separated, booleans `true`/`false`, None left out."""
    data = msgspec.to_builtins(request)
    if not isinstance(data, dict):
        raise TradovateError("query parameters must be a Struct")
    return [(name, _parameter(value)) for name, value in data.items() if value is not None]


def _parameter(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_parameter(item) for item in value)
    return str(value)


def http_request(operation: Operation[Req, Any], request: Req, token: str | None,
                 ticket: str | None = None) -> HttpRequest:
    headers = {"Accept": JSON}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    path = path_of(operation)
    match operation.source:
        case Source.BODY:
            headers["Content-Type"] = JSON
            return HttpRequest(method=operation.method, path=path, content=body_of(request, ticket), headers=headers)
        case Source.QUERY:
            return HttpRequest(method=operation.method, path=path, params=query_of(request), headers=headers)
        case Source.NONE:
            return HttpRequest(method=operation.method, path=path, headers=headers)
        case Source.TEXT:
            raise TradovateError(f"{operation.name} is served over the WebSocket only")


def socket_request(operation: Operation[Req, Any], request: Req, request_id: int, ticket: str | None = None) -> str:
    """`endpoint\\nid\\nquery\\nbody` for any operation but the simulator's."""
    if operation.served is Served.SIMULATOR:
        raise TradovateError(f"/sim/{operation.name} is served over HTTP only")
    match operation.source:
        case Source.BODY:
            return wire.build_request(operation.name, request_id, body=body_of(request, ticket).decode())
        case Source.QUERY:
            return wire.build_request(operation.name, request_id, query=urlencode(query_of(request)))
        case Source.NONE:
            return wire.build_request(operation.name, request_id)
        case Source.TEXT:
            return wire.build_request(operation.name, request_id, body=str(request))


# --- answers ---------------------------------------------------------------------------------------------------------


def json_of(operation: Operation[Any, Any], content: bytes) -> object:
    """The JSON value of a body; a `ProtocolError` for anything else."""
    if not content.strip():
        return None
    try:
        return _decode(content)
    except msgspec.DecodeError:
        text = content[:120].decode(errors="replace")
        raise ProtocolError(f"{operation.name}: the answer is not JSON: {text!r}") from None


def message_of(data: object, content: bytes) -> str:
    """The server's message: the `errorText` of a JSON object, the JSON string, or the text."""
    if isinstance(data, dict):
        text = data.get("errorText")
        return str(text) if text is not None else content.decode(errors="replace")[:500]
    if isinstance(data, str):
        return data
    return content.decode(errors="replace")[:500]


def answer_of(operation: Operation[Any, Res], answer: HttpAnswer) -> Res | PenaltyTicket:
    """The result of an HTTP answer, or its penalty ticket; a `StatusError` for a status other than 200."""
    if answer.status != 200:
        try:
            data = _decode(answer.content) if answer.content.strip() else None
        except msgspec.DecodeError:
            data = None
        raise status_error(operation.name, answer.status, message_of(data, answer.content))
    return result_of(operation, json_of(operation, answer.content))


def reply_of(operation: Operation[Any, Res], status: int, data: object) -> Res | PenaltyTicket:
    """The result of a socket reply (`s`, `d`)."""
    if status != 200:
        raise status_error(operation.name, status, data if isinstance(data, str) else message_of(data, b""))
    return result_of(operation, data)


def result_of(operation: Operation[Any, Res], data: object) -> Res | PenaltyTicket:
    """Plain JSON as the operation's result (or a penalty ticket); a `ProtocolError` when it is not that shape."""
    if isinstance(data, dict) and TICKET in data:
        ticket: PenaltyTicket = _convert(operation, data, PenaltyTicket)
        return ticket
    alternatives = operation.result.alternatives
    if alternatives == (None,):  # a reply without data: the result type is None
        return None  # type: ignore[return-value]
    result: Res = _convert(operation, data, _pick(alternatives, data))
    return result


def _pick(alternatives: Sequence[object], data: object) -> object:
    """The alternative whose fields `data` carries: every required field present, most fields matched."""
    if len(alternatives) == 1 or not isinstance(data, dict):
        return alternatives[0]
    best, score = alternatives[0], -1
    for alternative in alternatives:
        if not (isinstance(alternative, type) and issubclass(alternative, msgspec.Struct)):
            continue
        fields = msgspec.structs.fields(alternative)
        if any(f.required and f.encode_name not in data for f in fields):
            continue
        matched = sum(f.encode_name in data for f in fields)
        if matched > score:
            best, score = alternative, matched
    return best


def _convert(operation: Operation[Any, Any], data: object, kind: Any) -> Any:
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as error:
        raise ProtocolError(f"{operation.name}: unexpected answer ({error})") from None
