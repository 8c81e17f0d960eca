"""Multibracket order strategies against a running server, as bots start them: `orderStrategy/startorderstrategy`
with a JSON `params` string; a strategy from entry through target, through stop, interrupted and liquidated, with
its `props` over the WebSocket; bad params answered with an `errorText` and nothing created."""

import json
from typing import Any

import pytest
from server import FRONT, Desk
from ws_client import Opener, WsClient

JSON = dict[str, Any]


def params(*, qty: int = 1, order_type: str = "Market", price: float | None = None,
           brackets: list[JSON] | None = None) -> str:
    entry: JSON = {"orderQty": qty, "orderType": order_type}
    if price is not None:
        entry["price"] = price
    return json.dumps({"entryVersion": entry,
                       "brackets": brackets or [{"qty": qty, "profitTarget": 2.5, "stopLoss": -1.25,
                                                 "trailingStop": False}]})


def start(account_id: int, action: str = "Buy", **fields: Any) -> JSON:
    return {"accountId": account_id, "symbol": FRONT, "orderStrategyTypeId": 2, "action": action,
            "params": fields.pop("raw_params", None) or params(**fields)}


def started(desk: Desk, body: JSON) -> JSON:
    result: JSON = desk.api.call("orderStrategy/startorderstrategy", body, desk.demo)
    return result


def links(desk: Desk, strategy_id: int) -> dict[str, int]:
    return {link["label"]: link["orderId"] for link in desk.api.deps("orderStrategyLink", strategy_id, desk.demo)}


def strategy(desk: Desk, strategy_id: int) -> JSON:
    return desk.api.item("orderStrategy", strategy_id, desk.demo)


def version(desk: Desk, order_id: int) -> JSON:
    versions = sorted(desk.api.deps("orderVersion", order_id, desk.demo), key=lambda v: v["id"])
    return versions[-1]


def props_of(client: WsClient, entity_type: str) -> list[JSON]:
    return [p for p in client.props() if p["entityType"] == entity_type]


def test_the_type_multibracket_is_listed_when_order_strategy_types_are_asked_for(desk: Desk) -> None:
    # Act
    types = desk.api.entities("orderStrategyType", desk.demo)
    # Assert
    assert types == [{"id": 2, "name": "multibracket", "enabled": True}]


async def test_a_strategy_runs_from_its_entry_through_its_target_with_props_when_the_market_rises(
        desk: Desk, ws: Opener) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    client = await ws(desk.demo)
    snapshot = await client.sync()
    assert "orderStrategies" in snapshot and "orderStrategyLinks" in snapshot
    # Act: the entry fills at 6800.25: target 6802.75, stop 6799.00
    result = started(desk, start(desk.demo1))
    strategy_id = result["orderStrategy"]["id"]
    labels = links(desk, strategy_id)
    desk.quote(bid=6802.75, ask=6803.0)
    # Assert
    assert result["orderStrategy"]["status"] == "ActiveStrategy" and "errorText" not in result
    assert set(labels) == {"entry", "profitTarget1", "stopLoss1"}
    assert version(desk, labels["profitTarget1"])["price"] == 6802.75
    assert version(desk, labels["stopLoss1"])["stopPrice"] == 6799.0
    assert (desk.status(labels["profitTarget1"]), desk.status(labels["stopLoss1"])) == ("Filled", "Canceled")
    assert strategy(desk, strategy_id)["status"] == "ExecutionFinished"
    assert desk.position(desk.demo1)["netPos"] == 0
    await client.wait_until(lambda: any(p["entity"]["status"] == "ExecutionFinished"
                                        for p in props_of(client, "orderStrategy")), what="the strategy's end")
    events = props_of(client, "orderStrategy")
    assert events[0]["eventType"] == "Created" and events[0]["entity"]["status"] == "ActiveStrategy"
    assert {p["entity"]["label"] for p in props_of(client, "orderStrategyLink")} == set(labels)


def test_a_strategy_runs_from_its_entry_through_its_stop_when_the_market_falls(desk: Desk) -> None:
    # Arrange: a Sell from 6800.00: target 6797.50, stop 6801.25
    desk.quote(bid=6800.0, ask=6800.25)
    result = started(desk, start(desk.demo1, "Sell", brackets=[{"qty": 1, "profitTarget": -2.5, "stopLoss": 1.25}]))
    labels = links(desk, result["orderStrategy"]["id"])
    # Act
    desk.quote(bid=6801.0, ask=6801.25)
    # Assert
    assert (desk.status(labels["profitTarget1"]), desk.status(labels["stopLoss1"])) == ("Canceled", "Filled")
    assert desk.fills(labels["stopLoss1"])[0]["price"] == 6801.25
    assert strategy(desk, result["orderStrategy"]["id"])["status"] == "ExecutionFinished"
    assert desk.position(desk.demo1)["netPos"] == 0


