"""The simulated market and its controls: seeded quotes, `/sim/quote`, `/sim/clock`, `/sim/reset`, sessions."""

from datetime import UTC, datetime, timedelta

import pytest
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    AFTER_ESZ6_EXPIRY,
    FRONT,
    OPEN_TIME,
    SATURDAY,
    START_BALANCE,
    Desk,
    evaluation_user,
    limit,
    order,
    quote,
)


@pytest.mark.parametrize(("symbol", "buy_price", "sell_price"), [("ESZ6", 6800.25, 6800.0), ("MESH7", 6800.25, 6800.0),
                                                                 ("NQZ6", 25000.25, 25000.0)])
def test_seeded_quote_is_one_tick_wide_around_the_reference_price_when_nothing_was_set(
        desk: Desk, symbol: str, buy_price: float, sell_price: float) -> None:
    bought = desk.place(order(desk.demo1, symbol=symbol, action="Buy"))["orderId"]
    sold = desk.place(order(desk.demo2, symbol=symbol, action="Sell"))["orderId"]
    assert desk.fills(bought)[0]["price"] == buy_price
    assert desk.fills(sold)[0]["price"] == sell_price


def test_quote_is_set_exactly_when_posted_by_symbol(desk: Desk) -> None:
    result = desk.quote(bid=6790.5, ask=6790.75, bid_size=4, ask_size=6, last=6790.75, depthSize=2, depthLevels=3)
    assert {k: v for k, v in result.items() if k != "timestamp"} == {
        "contractId": desk.front, "symbol": FRONT, "bid": 6790.5, "ask": 6790.75, "bidSize": 4, "askSize": 6,
        "last": 6790.75, "depthSize": 2, "depthLevels": 3}
    assert datetime.fromisoformat(result["timestamp"]) == datetime.fromisoformat(OPEN_TIME)


def test_quote_is_set_when_posted_by_contract_id(desk: Desk) -> None:
    body = {**quote(bid=6801.0, ask=6801.25), "contractId": desk.front}
    del body["symbol"]
    result = desk.api.sim("quote", body, desk.admin)
    assert (result["symbol"], result["bid"], result["ask"]) == (FRONT, 6801.0, 6801.25)
    assert desk.fills(desk.place(order(desk.demo1))["orderId"])[0]["price"] == 6801.25


def test_quote_release_answers_the_current_quote_when_a_pinned_quote_is_released(desk: Desk) -> None:
    desk.quote(bid=6790.0, ask=6790.25)
    result = desk.api.sim("quote", {"symbol": FRONT, "release": True}, desk.admin)
    assert (result["bid"], result["ask"]) == (6790.0, 6790.25)


@pytest.mark.parametrize(("body", "status", "field"), [
    (quote(bid=6800.25, ask=6800.25), 400, "bid"),
    (quote(bid=6800.1), 400, "bid"),
    (quote(ask=6800.3), 400, "ask"),
    (quote(last=6800.3), 400, "last"),
    (quote(bid_size=-1), 400, "bidSize"),
    (quote(depthSize=2_000_000), 400, "depthSize"),
    (quote(symbol="XXZ6"), 404, "XXZ6"),
], ids=["crossed", "bid-off-grid", "ask-off-grid", "last-off-grid", "negative-size", "huge-depth", "unknown"])
def test_quote_is_refused_with_the_field_named_when_it_is_invalid(desk: Desk, body: dict[str, object], status: int,
                                                                  field: str) -> None:
    response = desk.api.post("/sim/quote", body, desk.admin)
    assert response.status_code == status
    assert field in response.json()["errorText"]


def test_clock_is_frozen_and_can_be_advanced_when_set(desk: Desk) -> None:
    # Arrange: the desk fixture set OPEN_TIME
    assert desk.api.get("/sim/clock", desk.admin).json() == {"now": "2026-11-24T15:00:00.000Z", "mode": "fixed"}
    # Act
    advanced = desk.api.sim("clock", {"advanceSeconds": 90}, desk.admin)
    # Assert
    assert advanced == {"now": "2026-11-24T15:01:30.000Z", "mode": "fixed"}
    assert desk.api.get("/sim/clock", desk.admin).json() == advanced


def test_clock_follows_wall_time_when_mode_real_is_posted(desk: Desk) -> None:
    result = desk.api.sim("clock", {"mode": "real"}, desk.admin)
    assert result["mode"] == "real"
    assert abs(datetime.fromisoformat(result["now"]) - datetime.now(UTC)) < timedelta(seconds=30)


