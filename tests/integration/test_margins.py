"""Margins over HTTP and WebSocket: productMargin / contractMargin (day-trade margins while the session is open,
the exchange's while it is closed), marginSnapshot and the cash snapshot's margin fields kept live, the margin check
of orders (both sides of the threshold, reducing orders, working orders reserving margin) and `order/dryrun`."""

from typing import Any

from server import JSON, SATURDAY, Desk, evaluation_account, limit, order
from ws_client import Opener

ES_DAY = 500.0  # the catalogue's ES day-trade margin
ES_INITIAL, ES_MAINTENANCE = 24_750.0, 22_500.0  # the exchange's ES margins
BID, ASK = 6800.0, 6800.25


def create_account(desk: Desk, name: str, balance: float) -> tuple[int, str]:
    """An evaluation account with `balance` for a new user: (account id, the user's token)."""
    user_id = desk.create_user(name)
    created = desk.api.call("user/createevaluationaccounts", {
        "accounts": [evaluation_account(user_id, desk.template, f"{name.upper()}-1", initial_balance=balance)]},
        desk.admin)
    return created["results"][0]["accountId"], desk.api.token(name, f"{name}-pw")


def margin_snapshot(desk: Desk, account_id: int, token: str | None = None) -> JSON:
    return desk.api.item("marginSnapshot", account_id, token or desk.admin)


def dry_run(desk: Desk, account_id: int, orders: list[JSON], token: str | None = None) -> Any:
    return desk.api.call("order/dryrun", {"accountId": account_id, "orders": orders}, token or desk.demo)


def es(desk: Desk, action: str = "Buy", qty: int = 1) -> JSON:
    return {"contractId": desk.front, "action": action, "orderQty": qty, "orderType": "Market"}


# --- productMargin / contractMargin ----------------------------------------------------------------------------------


def test_product_and_contract_margins_are_day_margins_while_the_session_is_open(desk: Desk) -> None:
    # Arrange
    product_id = desk.api.find("product", "ES", desk.demo)["id"]
    # Act
    product = desk.api.item("productMargin", product_id, desk.demo)
    contract = desk.api.item("contractMargin", desk.front, desk.demo)
    # Assert
    assert (product["initialMargin"], product["maintenanceMargin"]) == (ES_DAY, ES_DAY)
    assert (contract["initialMargin"], contract["maintenanceMargin"]) == (ES_DAY, ES_DAY)
    assert desk.api.deps("productMargin", product_id, desk.demo) == [product]
    micro = desk.api.item("productMargin", desk.api.find("product", "MES", desk.demo)["id"], desk.demo)
    assert micro["initialMargin"] == 50.0
    assert len(desk.api.entities("productMargin", desk.demo)) == len(desk.api.entities("product", desk.demo))


def test_margins_are_the_exchanges_when_the_session_is_closed(desk: Desk) -> None:
    # Act
    desk.api.set_clock(SATURDAY, desk.admin)
    # Assert
    contract = desk.api.item("contractMargin", desk.front, desk.demo)
    assert (contract["initialMargin"], contract["maintenanceMargin"]) == (ES_INITIAL, ES_MAINTENANCE)


# --- marginSnapshot ------------------------------------------------------------------------------------------------


async def test_a_fill_sends_the_margin_snapshot_of_the_new_position(desk: Desk, ws: Opener) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    client = await ws(desk.demo)
    snapshot = await client.sync({"accounts": [desk.demo1]})
    assert [m["initialMargin"] for m in snapshot["marginSnapshots"] if m["id"] == desk.demo1] == [0.0]
    # Act
    desk.place(order(desk.demo1, qty=2))
    # Assert
    event = await client.event(lambda e: e.kind == "props" and e.data["entityType"] == "marginSnapshot")
    margin = event.data["entity"]
    assert (margin["id"], margin["initialMargin"], margin["maintenanceMargin"]) == (desk.demo1, 1000.0, 1000.0)
    assert (margin["fullInitialMargin"], margin["positionMargin"]) == (2 * ES_INITIAL, 1000.0)
    kinds = [p["entityType"] for p in client.props()]
    assert kinds.index("position") < kinds.index("marginSnapshot")
    cash = desk.api.call("cashBalance/getcashbalancesnapshot", {"accountId": desk.demo1}, desk.demo)
    assert (cash["initialMargin"], cash["maintenanceMargin"], cash["fullInitialMargin"]) == (1000.0, 1000.0,
                                                                                            2 * ES_INITIAL)


async def test_the_session_close_switches_a_held_position_to_the_exchanges_margins(desk: Desk, ws: Opener) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    desk.place(order(desk.demo1))
    client = await ws(desk.demo)
    await client.sync({"accounts": [desk.demo1]})
    # Act
    desk.api.set_clock(SATURDAY, desk.admin)
    # Assert
    event = await client.event(lambda e: e.kind == "props" and e.data["entityType"] == "marginSnapshot")
    margin = event.data["entity"]
    assert (margin["initialMargin"], margin["maintenanceMargin"]) == (ES_INITIAL, ES_MAINTENANCE)
    assert margin_snapshot(desk, desk.demo1)["initialMargin"] == ES_INITIAL


