"""Risk categories (issue 10, section 4): `riskCategory` queries, `accountRiskStatus/switchriskcategory` and
`accountRiskStatus/setDemoHalt`, against the session's running server (frozen clock in an ES session)."""

from server import Desk, order, quote

EVALUATION = 2  # the seeded categories: 1 Default, 2 Evaluation, 3 Funded


def switch(desk: Desk, accounts: list[int], category: int, token: str | None = None) -> dict[str, object]:
    response = desk.api.post("/v1/accountRiskStatus/switchriskcategory",
                             {"accountIds": accounts, "riskCategoryId": category}, token or desk.admin)
    return {"status": response.status_code, **response.json()}


def halt(desk: Desk, category: int, on: bool, token: str | None = None) -> int:
    response = desk.api.post("/v1/accountRiskStatus/setDemoHalt", {"halt": on, "riskCategoryId": category},
                             token or desk.admin)
    return response.status_code


def test_the_seeded_categories_are_listed_to_admins_and_traders(desk: Desk) -> None:
    for token in (desk.admin, desk.demo):
        names = {c["id"]: c["name"] for c in desk.api.query("riskCategory/list", token)}
        assert names == {1: "Default", 2: "Evaluation", 3: "Funded"}
    assert desk.api.item("account", desk.demo1, desk.admin)["riskCategoryId"] == 1


def test_switching_moves_the_listed_accounts_and_refuses_bad_input(desk: Desk) -> None:
    # Act
    moved = switch(desk, [desk.demo1, desk.demo1], EVALUATION)
    # Assert
    assert moved == {"status": 200, "ok": True}
    assert desk.api.item("account", desk.demo1, desk.admin)["riskCategoryId"] == EVALUATION
    assert desk.api.item("account", desk.demo2, desk.admin)["riskCategoryId"] == 1
    assert switch(desk, [], EVALUATION) == {"status": 200, "ok": False, "errorText": "Empty accountIds"}
    assert switch(desk, [desk.demo2], 99)["status"] == 404
    assert switch(desk, [desk.demo2, 999_999], EVALUATION)["status"] == 404
    assert desk.api.item("account", desk.demo2, desk.admin)["riskCategoryId"] == 1  # nothing half-applied
    assert switch(desk, [desk.demo2], EVALUATION, token=desk.demo)["status"] == 401


def test_a_halted_category_refuses_its_accounts_orders_until_resumed(desk: Desk) -> None:
    # Arrange: DEMO1 in Evaluation, DEMO2 in Default
    desk.quote(**quote())
    switch(desk, [desk.demo1], EVALUATION)
    # Act
    assert halt(desk, EVALUATION, True) == 200
    refused = desk.place(order(desk.demo1))
    accepted = desk.place(order(desk.demo2))
    # Assert
    assert refused["failureReason"] == "TradingLocked", refused
    assert "orderId" in accepted and "failureReason" not in accepted
    assert desk.api.item("riskCategory", EVALUATION, desk.admin)["demoHalt"] is True
    assert halt(desk, EVALUATION, True, token=desk.demo) == 401
    # Act: resumed
    assert halt(desk, EVALUATION, False) == 200
    again = desk.place(order(desk.demo1))
    assert "orderId" in again and "failureReason" not in again
    assert "demoHalt" not in desk.api.item("riskCategory", EVALUATION, desk.admin)


def test_an_admin_liquidation_passes_a_halt(desk: Desk) -> None:
    # Arrange: a position, then its category halted
    desk.quote(**quote())
    desk.place(order(desk.demo1))
    switch(desk, [desk.demo1], EVALUATION)
    halt(desk, EVALUATION, True)
    body = {"accountId": desk.demo1, "contractId": desk.front}
    # Act
    own = desk.place({**body, "admin": False}, operation="order/liquidatePosition")
    admin = desk.place({**body, "admin": True}, token=desk.admin, operation="order/liquidatePosition")
    # Assert
    assert own["failureReason"] == "TradingLocked"
    assert "orderId" in admin and "failureReason" not in admin
    assert desk.position(desk.demo1)["netPos"] == 0
    halt(desk, EVALUATION, False)
