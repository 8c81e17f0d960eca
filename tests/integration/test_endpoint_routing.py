"""Every operation is looked up in the one endpoint table, by REST, by the WebSocket and by `/sim`: each is served
only where the table says, query parameters are read by their query Struct (any case, a 400 naming the parameter),
and `updateuserautoliq` keeps its present / null / omitted merge."""

from typing import Any

from server import Desk
from ws_client import WsClient


def test_query_parameters_match_in_any_case_when_an_entity_is_read(desk: Desk) -> None:
    # Act
    response = desk.api.get("/v1/account/item", desk.admin, ID=desk.demo1)
    listed = desk.api.get("/v1/account/ldeps", desk.admin, masterIds=f"{desk.demo_user}")
    # Assert
    assert response.status_code == 200 and response.json()["id"] == desk.demo1
    assert desk.demo1 in [a["id"] for a in listed.json()]


def test_query_errors_name_the_parameter_when_it_is_malformed(desk: Desk) -> None:
    # Act
    response = desk.api.get("/v1/contract/suggest", desk.admin, t="ES", l="-3")
    missing = desk.api.get("/v1/order/deps", desk.admin)
    # Assert
    assert response.status_code == 400 and response.json()["errorText"].startswith("l: ")
    assert missing.status_code == 400 and missing.json()["errorText"] == "masterid: query parameter is required"


def test_socket_only_and_simulator_operations_are_404_when_asked_over_rest(desk: Desk) -> None:
    # Act
    authorize = desk.api.post("/v1/authorize", {}, desk.admin)
    chart = desk.api.post("/v1/md/getChart", {}, desk.admin)
    quote = desk.api.get("/v1/quote", desk.admin)
    reset_by_get = desk.api.get("/sim/reset", desk.admin)
    # Assert
    assert [r.status_code for r in (authorize, chart, quote)] == [404, 404, 404]
    assert (reset_by_get.status_code, reset_by_get.headers["allow"]) == (405, "POST")  # it exists: the method is wrong


async def test_simulator_controls_are_404_when_asked_over_the_socket(desk: Desk, ws: Any) -> None:
    # Arrange
    client: WsClient = await ws(desk.admin)
    # Act
    answers = [await client.request(name, {}) for name in ("quote", "get quote", "sim/quote", "reset")]
    # Assert
    assert [a["s"] for a in answers] == [404, 404, 404, 404]


async def test_entity_queries_take_their_query_over_the_socket(desk: Desk, ws: Any) -> None:
    # Arrange
    client: WsClient = await ws(desk.admin)
    # Act
    found = await client.request("account/item", query=f"id={desk.demo1}")
    bad = await client.request("account/items", query="ids=1,x")
    # Assert
    assert found["s"] == 200 and found["d"]["id"] == desk.demo1
    assert bad["s"] == 400 and bad["d"].startswith("ids[1]: ")


def test_update_user_auto_liq_keeps_omitted_rules_and_clears_null_ones(desk: Desk) -> None:
    # Arrange
    path = "/v1/userAccountAutoLiq/updateuserautoliq"
    desk.api.post(path, {"accountId": desk.demo2, "dailyLossAutoLiq": 900.0, "weeklyLossAutoLiq": 2000.0}, desk.admin)
    # Act
    try:
        answer = desk.api.post(path, {"accountId": desk.demo2, "dailyLossAutoLiq": None, "dailyLossAlert": 400.0},
                               desk.admin).json()
    finally:  # the session's desk is shared: leave no rule behind
        desk.api.post(path, {"accountId": desk.demo2, "weeklyLossAutoLiq": None, "dailyLossAlert": None}, desk.admin)
    # Assert
    rules = answer["userAccountAutoLiq"]
    assert "dailyLossAutoLiq" not in rules
    assert rules["weeklyLossAutoLiq"] == 2000.0 and rules["dailyLossAlert"] == 400.0
