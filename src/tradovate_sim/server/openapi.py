"""The OpenAPI 3.1 document of this server, built from the endpoint table (`model/api.py`) and the model's Structs
through msgspec's JSON schema: no shape is written here a second time, so an operation added to the table appears in
the document with no edit of this module.

`document` is pure (operations in, a JSON-able dict out); the app builds it once at start-up and serves it at
`/v1/openapi.json`. What the document says, by operation:

- `/v1/<name>`: GET with query parameters (the query Struct's fields; a list parameter is comma-separated) or none,
  POST with a JSON body; a bearer token unless the operation is public; a result of several shapes is an `anyOf`;
- the errors the server answers: 400 naming the field, 401, 404, 413 (a body over 1 MiB), 503 (the database cannot
  take writes) with an `ErrorResponse` body, and with request limits on, 429 (no body) and the `PenaltyTicket` an
  operation with an endpoint rule may answer instead of its result (HTTP 200);
- `/sim/<name>`: the simulator controls, under their own tag (an organization admin's token);
- the WebSocket, which OpenAPI cannot describe: a section of `info.description`, and `x-websocket` (the URL and each
  socket-only operation with its request and result schemas, in `components`).
"""

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from tradovate_sim.model.api import Operation, Served, Source
from tradovate_sim.model.queries import NoParameters
from tradovate_sim.model.results import ErrorResponse, PenaltyTicket

JSON = "application/json"
REF = "#/components/schemas/{name}"
SIMULATOR_TAG = "simulator"
MAX_BODY_TEXT = "1 MiB"

WEBSOCKET = """\
## WebSocket

`ws://<host>/v1/websocket` serves every `/v1` operation of this document and the socket-only operations listed in
`x-websocket` (their request and result schemas are under `components`). OpenAPI cannot describe a socket, so here is
its framing (Tradovate's): the server sends `o` when the socket opens, `h` as a heartbeat (answer `[]`), `a[...]` (a
JSON array of replies `{"s": status, "i": id, "d": result}` and events `{"e": "props", "d": ...}`) and
`c[code, "reason"]` before it closes. A request is one text frame `endpoint\\nid\\nquery\\nbody`: first
`authorize\\n1\\n\\n<accessToken>`, then any operation by name (`order/placeOrder\\n2\\n\\n{...}`). A reply's `s` is
the HTTP status the same operation answers over REST.
"""

DESCRIPTION = """\
A self-hosted, wire-compatible Tradovate server. Operation names match in any case (`/v1/order/placeorder` is
`/v1/order/placeOrder`). Business refusals are answered with HTTP 200 and a `failureReason`, `failureText` or
`errorText` in the result, as Tradovate answers them; HTTP errors carry `{"errorText": "..."}` naming the field or
the problem. Log in with `POST /v1/auth/accessTokenRequest` and send its `accessToken` as a bearer token.

The `simulator` operations (`/sim/...`) are this server's controls, outside Tradovate's API: they need an
organization admin's token.

""" + WEBSOCKET


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": {"$ref": REF.format(name="ErrorResponse")}}}}


# The HTTP errors, described once (`components.responses`) and referred to by each operation that may answer them.
RESPONSES = {
    "BadRequest": _error("Malformed input: the message names the field or parameter"),
    "Unauthorized": _error("A missing, expired or ended token"),
    "NotAdmin": _error("A missing, expired or ended token, or a caller who is not an organization admin"),
    "NotFound": _error("An unknown operation, or an entity the request names that does not exist"),
    "TooLarge": _error(f"A body larger than {MAX_BODY_TEXT}"),
    "TooManyRequests": {"description": "Too many requests (request limits are on): no body, as Tradovate answers"},
    "Unavailable": _error("The database cannot take writes: nothing was applied"),
}


