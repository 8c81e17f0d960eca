"""Partner provisioning over HTTP: evaluation users and accounts with their risk settings, demo balances, revoked
permissions, and the organization-admin-only guard."""

from collections.abc import Callable

import pytest
from server import (
    JSON,
    START_BALANCE,
    Desk,
    evaluation_account,
    evaluation_user,
    limit,
    order,
    position_limit,
)


def create_trader(desk: Desk, name: str, **account: object) -> tuple[int, int, int, str]:
    """An evaluation user with one account made from TEMPLATE: (user id, account id, permission id, token)."""
    user_id = desk.create_user(name)
    created = desk.api.call("user/createevaluationaccounts", {
        "accounts": [evaluation_account(user_id, desk.template, f"{name.upper()}-1", **account)]}, desk.admin)
    result = created["results"][0]
    assert set(result) == {"accountId", "tradingPermissionId"}, result
    return user_id, result["accountId"], result["tradingPermissionId"], desk.api.token(name, f"{name}-pw")


def test_evaluation_users_are_created_and_can_log_in_when_names_are_new(desk: Desk) -> None:
    # Act
    result = desk.api.call("user/createevaluationusers", {"users": [evaluation_user("eva1"),
                                                                   evaluation_user("eva2")]}, desk.admin)
    # Assert
    ids = [r["userId"] for r in result["results"]]
    assert len(set(ids)) == 2 and all(isinstance(i, int) for i in ids)
    user = desk.api.item("user", ids[0], desk.admin)
    assert (user["name"], user["email"], user["status"]) == ("eva1", "eva1@example.com", "Active")
    login = desk.api.login("eva1", "eva1-pw")
    assert login["userId"] == ids[0]
    assert desk.api.query("auth/me", login["accessToken"])["name"] == "eva1"
    assert desk.api.entities("account", login["accessToken"]) == []


def test_duplicate_users_are_rejected_in_the_results_when_a_name_is_taken(desk: Desk) -> None:
    # Act
    result = desk.api.call("user/createevaluationusers", {
        "users": [evaluation_user("dup"), evaluation_user("dup"), evaluation_user("demo"), evaluation_user("DUP")]},
        desk.admin)
    # Assert
    first, *others = result["results"]
    assert set(first) == {"userId"}
    assert [set(r) for r in others] == [{"errorText"}] * 3
    assert "demo" in others[1]["errorText"]
    assert sorted(u["name"] for u in desk.api.entities("user", desk.admin)) == ["admin", "demo", "dup"]


def test_evaluation_account_is_funded_and_tradable_when_made_from_the_template(desk: Desk) -> None:
    # Act
    user_id, account_id, permission_id, token = create_trader(desk, "funded", initial_balance=25_000.0)
    # Assert
    account = desk.api.item("account", account_id, desk.admin)
    assert (account["name"], account["userId"], account["closed"], account["active"]) == (
        "FUNDED-1", user_id, False, True)
    assert account["evaluationSize"] == 25_000.0
    permission = desk.api.item("tradingPermission", permission_id, desk.admin)
    assert (permission["userId"], permission["accountId"], permission["status"]) == (user_id, account_id, "Approved")
    assert desk.api.item("accountRiskStatus", account_id, token)["adminAction"] == "Normal"
    assert [a["id"] for a in desk.api.entities("account", token)] == [account_id]
    assert desk.snapshot(account_id, token)["totalCashValue"] == 25_000.0
    desk.quote()
    assert desk.place(order(account_id), token=token).keys() == {"orderId"}


