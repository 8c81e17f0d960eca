"""The risk desk's remaining operations (issue 10, section 4): `fundTransaction/adjustcash`,
`account/resetdemoaccountstate`, `accountRiskStatus/setaccountnotes`, against the session's running server (frozen
clock, manual quotes; 2026-11-24 15:00 UTC is Tuesday 09:00 CT, ES open). The isolation test seeds an account of
another organization into a server of its own."""

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from server import ADMIN, ADMIN_PASSWORD, Api, Desk, ServerProcess, evaluation_account, limit, order, quote

ENTRY = 6800.25
WEDNESDAY = "2026-11-24T23:30:00Z"  # 17:30 CT: trade date Wednesday 2026-11-25, ES open
TUESDAY_DATE = {"year": 2026, "month": 11, "day": 24}
WEDNESDAY_DATE = {"year": 2026, "month": 11, "day": 25}
OUTSIDER_ACCOUNT = 950  # an account of another organization (seeded)


def make_account(desk: Desk, name: str, rules: dict[str, Any] | None = None, balance: float = 50_000.0) -> int:
    extra = {"postTradeRisk": rules} if rules is not None else {}
    result = desk.api.call("user/createevaluationaccounts", {"accounts": [
        evaluation_account(desk.demo_user, desk.template, name, initial_balance=balance, **extra)]}, desk.admin)
    return int(result["results"][0]["accountId"])


def adjust(desk: Desk, account: int, change: float, kind: str = "FundTransaction", **extra: Any) -> dict[str, Any]:
    body = {"accountId": account, "cashChange": change, "cashChangeType": kind, "currencyId": 1, **extra}
    result: dict[str, Any] = desk.api.call("fundTransaction/adjustcash", body, desk.admin)
    return result


