"""The OpenAPI document is built from the endpoint table alone: valid OpenAPI 3.1, every operation once, parameters
from the query Structs, bodies and results as the model's schemas (unions as `anyOf`), errors and limits as served."""

import copy
import functools
from typing import Any

import jsonschema_rs
import msgspec
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.schemas import schema_v31

from tradovate_sim.model import api
from tradovate_sim.model.api import Operation, Served, command, one_of, shape
from tradovate_sim.model.kinds import QUERY_OF_OPERATION
from tradovate_sim.model.queries import ItemsQuery, NoParameters
from tradovate_sim.model.results import SimpleResponse
from tradovate_sim.model.simulator import TRADOVATE_ENDPOINTS
from tradovate_sim.server.openapi import document
from tradovate_sim.service.endpoints import build_all

Document = dict[str, Any]


def served_operations() -> list[Operation[Any, Any]]:
    return [endpoint.operation for endpoint in build_all().values()]


def build(operations: list[Operation[Any, Any]] | None = None, *, limits: bool = False) -> Document:
    """The document as the server sends it (encoded, then read back); the served table's built once per module."""
    if operations is None:
        return copy.deepcopy(served(limits))
    built = document(operations, version="0.0.0", endpoint_rules=TRADOVATE_ENDPOINTS if limits else None)
    decoded: Document = msgspec.json.decode(msgspec.json.encode(built))
    return decoded


@functools.cache
def served(limits: bool) -> Document:
    return build(served_operations(), limits=limits)


def refs_in(value: object) -> list[str]:
    if isinstance(value, dict):
        return [*([value["$ref"]] if "$ref" in value else []), *(r for v in value.values() for r in refs_in(v))]
    if isinstance(value, list):
        return [r for v in value for r in refs_in(v)]
    return []


def assert_valid(doc: Document) -> None:
    """Valid OpenAPI 3.1, checked fast enough for the whole document (openapi-spec-validator takes tens of seconds on
    it; it checks a small document in `test_the_builders_constructs_pass_openapi_spec_validator`): the document
    against the OpenAPI 3.1 JSON Schema, each component schema against JSON Schema 2020-12, every `$ref` resolved."""
    errors = [str(error) for error in jsonschema_rs.validator_for(dict(schema_v31)).iter_errors(doc)]
    assert errors == []
    for name, schema in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid({**schema, "$schema": "https://json-schema.org/draft/2020-12/schema"}), name
    for ref in refs_in(doc):
        section, _, name = ref.removeprefix("#/components/").partition("/")
        assert name in doc["components"][section], ref


def operations_in(doc: Document) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in doc["paths"].items() for method in item]


@pytest.mark.parametrize("limits", [False, True])
def test_the_document_is_valid_openapi_3_1_when_built_from_the_table(limits: bool) -> None:
    # Act
    doc = build(limits=limits)
    # Assert
    assert doc["openapi"] == "3.1.0"
    assert_valid(doc)


def test_a_broken_document_is_refused_when_checked() -> None:
    # Arrange
    doc = build()
    missing = copy.deepcopy(doc)
    missing["paths"]["/v1/auth/me"]["get"]["responses"]["200"].pop("description")
    dangling = copy.deepcopy(doc)
    dangling["paths"]["/v1/auth/me"]["get"]["responses"]["401"] = {"$ref": "#/components/responses/Nothing"}
    # Act / Assert
    for broken in (missing, dangling):
        with pytest.raises(AssertionError):
            assert_valid(broken)


def test_the_builders_constructs_pass_openapi_spec_validator() -> None:
    # Arrange: one operation of each construct (a union result, a penalty ticket, a public login, a list parameter, no
    # parameters, the simulator's GET with parameters, POST with a body and POST without, a socket-only operation)
    kind = next(k for k, _ in api.entity_queries() if k.name == "riskCategory")
    operations = [api.Order.modify_order, api.Auth.access_token_request, api.Auth.me, api.Simulator.quote,
                  api.Simulator.move_clock, api.Simulator.reset, api.Socket.get_chart,
                  *(op for k, op in api.entity_queries() if k is kind)]
    # Act
    doc = msgspec.json.decode(msgspec.json.encode(document(operations, version="0", endpoint_rules={
        "auth/accesstokenrequest": None})))
    # Assert
    validate(doc)  # raises on any violation


def test_every_rest_and_simulator_operation_appears_exactly_once_when_the_table_is_documented() -> None:
    # Arrange
    table = build_all().values()
    expected = sorted([(e.method, f"/v1/{e.name}") for e in table if e.served is Served.API]
                      + [(e.method, f"/sim/{e.name}") for e in table if e.served is Served.SIMULATOR])
    # Act
    found = operations_in(build())
    # Assert
    assert sorted(found) == expected
    assert len(set(found)) == len(found)
    ids = [op["operationId"] for item in build()["paths"].values() for op in item.values()]
    assert len(set(ids)) == len(ids)


def test_socket_only_operations_are_described_beside_the_paths_when_documented() -> None:
    # Arrange
    socket = [op.name for op in api.operations_of(api.Socket)]
    # Act
    doc = build()
    # Assert
    assert [op["name"] for op in doc["x-websocket"]["operations"]] == socket
    assert not [path for path in doc["paths"] if path.removeprefix("/v1/") in socket]
    assert all(f"`{name}`" in doc["info"]["description"] for name in socket)
    sync = next(op for op in doc["x-websocket"]["operations"] if op["name"] == "user/syncRequest")
    assert sync["result"] == {"$ref": "#/components/schemas/SyncSnapshot"}