def test_pre_and_post_trade_risk_are_stored_as_their_entities_when_an_account_is_created(desk: Desk) -> None:
    # Act
    _, account_id, _, token = create_trader(
        desk, "risky",
        preTradeRisk=[position_limit(contract_id=desk.front, long_limit=2, short_limit=1, description="ES cap",
                                     parameters=[{"contractId": desk.front, "maxOpeningOrderQty": 3,
                                                  "maxClosingOrderQty": 5}])],
        postTradeRisk={"dailyLossAutoLiq": 500.0, "trailingMaxDrawdown": 2000.0, "doNotUnlock": True})
    # Assert
    limits = desk.api.deps("userAccountPositionLimit", account_id, desk.admin)
    assert [(x["totalBy"], x["contractId"], x["longLimit"], x["shortLimit"], x["active"], x["description"])
            for x in limits] == [("Contract", desk.front, 2, 1, True, "ES cap")]
    params = desk.api.deps("userAccountRiskParameter", limits[0]["id"], desk.admin)
    assert [(p["contractId"], p["maxOpeningOrderQty"], p["maxClosingOrderQty"]) for p in params] == [
        (desk.front, 3, 5)]
    auto_liq = desk.api.item("userAccountAutoLiq", account_id, token)
    assert (auto_liq["dailyLossAutoLiq"], auto_liq["trailingMaxDrawdown"], auto_liq["doNotUnlock"]) == (
        500.0, 2000.0, True)


def test_pre_trade_risk_refuses_orders_over_the_stored_limits_when_an_evaluation_account_trades(desk: Desk) -> None:
    # Arrange: long limit 2, max opening order qty 3
    _, account_id, _, token = create_trader(
        desk, "limited", preTradeRisk=[position_limit(contract_id=desk.front, long_limit=2, short_limit=2, parameters=[
            {"contractId": desk.front, "maxOpeningOrderQty": 3}])])
    desk.quote()
    # Act
    too_big = desk.place(order(account_id, qty=4), token=token)
    too_long = desk.place(order(account_id, qty=3), token=token)
    fits = desk.place(order(account_id, qty=2), token=token)
    one_more = desk.place(order(account_id, qty=1), token=token)
    reduces = desk.place(order(account_id, action="Sell", qty=2), token=token)
    # Assert
    assert too_big["failureReason"] == "MaxOrderQtyLimitReached"
    assert too_long["failureReason"] == "MaxPosLimitReached"
    assert one_more["failureReason"] == "MaxPosLimitReached"
    assert "failureReason" not in fits and "failureReason" not in reduces
    statuses = [desk.api.item("order", r["orderId"], token)["ordStatus"]
                for r in (too_big, too_long, fits, one_more, reduces)]
    assert statuses == ["Rejected", "Rejected", "Filled", "Rejected", "Filled"]


def test_working_orders_count_toward_the_position_limit_when_they_could_fill(desk: Desk) -> None:
    _, account_id, _, token = create_trader(
        desk, "resting", preTradeRisk=[position_limit(contract_id=desk.front, long_limit=2)])
    desk.quote()
    desk.place(limit(account_id, 6790.0, qty=2), token=token)
    assert desk.place(limit(account_id, 6789.0), token=token)["failureReason"] == "MaxPosLimitReached"


@pytest.mark.parametrize(("account_of", "error_names"), [
    (lambda d, user: evaluation_account(user, d.template, "DEMO1"), "name"),
    (lambda d, user: evaluation_account(user, 987654, "NEWACC"), "templateAccountId"),
    (lambda d, user: evaluation_account(987654, d.template, "NEWACC"), "userId"),
], ids=["taken-name", "unknown-template", "unknown-user"])
def test_evaluation_account_is_rejected_in_the_results_when_it_cannot_be_made(
        desk: Desk, account_of: Callable[[Desk, int], JSON], error_names: str) -> None:
    # Arrange
    user_id = desk.create_user("unlucky")
    # Act
    result = desk.api.call("user/createevaluationaccounts", {"accounts": [account_of(desk, user_id)]}, desk.admin)
    # Assert
    assert [set(r) for r in result["results"]] == [{"errorText"}]
    assert result["results"][0]["errorText"].startswith(error_names)
    assert sorted(a["name"] for a in desk.api.entities("account", desk.admin)) == ["DEMO1", "DEMO2", "TEMPLATE"]