def _shared(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _operation_id(operation: Operation[Any, Any]) -> str:
    name = operation.name.replace("/", ".")
    return f"sim.{operation.method.lower()}.{name}" if operation.served is Served.SIMULATOR else name


def _tag(operation: Operation[Any, Any]) -> str:
    return SIMULATOR_TAG if operation.served is Served.SIMULATOR else operation.name.partition("/")[0]


def _path(operation: Operation[Any, Any]) -> str:
    return f"/sim/{operation.name}" if operation.served is Served.SIMULATOR else f"/v1/{operation.name}"


class Schemas:
    """Every type the document mentions, walked by msgspec once: a type's schema (a `$ref` for a Struct) and the
    components they refer to."""

    def __init__(self, types: Iterable[object]) -> None:
        self.types = list(dict.fromkeys(types))
        schemas, self.components = msgspec.json.schema_components(self.types, ref_template=REF)
        self.by_type = dict(zip(self.types, schemas, strict=True))

    def of(self, kind: object) -> dict[str, Any]:
        schema: dict[str, Any] = self.by_type[kind]
        return schema

    def result(self, alternatives: Iterable[object]) -> dict[str, Any] | None:
        """One schema for a result of one or several shapes (`anyOf`); None for a reply without data."""
        found = [self.of(kind) for kind in alternatives if kind is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else {"anyOf": found}

    def properties(self, kind: type) -> tuple[dict[str, Any], frozenset[str]]:
        """A Struct's properties by wire name, and the required ones."""
        component = self.components[self.of(kind)["$ref"].rsplit("/", 1)[-1]]
        return component.get("properties", {}), frozenset(component.get("required", ()))


def _types(operations: Iterable[Operation[Any, Any]]) -> Iterable[object]:
    yield ErrorResponse
    yield PenaltyTicket
    for operation in operations:
        if operation.request is not NoParameters and operation.source is not Source.TEXT:
            yield operation.request
        yield from (kind for kind in operation.result.alternatives if kind is not None)


def _parameters(schemas: Schemas, operation: Operation[Any, Any]) -> list[dict[str, Any]]:
    """The query parameters of a GET: one per field of its query Struct; a list is comma-separated (`ids=1,2`)."""
    properties, required = schemas.properties(operation.request)
    parameters: list[dict[str, Any]] = []
    for name, schema in properties.items():
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if schema.get("type") == "array":
            parameter |= {"style": "form", "explode": False}
        parameters.append(parameter)
    return parameters


def _responses(schemas: Schemas, operation: Operation[Any, Any], ticketed: bool,
               limited: bool) -> dict[str, Any]:
    alternatives = list(operation.result.alternatives) + ([PenaltyTicket] if ticketed else [])
    result = schemas.result(alternatives)
    ok: dict[str, Any] = {"description": "The result (a business refusal is a result too: HTTP 200)"}
    if ticketed:
        ok["description"] += "; or, past the operation's limit, a penalty ticket: wait `p-time` seconds, then send " \
                             "the request again with `p-ticket` in its body"
    if result is not None:
        ok["content"] = {JSON: {"schema": result}}
    responses: dict[str, Any] = {"200": ok}
    if operation.source in (Source.BODY, Source.QUERY):
        responses["400"] = _shared("BadRequest")
    if not operation.public:
        responses["401"] = _shared("NotAdmin" if operation.served is Served.SIMULATOR else "Unauthorized")
    responses["404"] = _shared("NotFound")
    if operation.source is Source.BODY and operation.served is Served.API:
        responses["413"] = _shared("TooLarge")
    if limited:
        responses["429"] = _shared("TooManyRequests")
    if operation.method == "POST":
        responses["503"] = _shared("Unavailable")
    return responses


def _operation(schemas: Schemas, operation: Operation[Any, Any], ticketed: bool, limited: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"operationId": _operation_id(operation), "tags": [_tag(operation)],
                             "summary": operation.name if operation.served is Served.API else
                             f"{operation.method} /sim/{operation.name}"}
    if operation.request is not NoParameters:
        description = schemas.components[schemas.of(operation.request)["$ref"].rsplit("/", 1)[-1]].get("description")
        if description:
            entry["description"] = description
    if operation.source is Source.QUERY:
        entry["parameters"] = _parameters(schemas, operation)
    elif operation.source is Source.BODY:
        entry["requestBody"] = {"required": True, "content": {JSON: {"schema": schemas.of(operation.request)}}}
    entry["responses"] = _responses(schemas, operation, ticketed, limited)
    if operation.public:
        entry["security"] = []
    return entry


def _socket(schemas: Schemas, operations: Iterable[Operation[Any, Any]]) -> dict[str, Any]:
    described: list[dict[str, Any]] = []
    for operation in operations:
        entry: dict[str, Any] = {"name": operation.name, "public": operation.public}
        if operation.source is Source.TEXT:
            entry["request"] = {"type": "string", "description": "the frame's body as text"}
        elif operation.request is not NoParameters:
            entry["request"] = schemas.of(operation.request)
        result = schemas.result(operation.result.alternatives)
        if result is not None:
            entry["result"] = result
        described.append(entry)
    return {"url": "/v1/websocket", "operations": described}


def _socket_list(operations: Iterable[Operation[Any, Any]]) -> str:
    """The socket-only operations as a Markdown list (their schemas by name)."""
    lines = ["", "Socket-only operations:", ""]
    for operation in operations:
        request = "the token as text" if operation.source is Source.TEXT else \
            "no body" if operation.request is NoParameters else f"`{operation.request.__name__}`"
        results = [getattr(kind, "__name__", str(kind)) for kind in operation.result.alternatives if kind is not None]
        answer = " or ".join(f"`{name}`" for name in results) if results else "no data"
        lines.append(f"- `{operation.name}`: {request}, answers {answer}")
    return "\n".join(lines) + "\n"


def document(operations: Iterable[Operation[Any, Any]], *, version: str,
             endpoint_rules: Mapping[str, object] | None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations` (every entry of the endpoint table). `endpoint_rules` (the
    lower-cased names of the operations with an endpoint limit) is None when request limits are off: then neither 429
    nor penalty tickets are described."""
    operations = list(operations)
    socket = [op for op in operations if op.served is Served.SOCKET]
    schemas = Schemas(_types(operations))
    limited = endpoint_rules is not None
    rules = endpoint_rules or {}
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for operation in operations:
        if operation.served is Served.SOCKET:
            continue
        api = operation.served is Served.API
        item = paths.setdefault(_path(operation), {})
        item[operation.method.lower()] = _operation(schemas, operation, api and operation.name.lower() in rules,
                                                    api and limited)
        tags[_tag(operation)] = None
    tag_list = [{"name": name} for name in tags if name != SIMULATOR_TAG]
    tag_list.append({"name": SIMULATOR_TAG,
                     "description": "This server's controls (`/sim/...`), outside Tradovate's API: an organization "
                                    "admin's token"})
    return {
        "openapi": "3.1.0",
        "info": {"title": "tradovate-sim", "version": version, "description": DESCRIPTION + _socket_list(socket)},
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": RESPONSES,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "`accessToken` of `POST /v1/auth/accessTokenRequest`"}},
        },
        "security": [{"bearer": []}],
        "tags": tag_list,
        "x-websocket": _socket(schemas, socket),
    }