def test_closing_the_position_brings_the_margin_back_to_zero(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    desk.place(order(desk.demo1, qty=3))
    assert margin_snapshot(desk, desk.demo1, desk.demo)["initialMargin"] == 3 * ES_DAY
    # Act
    desk.place(order(desk.demo1, action="Sell", qty=3))
    # Assert
    assert margin_snapshot(desk, desk.demo1, desk.demo)["initialMargin"] == 0.0


# --- the margin check ---------------------------------------------------------------------------------------------


def test_an_order_needing_exactly_the_available_funds_is_accepted(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    account_id, token = create_account(desk, "justenough", ES_DAY)
    # Act
    result = desk.place(order(account_id), token)
    # Assert
    assert "failureReason" not in result, result
    assert [p["netPos"] for p in desk.api.deps("position", account_id, token)] == [1]


def test_an_order_a_cent_short_of_the_margin_is_refused(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    account_id, token = create_account(desk, "centshort", ES_DAY - 0.01)
    # Act
    result = desk.place(order(account_id), token)
    # Assert
    assert result["failureReason"] == "OtherExecutionRelated"
    assert "Insufficient margin" in result["failureText"] and "499.99" in result["failureText"]
    assert desk.api.item("order", result["orderId"], token)["ordStatus"] == "Rejected"
    assert desk.api.deps("position", account_id, token) == []


def test_a_reducing_order_is_accepted_with_no_funds_left(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    account_id, token = create_account(desk, "nofunds", ES_DAY)
    desk.place(order(account_id, qty=1), token)
    desk.api.call("cashBalance/changedemobalance", {"accountId": account_id, "cashChange": -5_000.0}, desk.admin)
    opening = desk.place(order(account_id, qty=1), token)
    assert opening["failureReason"] == "OtherExecutionRelated"
    # Act
    closing = desk.place(order(account_id, action="Sell", qty=1), token)
    # Assert
    assert "failureReason" not in closing, closing
    assert [p["netPos"] for p in desk.api.deps("position", account_id, token)] == [0]


def test_working_orders_reserve_margin(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    account_id, token = create_account(desk, "reserver", 2 * ES_DAY)
    first = desk.place(limit(account_id, 6700.0), token)
    second = desk.place(limit(account_id, 6700.0), token)
    # Act
    third = desk.place(limit(account_id, 6700.0), token)
    sell = desk.place(limit(account_id, 6900.0, action="Sell"), token)
    # Assert
    assert "failureReason" not in first and "failureReason" not in second
    assert third["failureReason"] == "OtherExecutionRelated"
    assert "failureReason" not in sell, sell  # short 1 at worst: within the long side's reservation
    modified = desk.api.call("order/modifyorder", {"orderId": first["orderId"], "orderQty": 2,
                                                   "orderType": "Limit", "price": 6700.0}, token)
    assert modified["failureReason"] == "OtherExecutionRelated"


# --- order/dryrun ----------------------------------------------------------------------------------------------------


def test_dry_run_answers_the_margin_of_the_orders_and_leaves_no_trace(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    desk.place(order(desk.demo1, qty=1))
    orders_before = desk.api.deps("order", desk.demo1, desk.demo)
    cash_before = desk.cash(desk.demo1)
    # Act
    answer = dry_run(desk, desk.demo1, [es(desk, qty=2), es(desk, "Sell", 1)])
    # Assert
    assert answer["rejectReason"] == "Success"
    details = answer["details"]
    assert (details["beforeInitialMarginReq"], details["initialMarginReq"]) == (ES_DAY, 3 * ES_DAY)
    assert (details["beforeNetPos"], details["hypoLongPos"], details["hypoShortPos"]) == (1, 3, 0)
    assert details["isExitOrder"] is False
    assert details["netLiqValue"] == details["totalCash"] + details["futuresOpenPnL"]
    assert details["excess"] == round(details["netLiqValue"] - 3 * ES_DAY, 2)
    assert answer["fees"]["commission"] == round(3 * 0.59, 2)
    assert desk.api.deps("order", desk.demo1, desk.demo) == orders_before
    assert desk.cash(desk.demo1) == cash_before


def test_dry_run_names_the_reason_an_order_would_be_refused(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=BID, ask=ASK)
    account_id, token = create_account(desk, "dryshort", ES_DAY - 0.01)
    # Act
    short = dry_run(desk, account_id, [es(desk)], token)
    exit_only = dry_run(desk, desk.demo1, [es(desk, "Sell")])
    # Assert
    assert short["rejectReason"] == "OtherExecutionRelated" and short["details"]["excess"] == -0.01
    assert exit_only["rejectReason"] == "Success" and exit_only["details"]["isExitOrder"] is False  # opens a short
    desk.api.set_clock(SATURDAY, desk.admin)
    assert dry_run(desk, desk.demo1, [es(desk)])["rejectReason"] == "SessionClosed"


def test_dry_run_refuses_bad_input_and_other_peoples_accounts(desk: Desk) -> None:
    # Act
    five = desk.api.post("/v1/order/dryrun", {"accountId": desk.demo1, "orders": [es(desk)] * 5}, desk.demo)
    none = desk.api.post("/v1/order/dryrun", {"accountId": desk.demo1, "orders": []}, desk.demo)
    hidden = desk.api.post("/v1/order/dryrun", {"accountId": desk.template, "orders": [es(desk)]}, desk.demo)
    unknown = dry_run(desk, desk.demo1, [{**es(desk), "contractId": 987654}])
    # Assert
    assert five.status_code == 400 and "orders" in five.json()["errorText"]
    assert none.status_code == 400 and "orders" in none.json()["errorText"]
    assert hidden.status_code == 404
    assert unknown["rejectReason"] == "InvalidContract" and "orders[0].contractId" in unknown["errorText"]