def test_demo_balance_changes_cash_and_logs_the_adjustment_when_the_admin_changes_it(desk: Desk) -> None:
    # Act
    raised = desk.api.call("cashBalance/changedemobalance", {"accountId": desk.demo1, "cashChange": 1234.5,
                                                             "comment": "top up"}, desk.admin)
    lowered = desk.api.call("cashBalance/changedemobalance", {"accountId": desk.demo1, "cashChange": -234.5},
                            desk.admin)
    # Assert
    assert raised["totalCashValue"] == START_BALANCE + 1234.5
    assert lowered["totalCashValue"] == START_BALANCE + 1000.0
    assert desk.cash(desk.demo1)["amount"] == START_BALANCE + 1000.0
    assert desk.snapshot(desk.demo1)["netLiq"] == START_BALANCE + 1000.0
    entries = desk.cash_log(desk.demo1)[1:]
    assert [(e["cashChangeType"], e["delta"], e["amount"]) for e in entries] == [
        ("ManualAdjustment", 1234.5, 51234.5), ("ManualAdjustment", -234.5, 51000.0)]
    assert (entries[0]["comment"], entries[0]["senderId"]) == ("top up", desk.admin_user)
    assert desk.cash(desk.demo2)["amount"] == START_BALANCE


def test_revoked_trader_loses_the_account_when_the_admin_revokes_the_permission(desk: Desk) -> None:
    # Arrange
    _, account_id, permission_id, token = create_trader(desk, "revoked")
    desk.quote()
    order_id = desk.place(limit(account_id, 6790.0), token=token)["orderId"]
    # Act
    result = desk.api.call("user/revoketradingpermission", {"tradingPermissionId": permission_id}, desk.admin)
    # Assert
    assert (result["tradingPermission"]["id"], result["tradingPermission"]["status"]) == (permission_id, "Revoked")
    assert desk.api.get("/v1/account/item", token, id=account_id).status_code == 404
    assert desk.api.get("/v1/order/item", token, id=order_id).status_code == 404
    assert desk.api.entities("account", token) == []
    assert desk.place(order(account_id), token=token)["failureReason"] == "Unauthorized"
    assert desk.api.call("order/cancelorder", {"orderId": order_id}, token)["failureReason"] == "UnknownReason"
    snapshot = desk.api.post("/v1/cashBalance/getcashbalancesnapshot", {"accountId": account_id}, token)
    assert snapshot.status_code == 404
    assert desk.api.item("order", order_id, desk.admin)["ordStatus"] == "Working"


def _permission_of(desk: Desk, account_id: int) -> int:
    return next(p["id"] for p in desk.api.entities("tradingPermission", desk.admin) if p["accountId"] == account_id)


ADMIN_CALLS: list[tuple[str, Callable[[Desk], JSON]]] = [
    ("user/createevaluationusers", lambda d: {"users": [evaluation_user("sneaky")]}),
    ("user/createevaluationaccounts", lambda d: {"accounts": [evaluation_account(d.demo_user, d.template, "SNEAKY")]}),
    ("cashBalance/changedemobalance", lambda d: {"accountId": d.demo1, "cashChange": 1000.0}),
    ("accountRiskStatus/setadminautoliqaction", lambda d: {"accountId": d.demo1,
                                                           "adminAction": "LockTradingImmediately"}),
    ("user/revoketradingpermission", lambda d: {"tradingPermissionId": _permission_of(d, d.demo1)}),
]


@pytest.mark.parametrize(("operation", "body_of"), ADMIN_CALLS, ids=[op for op, _ in ADMIN_CALLS])
def test_admin_operation_answers_401_and_changes_nothing_when_caller_is_a_trader(
        desk: Desk, operation: str, body_of: Callable[[Desk], JSON]) -> None:
    # Act
    response = desk.api.post(f"/v1/{operation}", body_of(desk), desk.demo)
    # Assert
    assert response.status_code == 401
    assert sorted(u["name"] for u in desk.api.entities("user", desk.admin)) == ["admin", "demo"]
    assert sorted(a["name"] for a in desk.api.entities("account", desk.admin)) == ["DEMO1", "DEMO2", "TEMPLATE"]
    assert desk.cash(desk.demo1)["amount"] == START_BALANCE
    assert desk.api.item("accountRiskStatus", desk.demo1, desk.admin)["adminAction"] == "Normal"
    assert {p["status"] for p in desk.api.entities("tradingPermission", desk.admin)} == {"Approved"}