def test_moving_the_clock_lists_the_next_maturities_and_keeps_the_old_ones_when_a_contract_expires(
        desk: Desk) -> None:
    # Act
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, desk.admin)
    admin = desk.api.token(ADMIN, ADMIN_PASSWORD)
    # Assert
    found = sorted(c["name"] for c in desk.api.query("contract/suggest", admin, t="ES", l=50)
                   if c["name"].startswith("ES"))
    assert found == ["ESH7", "ESM7", "ESZ6"]


def test_next_maturity_becomes_front_when_the_clock_moves_past_the_front_expiry(desk: Desk) -> None:
    # Act
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, desk.admin)
    admin = desk.api.token(ADMIN, ADMIN_PASSWORD)
    # Assert
    product = desk.api.find("product", "ES", admin)
    fronts = {m["expirationMonth"]: m["isFront"] for m in desk.api.deps("contractMaturity", product["id"], admin)}
    assert fronts == {202612: False, 202703: True, 202706: False}


@pytest.mark.parametrize(("method", "action", "body"), [
    ("POST", "quote", quote()), ("POST", "clock", {"now": SATURDAY}), ("GET", "clock", None), ("POST", "reset", {})])
@pytest.mark.parametrize("who", ["trader", "nobody", "garbage"])
def test_sim_control_answers_401_when_caller_is_not_an_organization_admin(
        desk: Desk, method: str, action: str, body: object, who: str) -> None:
    # Arrange
    desk.place(limit(desk.demo1, 6790.0))
    token = {"trader": desk.demo, "nobody": None, "garbage": "garbage"}[who]
    # Act
    if method == "GET":
        response = desk.api.get(f"/sim/{action}", token)
    else:
        response = desk.api.post(f"/sim/{action}", body, token)
    # Assert
    assert response.status_code == 401
    assert desk.api.get("/sim/clock", desk.admin).json()["now"] == "2026-11-24T15:00:00.000Z"
    assert len(desk.api.entities("order", desk.admin)) == 1


def test_reset_restores_the_seeded_state_and_keeps_seeded_tokens_when_the_database_was_changed(desk: Desk) -> None:
    # Arrange
    desk.quote()
    desk.place(order(desk.demo1, qty=2))
    desk.place(limit(desk.demo2, 6790.0))
    desk.api.call("cashBalance/changedemobalance", {"accountId": desk.demo2, "cashChange": 500.0}, desk.admin)
    desk.api.call("user/createevaluationusers", {"users": [evaluation_user("transient")]}, desk.admin)
    # Act
    desk.api.reset(desk.admin)
    # Assert
    assert desk.api.entities("order", desk.admin) == []
    assert desk.api.entities("fill", desk.admin) == []
    assert desk.api.entities("position", desk.admin) == []
    balances = desk.api.entities("cashBalance", desk.admin)
    assert sorted(b["amount"] for b in balances) == [START_BALANCE] * 3
    assert sorted(u["name"] for u in desk.api.entities("user", desk.admin)) == ["admin", "demo"]
    assert desk.api.get("/v1/auth/me", desk.demo).status_code == 200
    assert sorted(a["id"] for a in desk.api.entities("account", desk.demo)) == [desk.demo1, desk.demo2]


def test_reset_answers_seeded_quotes_when_a_quote_was_set(desk: Desk) -> None:
    desk.quote(bid=6700.0, ask=6700.25)
    desk.api.reset(desk.admin)
    assert desk.fills(desk.place(order(desk.demo1))["orderId"])[0]["price"] == 6800.25


def test_resting_limit_does_not_fill_while_the_session_is_closed_and_fills_when_it_reopens(desk: Desk) -> None:
    # Arrange
    desk.quote()
    order_id = desk.place(limit(desk.demo1, 6795.0))["orderId"]
    desk.api.set_clock(SATURDAY, desk.admin)
    # Act
    desk.quote(bid=6794.5, ask=6794.75)
    # Assert
    assert desk.status(order_id) == "Working"
    desk.api.set_clock(OPEN_TIME, desk.admin)
    desk.quote(bid=6794.5, ask=6794.75)
    assert desk.status(order_id) == "Filled"
    assert desk.fills(order_id)[0]["price"] == 6795.0