def reset(desk: Desk, accounts: list[int], day: dict[str, int], token: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = desk.api.call("account/resetdemoaccountstate",
                                           {"accountIds": accounts, "resetTradeDate": day}, token or desk.admin)
    return result


def mark(desk: Desk, price: float) -> None:
    desk.quote(**quote(last=price, bid=price - 0.25, ask=price))


def status(desk: Desk, account: int) -> dict[str, Any]:
    return desk.api.item("accountRiskStatus", account, desk.admin)


def total_cash(desk: Desk, account: int) -> float:
    return float(desk.snapshot(account)["totalCashValue"])


# --- adjustcash ---------------------------------------------------------------------------------------------------


def test_adjustcash_credits_the_cash_and_logs_its_type_when_an_admin_asks(desk: Desk) -> None:
    # Act
    result = adjust(desk, desk.demo1, 1_250.5, "ChallengePayout", comment="payout 1")
    # Assert
    assert "errorText" not in result
    assert result["totalCashValue"] == 51_250.5
    entry = desk.cash_log(desk.demo1)[-1]
    assert (entry["cashChangeType"], entry["delta"], entry["amount"], entry["comment"]) == \
        ("ChallengePayout", 1_250.5, 51_250.5, "payout 1")
    assert total_cash(desk, desk.demo1) == 51_250.5


def test_adjustcash_answers_an_error_text_when_the_currency_is_unknown(desk: Desk) -> None:
    result = adjust(desk, desk.demo1, 10.0, currencyId=777)
    assert "currencyId" in result["errorText"]
    assert total_cash(desk, desk.demo1) == 50_000.0


def test_adjustcash_trips_no_daily_loss_or_profit_rule_when_cash_moves_in_or_out(desk: Desk) -> None:
    # Arrange: an open position and daily rules of $500 either way
    account = make_account(desk, "ADJ1", {"dailyLossAutoLiq": 500.0, "dailyProfitAutoLiq": 500.0})
    mark(desk, ENTRY)
    assert desk.place(order(account)).get("orderId")
    # Act: a deposit and a withdrawal, each beyond the rules' amounts
    adjust(desk, account, 5_000.0, "FundTransaction")
    adjust(desk, account, -8_000.0, "Debit")
    # Assert: no rule fired
    assert status(desk, account)["adminAction"] == "Normal"
    assert desk.position(account)["netPos"] == 1
    assert desk.place(order(account)).get("failureReason") is None


# --- resetdemoaccountstate --------------------------------------------------------------------------------------


def test_reset_cancels_orders_flattens_and_restores_cash_when_the_account_traded(desk: Desk) -> None:
    # Arrange: two bought, one sold at a profit, a resting limit order
    account = make_account(desk, "RST1")
    mark(desk, ENTRY)
    desk.place(order(account, qty=2))
    mark(desk, ENTRY + 1)
    desk.place(order(account, action="Sell"))
    resting = desk.place(limit(account, 6700.0))["orderId"]
    fills_before = len(desk.api.deps("fill", resting, desk.demo)) + sum(
        len(desk.api.deps("fill", o["id"], desk.demo)) for o in desk.api.deps("order", account, desk.demo))
    assert total_cash(desk, account) != 50_000.0
    # Act
    result = reset(desk, [account], TUESDAY_DATE)
    # Assert: cancelled, flat, cash back to the opening balance; nothing traded
    assert result == {"ok": True}
    assert desk.status(resting) == "Canceled"
    assert desk.position(account)["netPos"] == 0
    snapshot = desk.snapshot(account)
    assert (snapshot["totalCashValue"], snapshot["netLiq"], snapshot["openPnL"]) == (50_000.0, 50_000.0, 0.0)
    orders = desk.api.deps("order", account, desk.demo)
    assert len(orders) == 3  # no closing order was sent
    assert sum(len(desk.api.deps("fill", o["id"], desk.demo)) for o in orders) == fills_before
    assert desk.cash_log(account)[-1]["comment"] == "Account reset"
    # the account trades on from a clean book: a new buy opens one lot at its own price
    desk.place(order(account))
    position = desk.position(account)
    assert (position["netPos"], position["netPrice"]) == (1, ENTRY + 1)


def test_reset_brings_back_the_cash_of_the_start_of_the_given_trade_date(desk: Desk) -> None:
    account = make_account(desk, "RST2")
    adjust(desk, account, 1_000.0)  # Tuesday
    desk.api.set_clock(WEDNESDAY, desk.admin)
    adjust(desk, account, 500.0)  # Wednesday
    assert reset(desk, [account], WEDNESDAY_DATE) == {"ok": True}
    assert total_cash(desk, account) == 51_000.0
    assert reset(desk, [account], TUESDAY_DATE) == {"ok": True}
    assert total_cash(desk, account) == 50_000.0


def test_reset_rearms_and_unlocks_when_a_daily_loss_rule_had_fired(desk: Desk) -> None:
    # Arrange: the daily loss fired (liquidated and locked)
    account = make_account(desk, "RST3", {"dailyLossAutoLiq": 50.0})
    mark(desk, ENTRY)
    desk.place(order(account))
    mark(desk, ENTRY - 2)
    assert status(desk, account)["adminAction"] == "LockTradingImmediately"
    # Act
    assert reset(desk, [account], TUESDAY_DATE) == {"ok": True}
    # Assert: unlocked, trading again; the rule fires again on a new loss from the reset balance
    assert status(desk, account)["adminAction"] == "Normal"
    assert total_cash(desk, account) == 50_000.0
    assert desk.place(order(account)).get("failureReason") is None
    assert status(desk, account)["adminAction"] == "Normal"
    mark(desk, ENTRY - 4)
    assert status(desk, account)["adminAction"] == "LockTradingImmediately"
    assert desk.position(account)["netPos"] == 0


def test_reset_changes_nothing_when_one_account_did_not_exist_on_the_date(desk: Desk) -> None:
    # Arrange: one account of Tuesday with a position, one opened on Wednesday
    old = make_account(desk, "RST4")
    mark(desk, ENTRY)
    desk.place(order(old))
    desk.api.set_clock(WEDNESDAY, desk.admin)
    new = make_account(desk, "RST5")
    cash_before = total_cash(desk, old)
    # Act
    result = reset(desk, [old, new], TUESDAY_DATE)
    # Assert
    assert result["ok"] is False and "resetTradeDate" in result["errorText"] and str(new) in result["errorText"]
    assert desk.position(old)["netPos"] == 1
    assert total_cash(desk, old) == cash_before


def test_reset_answers_an_error_text_when_the_date_is_in_the_future(desk: Desk) -> None:
    result = reset(desk, [desk.demo1], WEDNESDAY_DATE)
    assert result["ok"] is False and "future" in result["errorText"]
    assert reset(desk, [], TUESDAY_DATE)["errorText"] == "Empty accountIds"
    too_many = reset(desk, [desk.demo1] * 1001, TUESDAY_DATE)
    assert "1000" in too_many["errorText"]


# --- setaccountnotes ----------------------------------------------------------------------------------------------


def test_setaccountnotes_keeps_the_notes_in_a_risk_status_log_when_an_admin_sets_them(desk: Desk) -> None:
    before = status(desk, desk.demo1)
    result = desk.api.call("accountRiskStatus/setaccountnotes", {"accountId": desk.demo1, "notes": "watch size"},
                           desk.admin)
    assert result == {"ok": True}
    logs = desk.api.deps("accountRiskStatusLog", desk.demo1, desk.admin)
    assert logs[-1]["notes"] == "watch size"
    assert status(desk, desk.demo1) == before


# --- who may, and bad input ---------------------------------------------------------------------------------------

OPERATIONS = {
    "fundTransaction/adjustcash": lambda a: {"accountId": a, "cashChange": 1.0, "cashChangeType": "Courtesy",
                                             "currencyId": 1},
    "account/resetdemoaccountstate": lambda a: {"accountIds": [a], "resetTradeDate": TUESDAY_DATE},
    "accountRiskStatus/setaccountnotes": lambda a: {"accountId": a, "notes": "n"},
}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_trader_is_refused_when_calling_a_desk_operation(desk: Desk, operation: str) -> None:
    response = desk.api.post(f"/v1/{operation}", OPERATIONS[operation](desk.demo1), desk.demo)
    assert response.status_code == 401
    assert total_cash(desk, desk.demo1) == 50_000.0


@pytest.mark.parametrize("operation", OPERATIONS)
def test_an_unknown_account_is_404_when_calling_a_desk_operation(desk: Desk, operation: str) -> None:
    assert desk.api.post(f"/v1/{operation}", OPERATIONS[operation](99_999), desk.admin).status_code == 404


@pytest.mark.parametrize(("operation", "body", "field"), [
    ("fundTransaction/adjustcash", {"cashChange": 100_000}, "cashChange"),
    ("fundTransaction/adjustcash", {"cashChange": -100_000}, "cashChange"),
    ("fundTransaction/adjustcash", {"cashChangeType": "Bonus"}, "cashChangeType"),
    ("fundTransaction/adjustcash", {"comment": "x" * 65}, "comment"),
    ("fundTransaction/adjustcash", {"currencyId": 0}, "currencyId"),
    ("account/resetdemoaccountstate", {"resetTradeDate": {"year": 2026, "month": 13, "day": 1}}, "resetTradeDate"),
    ("account/resetdemoaccountstate", {"accountIds": "all"}, "accountIds"),
    ("accountRiskStatus/setaccountnotes", {"notes": "x" * 8193}, "notes"),
])
def test_bad_input_is_400_naming_the_field_when_a_desk_operation_gets_it(desk: Desk, operation: str,
                                                                         body: dict[str, Any], field: str) -> None:
    response = desk.api.post(f"/v1/{operation}", {**OPERATIONS[operation](desk.demo1), **body}, desk.admin)
    assert response.status_code == 400
    assert field in response.text
    assert total_cash(desk, desk.demo1) == 50_000.0


# --- another organization's account ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outsider_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose database also holds an account of another organization."""
    directory = tmp_path_factory.mktemp("outsider")
    server = ServerProcess(directory / "sim.db", directory / "server.log")
    server.start()
    server.stop()
    stamp = '"timestamp":"2026-11-24T15:00:00Z"'
    rows = [
        ("organization", 940, '{"id":940,"name":"other-firm"}'),
        ("user", 941, f'{{"id":941,"name":"outsider",{stamp},"email":"o@example.com","status":"Active",'
                      '"professional":false,"organizationId":940}'),
        ("account", OUTSIDER_ACCOUNT, f'{{"id":{OUTSIDER_ACCOUNT},"name":"OUT1","userId":941,'
                                      '"accountType":"Customer","restricted":false,"closed":false,"active":true,'
                                      '"archived":false,"clearingHouseId":1,"riskCategoryId":1,"autoLiqProfileId":1,'
                                      f'"marginAccountType":"Speculator","legalStatus":"Individual",{stamp}}}'),
    ]
    with sqlite3.connect(server.db_path) as connection:
        connection.executemany("INSERT INTO entity VALUES (?, ?, ?)", [(t, i, b.encode()) for t, i, b in rows])
    connection.close()
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.kill()


@pytest.mark.sqlite_only  # its fixture writes rows into the SQLite file
@pytest.mark.parametrize("operation", OPERATIONS)
def test_another_organizations_account_is_404_when_an_admin_calls_a_desk_operation(
        outsider_server: ServerProcess, operation: str) -> None:
    with Api(outsider_server.base_url) as api:
        admin = api.token(ADMIN, ADMIN_PASSWORD)
        response = api.post(f"/v1/{operation}", OPERATIONS[operation](OUTSIDER_ACCOUNT), admin)
        assert response.status_code == 404
