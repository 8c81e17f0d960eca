"""Trade dates against a running server: positions, cash balances and fill pairs roll when `/sim/clock` crosses the
17:00 Chicago boundary (once or over several days), with the `props` a client sees; and the contract library's
`rollcontract`, `rollcontracts` and `getproductfeeparams`."""

from typing import Any

from server import AFTER_ESZ6_EXPIRY, BACK, FRONT, JSON, OPEN_TIME, Desk, evaluation_account, limit, order
from ws_client import Event, Opener

NEXT_DAY = "2026-11-25T15:00:00Z"  # Wednesday, same week
NEXT_WEEK = "2026-11-30T15:00:00Z"  # Monday of the next week: five trade dates later
TUESDAY = {"year": 2026, "month": 11, "day": 24}
WEDNESDAY = {"year": 2026, "month": 11, "day": 25}
MONDAY = {"year": 2026, "month": 11, "day": 30}


def trade_long_one(desk: Desk) -> None:
    """Buy 2 at 6800.25, sell 1 at 6800.00 (realized -12.50): long 1 at 6800.25; the last trade prints 6801.00."""
    desk.quote(bid=6800.0, ask=6800.25, last=6801.0)
    desk.place(order(desk.demo1, qty=2))
    desk.place(order(desk.demo1, action="Sell"))


def is_props(entity_type: str, test: Any = None) -> Any:
    def match(event: Event) -> bool:
        data = event.data
        return event.kind == "props" and data.get("entityType") == entity_type and (test is None or test(data))
    return match


async def test_position_and_cash_roll_when_the_clock_crosses_a_trade_date(desk: Desk, ws: Opener) -> None:
    # Arrange
    trade_long_one(desk)
    resting = desk.place(limit(desk.demo1, 6700.0, timeInForce="GTC"))["orderId"]
    before = desk.cash(desk.demo1)
    assert desk.position(desk.demo1)["tradeDate"] == TUESDAY and before["realizedPnL"] == -12.5
    client = await ws(desk.demo)
    await client.sync()
    start = len(client.events)
    # Act
    desk.api.set_clock(NEXT_DAY, desk.admin)
    # Assert
    position = desk.position(desk.demo1)
    assert position["tradeDate"] == WEDNESDAY
    assert (position["netPos"], position["prevPos"], position["prevPrice"], position["netPrice"]) == \
        (1, 1, 6801.0, 6800.25)
    assert (position["bought"], position["boughtValue"], position["sold"], position["soldValue"]) == (0, 0, 0, 0)
    cash = desk.cash(desk.demo1)
    assert cash["tradeDate"] == WEDNESDAY
    assert (cash["amount"], cash["realizedPnL"], cash["amountSOD"], cash["weekRealizedPnL"]) == \
        (before["amount"], 0, before["amount"], -12.5)
    snapshot = desk.snapshot(desk.demo1)
    assert (snapshot["realizedPnL"], snapshot["weekRealizedPnL"], snapshot["totalCashValueSOD"]) == \
        (0, -12.5, before["amount"])
    assert desk.status(resting) == "Working"  # a GTC order lives through the roll
    rolled = await client.event(is_props("position", lambda d: d["entity"]["tradeDate"] == WEDNESDAY), start=start)
    assert rolled.data["eventType"] == "Updated" and rolled.data["entity"]["prevPos"] == 1
    await client.event(is_props("cashBalance", lambda d: d["entity"]["tradeDate"] == WEDNESDAY), start=start)


async def test_fills_of_the_new_day_pair_with_the_carried_lot_and_count_for_the_new_day(desk: Desk) -> None:
    # Arrange
    trade_long_one(desk)
    desk.api.set_clock(NEXT_DAY, desk.admin)
    desk.quote(bid=6802.0, ask=6802.25, last=6802.0)
    # Act
    sold = desk.place(order(desk.demo1, action="Sell"))["orderId"]
    # Assert
    position = desk.position(desk.demo1)
    assert (position["netPos"], position["prevPos"], position["bought"], position["sold"]) == (0, 1, 0, 1)
    assert position["prevPos"] + position["bought"] - position["sold"] == position["netPos"]
    fill = desk.fills(sold)[0]
    assert fill["tradeDate"] == WEDNESDAY
    pairs = [p for p in desk.api.deps("fillPair", position["id"], desk.demo) if p["sellFillId"] == fill["id"]]
    assert [(p["qty"], p["buyPrice"], p["sellPrice"]) for p in pairs] == [(1, 6800.25, 6802.0)]
    cash = desk.cash(desk.demo1)
    assert (cash["realizedPnL"], cash["weekRealizedPnL"]) == (87.5, 75.0)  # (6802 - 6800.25) x 50; -12.5 + 87.5
    logs = [e for e in desk.cash_log(desk.demo1) if e.get("fillPairId") in {p["id"] for p in pairs}]
    assert [e["tradeDate"] for e in logs] == [WEDNESDAY]