def test_a_get_takes_its_query_structs_fields_as_parameters_when_documented() -> None:
    # Act
    doc = build()
    # Assert
    items = doc["paths"]["/v1/contract/items"]["get"]
    assert [(p["name"], p["in"], p["required"], p["explode"]) for p in items["parameters"]] == [
        ("ids", "query", True, False)]
    assert items["parameters"][0]["schema"]["items"]["type"] == "integer"
    suggest = doc["paths"]["/v1/contract/suggest"]["get"]
    assert {(p["name"], p["required"]) for p in suggest["parameters"]} == {("t", False), ("l", False)}
    assert "parameters" not in doc["paths"]["/v1/position/list"]["get"]
    assert "requestBody" not in items


def test_a_command_takes_its_request_struct_as_a_json_body_when_documented() -> None:
    # Act
    operation = build()["paths"]["/v1/order/liquidatePosition"]["post"]
    # Assert
    assert operation["requestBody"]["required"] is True
    assert operation["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LiquidatePosition"}
    assert "parameters" not in operation


def test_a_result_of_several_shapes_is_an_any_of_when_documented() -> None:
    # Act
    doc = build()
    # Assert
    ok = doc["paths"]["/v1/order/placeOrder"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"anyOf": [{"$ref": "#/components/schemas/PlaceOrderResult"},
                            {"$ref": "#/components/schemas/Violations"}]}
    listed = doc["paths"]["/v1/position/list"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"type": "array", "items": {"$ref": "#/components/schemas/Position"}}


def test_only_public_operations_go_without_a_token_when_documented() -> None:
    # Act
    doc = build()
    # Assert
    bearer = doc["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"bearer": []}]
    public = sorted(path for path, item in doc["paths"].items() for op in item.values() if op.get("security") == [])
    assert public == ["/v1/auth/accessTokenRequest"]
    login = doc["paths"]["/v1/auth/accessTokenRequest"]["post"]["responses"]
    assert "401" not in login
    assert doc["paths"]["/v1/auth/me"]["get"]["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}


def test_the_simulator_controls_have_their_own_tag_and_need_an_admin_when_documented() -> None:
    # Act
    doc = build()
    # Assert
    quote = doc["paths"]["/sim/quote"]
    assert set(quote) == {"get", "post"}
    assert quote["get"]["tags"] == quote["post"]["tags"] == ["simulator"]
    assert quote["post"]["responses"]["401"] == {"$ref": "#/components/responses/NotAdmin"}
    assert [p["name"] for p in quote["get"]["parameters"]] == ["symbol", "contractId"]
    assert "requestBody" not in doc["paths"]["/sim/reset"]["post"]
    assert any(tag["name"] == "simulator" and "description" in tag for tag in doc["tags"])


def test_errors_are_described_as_the_server_answers_them_when_documented() -> None:
    # Act
    doc = build()
    # Assert
    responses = doc["paths"]["/v1/order/placeOrder"]["post"]["responses"]
    assert sorted(responses) == ["200", "400", "401", "404", "413", "503"]
    bad = doc["components"]["responses"]["BadRequest"]["content"]["application/json"]["schema"]
    assert bad == {"$ref": "#/components/schemas/ErrorResponse"}
    assert doc["components"]["schemas"]["ErrorResponse"]["required"] == ["errorText"]
    assert sorted(doc["paths"]["/v1/position/list"]["get"]["responses"]) == ["200", "401", "404"]


def test_429_and_penalty_tickets_are_described_only_when_limits_are_on() -> None:
    # Act
    off, on = build(limits=False), build(limits=True)
    # Assert
    def ok_schema(doc: Document, path: str) -> Any:
        return doc["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert not [path for path, item in off["paths"].items() for op in item.values() if "429" in op["responses"]]
    assert ok_schema(off, "/v1/auth/accessTokenRequest") == {"$ref": "#/components/schemas/AccessTokenResponse"}
    assert all("429" in op["responses"] for path, item in on["paths"].items() if path.startswith("/v1/")
               for op in item.values())
    assert ok_schema(on, "/v1/auth/accessTokenRequest") == {"anyOf": [
        {"$ref": "#/components/schemas/AccessTokenResponse"}, {"$ref": "#/components/schemas/PenaltyTicket"}]}
    assert ok_schema(on, "/v1/order/placeOrder")["anyOf"][-1] == {"$ref": "#/components/schemas/Violations"}
    assert set(on["components"]["schemas"]["PenaltyTicket"]["required"]) == {"p-ticket", "p-time", "p-captcha"}


class Thing(msgspec.Struct, frozen=True, rename="camel"):
    """A request no real operation takes."""

    thing_id: int


def test_a_new_operation_appears_with_no_edit_of_the_builder_when_added_to_the_table() -> None:
    # Arrange
    added = command("thing/doThing", Thing, one_of(SimpleResponse, ItemsQuery))
    # Act
    doc = build([*served_operations(), added])
    # Assert
    operation = doc["paths"]["/v1/thing/doThing"]["post"]
    assert operation["description"] == "A request no real operation takes."
    assert doc["components"]["schemas"]["Thing"]["required"] == ["thingId"]
    assert len(operation["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]) == 2
    assert_valid(doc)


def test_every_entity_query_is_a_get_when_documented() -> None:
    # Act
    doc = build()
    # Assert
    for path, item in doc["paths"].items():
        if path.rsplit("/", 1)[-1] in QUERY_OF_OPERATION:
            assert list(item) == ["get"], path
    assert NoParameters.__name__ not in doc["components"]["schemas"]
    assert shape(SimpleResponse).alternatives == (SimpleResponse,)