def test_two_brackets_close_the_position_in_two_steps_when_targets_are_reached_in_turn(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    brackets = [{"qty": 1, "profitTarget": 1.0, "stopLoss": -2.0}, {"qty": 1, "profitTarget": 3.0, "stopLoss": -2.0}]
    result = started(desk, start(desk.demo1, qty=2, brackets=brackets))
    strategy_id = result["orderStrategy"]["id"]
    labels = links(desk, strategy_id)
    # Act / Assert
    desk.quote(bid=6801.25, ask=6801.5)
    assert desk.position(desk.demo1)["netPos"] == 1
    assert strategy(desk, strategy_id)["status"] == "ActiveStrategy"
    assert desk.status(labels["stopLoss2"]) == "Working"
    desk.quote(bid=6803.25, ask=6803.5)
    assert desk.position(desk.demo1)["netPos"] == 0
    assert strategy(desk, strategy_id)["status"] == "ExecutionFinished"


def test_interrupting_cancels_the_working_brackets_and_keeps_the_position(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    strategy_id = started(desk, start(desk.demo1))["orderStrategy"]["id"]
    labels = links(desk, strategy_id)
    # Act
    result = desk.api.call("orderStrategy/interruptorderstrategy", {"orderStrategyId": strategy_id}, desk.demo)
    # Assert
    assert result["orderStrategy"]["status"] == "ExecutionInterrupted"
    assert desk.status(labels["profitTarget1"]) == desk.status(labels["stopLoss1"]) == "Canceled"
    assert desk.position(desk.demo1)["netPos"] == 1
    again = desk.api.call("orderStrategy/interruptorderstrategy", {"orderStrategyId": strategy_id}, desk.demo)
    assert again["failureReason"] == "TooLate"


async def test_a_liquidation_cancels_the_strategys_orders_and_ends_it_without_flipping(
        desk: Desk, ws: Opener) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    client = await ws(desk.demo)
    await client.sync()
    strategy_id = started(desk, start(desk.demo1, qty=2, brackets=[
        {"qty": 1, "profitTarget": 1.0, "stopLoss": -2.0}, {"qty": 1, "profitTarget": 3.0, "stopLoss": -2.0}]),
    )["orderStrategy"]["id"]
    labels = links(desk, strategy_id)
    # Act
    body = {"accountId": desk.demo1, "contractId": desk.front, "admin": False}
    result = desk.api.call("order/liquidateposition", body, desk.demo)
    # Assert
    assert "failureReason" not in result
    assert {desk.status(labels[label]) for label in labels if label != "entry"} == {"Canceled"}
    assert strategy(desk, strategy_id)["status"] == "ExecutionInterrupted"
    assert desk.position(desk.demo1)["netPos"] == 0
    desk.quote(bid=6790.0, ask=6790.25)  # where the cancelled stops would have been hit
    assert desk.position(desk.demo1)["netPos"] == 0
    await client.wait_until(lambda: any(p["entity"]["status"] == "ExecutionInterrupted"
                                        for p in props_of(client, "orderStrategy")), what="the interruption")


def test_the_stop_moves_to_the_entry_when_break_even_is_reached(desk: Desk) -> None:
    # Arrange: entry 6800.25, stop 6799.00, break-even after 1.0
    desk.quote(bid=6800.0, ask=6800.25)
    result = started(desk, start(desk.demo1, brackets=[{"qty": 1, "profitTarget": 5.0, "stopLoss": -1.25,
                                                        "breakEven": 1.0}]))
    stop_id = links(desk, result["orderStrategy"]["id"])["stopLoss1"]
    # Act
    desk.quote(bid=6801.25, ask=6801.5)
    # Assert
    assert version(desk, stop_id)["stopPrice"] == 6800.25


def test_a_limit_entry_works_alone_until_it_fills_then_its_brackets_follow(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    result = started(desk, start(desk.demo1, order_type="Limit", price=6799.0))
    strategy_id = result["orderStrategy"]["id"]
    assert set(links(desk, strategy_id)) == {"entry"}
    # Act
    desk.quote(bid=6798.5, ask=6798.75)
    # Assert
    labels = links(desk, strategy_id)
    assert version(desk, labels["profitTarget1"])["price"] == 6801.5
    assert strategy(desk, strategy_id)["status"] == "ActiveStrategy"


@pytest.mark.parametrize(("body_params", "action", "named"), [
    ("not json", "Buy", "params"),
    (params(brackets=[{"qty": 1, "profitTarget": -2.5, "stopLoss": -1.25}]), "Buy", "profitTarget"),
    (params(brackets=[{"qty": 1, "profitTarget": -2.5, "stopLoss": -1.25}]), "Sell", "stopLoss"),
    (params(brackets=[{"qty": 0, "profitTarget": 2.5}]), "Buy", "qty"),
    (params(qty=0, brackets=[{"qty": 1, "profitTarget": 2.5}]), "Buy", "orderQty"),
    (params(qty=2, brackets=[{"qty": 1, "profitTarget": 2.5}]), "Buy", "brackets"),
    (params(brackets=[{"qty": 1, "profitTarget": 2.5, "trailingStop": True}]), "Buy", "trailingStop"),
    (params(brackets=[{"qty": 1, "profitTarget": 2.5, "stopLoss": -1.25, "breakEven": 1.0, "breakEvenPlus": 1.0}]),
     "Buy", "breakEvenPlus"),
])
def test_bad_params_answer_an_error_text_and_create_nothing(desk: Desk, body_params: str, action: str,
                                                            named: str) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    # Act
    result = started(desk, start(desk.demo1, action, raw_params=body_params))
    # Assert
    assert named in result["errorText"] and result["failureReason"]
    assert "orderStrategy" not in result
    assert desk.api.entities("orderStrategy", desk.demo) == []
    assert desk.api.entities("order", desk.demo) == []


def test_a_malformed_body_is_a_400_naming_the_field(desk: Desk) -> None:
    # Act
    response = desk.api.post("/v1/orderStrategy/startorderstrategy",
                             {**start(desk.demo1), "orderStrategyTypeId": "two"}, desk.demo)
    # Assert
    assert response.status_code == 400
    assert "orderStrategyTypeId" in response.text


def test_modify_answers_unsupported_and_changes_nothing(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    strategy_id = started(desk, start(desk.demo1))["orderStrategy"]["id"]
    # Act
    result = desk.api.call("orderStrategy/modifyorderstrategy",
                           {"orderStrategyId": strategy_id, "command": "anything"}, desk.demo)
    # Assert
    assert result["failureReason"] == "Unsupported"
    assert strategy(desk, strategy_id)["status"] == "ActiveStrategy"


def test_a_trailing_bracket_stop_trails_the_bid_and_closes_the_position_when_the_market_turns(desk: Desk) -> None:
    # Arrange: long from 6800.25, its stop trailing 1.25 below the bid (6799.00 at first)
    desk.quote(bid=6800.0, ask=6800.25)
    result = started(desk, start(desk.demo1, brackets=[{"qty": 1, "profitTarget": 10.0, "stopLoss": -1.25,
                                                        "trailingStop": True}]))
    strategy_id = result["orderStrategy"]["id"]
    stop_id = links(desk, strategy_id)["stopLoss1"]
    assert (version(desk, stop_id)["orderType"], version(desk, stop_id)["pegDifference"]) == ("TrailingStop", -1.25)
    # Act
    desk.quote(bid=6803.0, ask=6803.25)
    trailed = version(desk, stop_id)["stopPrice"]
    desk.quote(bid=6801.5, ask=6801.75)
    # Assert
    assert trailed == 6801.75
    assert desk.status(stop_id) == "Filled"
    assert strategy(desk, strategy_id)["status"] == "ExecutionFinished"
    assert desk.position(desk.demo1)["netPos"] == 0


def test_a_strategy_fails_when_its_gtd_limit_entry_expires_unfilled(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)
    body = start(desk.demo1, raw_params=json.dumps({
        "entryVersion": {"orderQty": 1, "orderType": "Limit", "price": 6790.0, "timeInForce": "GTD",
                         "expireTime": "2026-11-24T16:00:00Z"},
        "brackets": [{"qty": 1, "profitTarget": 2.5, "stopLoss": -1.25}]}))
    strategy_id = started(desk, body)["orderStrategy"]["id"]
    # Act
    desk.api.set_clock("2026-11-24T16:00:00Z", desk.admin)
    # Assert
    assert desk.status(links(desk, strategy_id)["entry"]) == "Expired"
    ended = strategy(desk, strategy_id)
    assert (ended["status"], ended["failureMessage"]) == ("ExecutionFailed", "The entry order expired")