async def test_several_trade_dates_passed_at_once_are_one_roll_to_the_latest(desk: Desk, ws: Opener) -> None:
    # Arrange
    trade_long_one(desk)
    client = await ws(desk.demo)
    await client.sync()
    start = len(client.events)
    # Act
    desk.api.set_clock(NEXT_WEEK, desk.admin)
    # Assert
    position = desk.position(desk.demo1)
    assert (position["tradeDate"], position["prevPos"], position["bought"], position["sold"]) == (MONDAY, 1, 0, 0)
    cash = desk.cash(desk.demo1)
    assert (cash["tradeDate"], cash["realizedPnL"], cash["weekRealizedPnL"]) == (MONDAY, 0, 0)  # a new week
    await client.event(is_props("cashBalance", lambda d: d["entity"]["tradeDate"] == MONDAY), start=start)
    mine = [e for e in client.events[start:] if is_props("position")(e)
            and e.data["entity"]["accountId"] == desk.demo1]
    assert [e.data["entity"]["tradeDate"] for e in mine] == [MONDAY]


async def test_a_moved_back_clock_starts_that_day_afresh(desk: Desk) -> None:
    trade_long_one(desk)
    desk.api.set_clock(NEXT_DAY, desk.admin)
    desk.api.set_clock(OPEN_TIME, desk.admin)
    position, cash = desk.position(desk.demo1), desk.cash(desk.demo1)
    assert (position["tradeDate"], position["prevPos"], position["bought"]) == (TUESDAY, 1, 0)
    assert (cash["tradeDate"], cash["realizedPnL"]) == (TUESDAY, 0)


async def test_change_demo_balance_logs_the_trade_date_of_the_clock(desk: Desk) -> None:
    desk.api.set_clock(NEXT_DAY, desk.admin)
    desk.api.call("cashBalance/changedemobalance", {"accountId": desk.demo1, "cashChange": 100.0}, desk.admin)
    assert desk.cash_log(desk.demo1)[-1]["tradeDate"] == WEDNESDAY
    assert desk.cash(desk.demo1)["tradeDate"] == WEDNESDAY


async def test_daily_loss_limit_counts_from_the_new_day_after_the_roll(desk: Desk) -> None:
    # Arrange: an account losing no more than 300 a day, long 1 from 6800.25 and 200 down on Tuesday
    result = desk.api.call("user/createevaluationaccounts", {"accounts": [evaluation_account(
        desk.demo_user, desk.template, "ROLLDAY", initial_balance=50_000.0,
        postTradeRisk={"dailyLossAutoLiq": 300.0})]}, desk.admin)
    account = int(result["results"][0]["accountId"])
    desk.quote(bid=6800.0, ask=6800.25, last=6800.25)
    assert desk.place(order(account)).get("orderId")
    desk.quote(bid=6796.0, ask=6796.25, last=6796.25)
    # Act: Wednesday, another 200 down (400 over two days, 200 on the day)
    desk.api.set_clock(NEXT_DAY, desk.admin)
    desk.quote(bid=6792.0, ask=6792.25, last=6792.25)
    # Assert: the day's loss is under its limit: still trading
    assert desk.api.item("accountRiskStatus", account, desk.admin)["adminAction"] == "Normal"
    assert desk.position(account)["netPos"] == 1
    # and 350 down on the day liquidates and locks
    desk.quote(bid=6789.0, ask=6789.25, last=6789.25)
    assert desk.api.item("accountRiskStatus", account, desk.admin)["adminAction"] == "LockTradingImmediately"
    assert desk.position(account)["netPos"] == 0


# --- the contract library ----------------------------------------------------------------------------------


def roll(desk: Desk, name: str, forward: bool = True, **extra: object) -> JSON:
    result: JSON = desk.api.call("contract/rollcontract", {"name": name, "forward": forward, **extra}, desk.demo)
    return result


async def test_roll_contract_answers_the_best_upcoming_maturity(desk: Desk) -> None:
    assert roll(desk, "ES")["contract"]["name"] == FRONT
    assert roll(desk, "ES", forward=False)["contract"]["name"] == FRONT
    assert roll(desk, FRONT)["contract"]["name"] == BACK
    assert roll(desk, BACK, forward=False)["contract"]["name"] == FRONT
    assert roll(desk, FRONT, ifExpired=True)["contract"]["name"] == FRONT  # still trading: itself
    assert roll(desk, "esz6")["contract"]["name"] == BACK
    assert roll(desk, FRONT)["contract"] == desk.api.find("contract", BACK, desk.demo)


async def test_roll_contract_lists_a_maturity_not_listed_yet(desk: Desk) -> None:
    rolled = roll(desk, BACK)["contract"]
    assert rolled["name"] == "ESM7"
    assert desk.api.find("contract", "ESM7", desk.demo) == rolled
    placed = desk.place(order(desk.demo1, symbol="ESM7"))
    assert placed.get("orderId") and "failureReason" not in placed


async def test_roll_contract_refuses_with_an_error_text_when_there_is_nothing_to_roll_to(desk: Desk) -> None:
    assert roll(desk, FRONT, forward=False) == {"errorText": "ESZ6: no earlier maturity is trading"}
    assert "contract" not in roll(desk, "XYZZ6")
    assert roll(desk, "XYZZ6")["errorText"]


async def test_roll_contract_rolls_an_expired_contract_when_asked_if_expired(desk: Desk) -> None:
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, desk.admin)
    assert roll(desk, FRONT, ifExpired=True)["contract"]["name"] == BACK
    assert roll(desk, "ESZ5")["contract"]["name"] == BACK  # long expired: the front month now


async def test_roll_contracts_answers_each_name_in_a_map(desk: Desk) -> None:
    body = {"rollContracts": [{"name": FRONT, "forward": True}, {"name": "MES", "forward": True},
                              {"name": "NOPE", "forward": True}]}
    result = desk.api.call("contract/rollcontracts", body, desk.demo)
    assert {name: c["name"] for name, c in result["contracts"].items()} == {FRONT: BACK, "MES": "MESZ6"}
    assert "NOPE" in result["errorText"]


async def test_roll_endpoints_answer_400_naming_the_field_when_the_body_is_bad(desk: Desk) -> None:
    for operation, body, field in (
        ("contract/rollcontract", {"name": "", "forward": True}, "name"),
        ("contract/rollcontract", {"name": "ES"}, "forward"),
        ("contract/rollcontracts", {"rollContracts": []}, "rollContracts"),
        ("contract/getproductfeeparams", {"productIds": []}, "productIds"),
        ("contract/getproductfeeparams", {"productIds": [0]}, "productIds"),
    ):
        response = desk.api.post(f"/v1/{operation}", body, desk.demo)
        assert response.status_code == 400, (operation, body, response.text)
        assert field in response.text


async def test_product_fee_params_answer_the_catalogue_fees_and_margins(desk: Desk) -> None:
    es = desk.api.find("product", "ES", desk.demo)
    result = desk.api.call("contract/getproductfeeparams", {"productIds": [es["id"], 999_999]}, desk.demo)
    [params] = result["params"]
    assert params["productId"] == es["id"]
    assert (params["commission"], params["exchangeFee"], params["clearingFee"], params["nfaFee"]) == \
        (0.59, 1.38, 0.10, 0.02)
    assert params["commissionCurrencyId"] == es["currencyId"]
    # Tradovate's shape: dayMargin and nightMargin are numbers, only fullMargin is a ProductMargin
    assert (params["dayMargin"], params["nightMargin"]) == (500.0, 24750.0)
    assert (params["fullMargin"]["initialMargin"], params["fullMargin"]["maintenanceMargin"]) == (24750.0, 22500.0)
