"""Pre-trade rules over HTTP: `userAccountPositionLimit` and `userAccountRiskParameter` create / update / delete
(admin only), their queries, bad input, and every refusal reason at the limit and one over (reducing orders never
refused), on orders and on modifies."""

from datetime import date

from server import BACK, FRONT, JSON, OPEN_TIME, Desk, evaluation_account, limit, order
from ws_client import Opener

LIMIT = "userAccountPositionLimit"
PARAM = "userAccountRiskParameter"


def add_limit(desk: Desk, **fields: object) -> JSON:
    result: JSON = desk.api.call(f"{LIMIT}/create", {"accountId": desk.demo1, "active": True, **fields}, desk.admin)
    assert "id" in result, result
    return result


def add_param(desk: Desk, limit_id: int, **fields: object) -> JSON:
    result: JSON = desk.api.call(f"{PARAM}/create", {"userAccountPositionLimitId": limit_id, **fields}, desk.admin)
    assert "id" in result, result
    return result


def refused(result: JSON) -> str | None:
    return result.get("failureReason")


def product_of(desk: Desk, symbol: str) -> int:
    contract = desk.api.find("contract", symbol, desk.admin)
    return int(desk.api.item("contractMaturity", contract["contractMaturityId"], desk.admin)["productId"])


def test_admin_creates_updates_and_deletes_limits_and_parameters_when_valid(desk: Desk) -> None:
    # Act
    created = add_limit(desk, totalBy="Contract", contractId=desk.front, longLimit=2, description="ES cap")
    param = add_param(desk, created["id"], contractId=desk.front, maxOpeningOrderQty=3)
    updated = desk.api.call(f"{LIMIT}/update", {**created, "longLimit": 5, "description": None}, desk.admin)
    param_updated = desk.api.call(f"{PARAM}/update", {**param, "maxClosingOrderQty": 4}, desk.admin)
    # Assert
    assert updated == {"id": created["id"], "accountId": desk.demo1, "active": True, "totalBy": "Contract",
                       "contractId": desk.front, "longLimit": 5}
    assert desk.api.item(LIMIT, created["id"], desk.demo) == updated  # the trader reads the account's limits
    assert desk.api.deps(PARAM, created["id"], desk.demo) == [param_updated]
    assert param_updated["maxClosingOrderQty"] == 4 and param_updated["maxOpeningOrderQty"] == 3
    # Act: deleting the limit deletes its parameters
    deleted = desk.api.call(f"{LIMIT}/deleteuseraccountpositionlimit",
                            {"userAccountPositionLimitId": created["id"]}, desk.admin)
    again = desk.api.call(f"{LIMIT}/deleteuseraccountpositionlimit",
                          {"userAccountPositionLimitId": created["id"]}, desk.admin)
    # Assert
    assert deleted == {"success": True}
    assert again["success"] is False and "no position limit" in again["errorText"]
    assert desk.api.deps(LIMIT, desk.demo1, desk.admin) == []
    assert desk.api.get(f"/v1/{PARAM}/item", desk.admin, id=param["id"]).status_code == 404
    desk.quote()
    assert refused(desk.place(order(desk.demo1, qty=6))) is None  # nothing is left to refuse it


def test_risk_parameter_is_deleted_alone_when_asked(desk: Desk) -> None:
    created = add_limit(desk, totalBy="Overall")
    param = add_param(desk, created["id"], maxOpeningOrderQty=1)

    result = desk.api.call(f"{LIMIT}/deleteuseraccountriskparameter", {"userAccountRiskParameterId": param["id"]},
                           desk.admin)

    assert result == {"success": True}
    assert desk.api.deps(PARAM, created["id"], desk.admin) == []
    assert desk.api.item(LIMIT, created["id"], desk.admin) == created


def test_only_admins_write_and_other_traders_see_nothing_when_limits_exist(desk: Desk) -> None:
    # Arrange
    created = add_limit(desk, totalBy="Overall", longLimit=1)
    user_id = desk.create_user("outsider")
    desk.api.call("user/createevaluationaccounts",
                  {"accounts": [evaluation_account(user_id, desk.template, "OUTSIDER-1")]}, desk.admin)
    outsider = desk.api.token("outsider", "outsider-pw")
    # Act / Assert
    body = {"accountId": desk.demo1, "active": True, "totalBy": "Overall", "longLimit": 100}
    assert desk.api.post(f"/v1/{LIMIT}/create", body, desk.demo).status_code == 401
    assert desk.api.post(f"/v1/{LIMIT}/update", {**body, "id": created["id"]}, desk.demo).status_code == 401
    assert desk.api.post(f"/v1/{LIMIT}/deleteuseraccountpositionlimit",
                         {"userAccountPositionLimitId": created["id"]}, desk.demo).status_code == 401
    assert desk.api.post(f"/v1/{PARAM}/create", {"userAccountPositionLimitId": created["id"]},
                         desk.demo).status_code == 401
    assert desk.api.get(f"/v1/{LIMIT}/item", outsider, id=created["id"]).status_code == 404
    assert desk.api.query(f"{LIMIT}/deps", outsider, masterid=desk.demo1) == []
    assert desk.api.item(LIMIT, created["id"], desk.admin) == created


def test_limits_that_cannot_be_enforced_are_refused_with_a_clear_text(desk: Desk) -> None:
    cases = [
        ({"totalBy": "ContractGroup", "contractGroupId": 1}, "contractGroupId"),
        ({"totalBy": "FungibleProduct"}, "not supported"),
        ({"totalBy": "DiscountGroup"}, "not supported"),
        ({"totalBy": "Product"}, "needs productId"),
        ({"totalBy": "Exchange"}, "needs exchangeId"),
        ({"totalBy": "ProductType"}, "needs productType"),
        ({"totalBy": "Contract", "contractId": 987_654}, "contractId: unknown contract 987654"),
    ]
    for body, text in cases:
        result = desk.api.call(f"{LIMIT}/create", {"accountId": desk.demo1, "active": True, **body}, desk.admin)
        assert text in result.get("errorText", ""), (body, result)
    bad = [({"totalBy": "Overall", "longLimit": -1}, "longLimit"), ({"totalBy": "Sideways"}, "totalBy"),
           ({"active": True}, "totalBy"), ({"totalBy": "Overall", "accountId": 0}, "accountId")]
    for body, field in bad:
        response = desk.api.post(f"/v1/{LIMIT}/create", {"accountId": desk.demo1, **body}, desk.admin)
        assert response.status_code == 400 and field in response.text, (body, response.text)
    response = desk.api.post(f"/v1/{LIMIT}/update", {"accountId": desk.demo1, "totalBy": "Overall"}, desk.admin)
    assert response.status_code == 400 and "id: required" in response.text, response.text
    created = add_limit(desk, totalBy="Overall")
    negative = desk.api.post(f"/v1/{PARAM}/create", {"userAccountPositionLimitId": created["id"],
                                                    "maxOpeningOrderQty": -2}, desk.admin)
    assert negative.status_code == 400 and "maxOpeningOrderQty" in negative.text
    assert desk.api.deps(LIMIT, desk.demo1, desk.admin) == [created]


def test_product_limit_spans_contract_months_and_never_refuses_reducing_orders(desk: Desk) -> None:
    # Arrange: at most 2 long across every ES month
    add_limit(desk, totalBy="Product", productId=product_of(desk, FRONT), longLimit=2, shortLimit=1)
    desk.quote()
    desk.quote(symbol=BACK, bid=6850.0, ask=6850.25)
    # Act
    first = desk.place(order(desk.demo1))
    at_limit = desk.place(order(desk.demo1, symbol=BACK))
    over = desk.place(order(desk.demo1, symbol=BACK))
    reducing = desk.place(order(desk.demo1, action="Sell", symbol=BACK))
    short_over = desk.place(order(desk.demo2, action="Sell", qty=2))
    short_at = desk.place(order(desk.demo2, action="Sell"))
    # Assert
    assert [refused(r) for r in (first, at_limit, over, reducing, short_over, short_at)] == [
        None, None, "MaxPosLimitReached", None, None, None]  # DEMO2 has no limit
    assert over["failureText"] == "Long position by Product would reach 3, over the limit 2"


def test_overall_and_exposed_limits_count_working_orders_when_they_could_fill(desk: Desk) -> None:
    # Arrange
    add_limit(desk, totalBy="Overall", longLimit=3)
    add_limit(desk, totalBy="Exchange", exchangeId=desk.api.find("exchange", "CME", desk.admin)["id"],
              exposedLimit=4)
    desk.quote()
    # Act: a resting buy of 2 counts towards the long limit; sells count towards the exposure
    resting = desk.place(limit(desk.demo1, 6700.0, qty=2))
    at_limit = desk.place(order(desk.demo1))
    over = desk.place(order(desk.demo1))
    short_at = desk.place(limit(desk.demo1, 6900.0, action="Sell", qty=5))  # -1 + 5 = 4 short after the fill
    short_over = desk.place(limit(desk.demo1, 6900.0, action="Sell", qty=2))  # 2 > the position: not reducing
    # Assert
    assert [refused(r) for r in (resting, at_limit, over, short_at, short_over)] == [
        None, None, "MaxTotalPosLimitReached", None, "MaxPosLimitReached"]


def test_order_quantity_caps_refuse_one_over_when_opening_or_closing(desk: Desk) -> None:
    created = add_limit(desk, totalBy="Overall")
    add_param(desk, created["id"], contractId=desk.front, maxOpeningOrderQty=3, maxClosingOrderQty=2)
    desk.quote()

    results = [desk.place(order(desk.demo1, qty=4)), desk.place(order(desk.demo1, qty=3)),
               desk.place(order(desk.demo1, action="Sell", qty=3)), desk.place(order(desk.demo1, action="Sell", qty=2))]

    assert [refused(r) for r in results] == ["MaxOrderQtyLimitReached", None, "MaxOrderQtyLimitReached", None]


def test_hard_limit_without_a_maximum_refuses_as_not_specified(desk: Desk) -> None:
    created = add_limit(desk, totalBy="Overall")
    add_param(desk, created["id"], productId=product_of(desk, FRONT), hardLimit=True, maxOpeningOrderQty=5)
    desk.quote()

    opening = desk.place(order(desk.demo1, qty=5))
    closing = desk.place(order(desk.demo1, action="Sell"))

    assert (refused(opening), refused(closing)) == (None, "MaxOrderQtyIsNotSpecified")


def test_back_months_are_refused_beyond_max_back_month_when_opening(desk: Desk) -> None:
    created = add_limit(desk, totalBy="Overall")
    add_param(desk, created["id"], maxBackMonth=0)
    desk.quote()
    desk.quote(symbol=BACK, bid=6850.0, ask=6850.25)

    front, back = desk.place(order(desk.demo1)), desk.place(order(desk.demo1, symbol=BACK))
    desk.api.call(f"{PARAM}/update", {**desk.api.deps(PARAM, created["id"], desk.admin)[0], "maxBackMonth": 1},
                  desk.admin)
    allowed = desk.place(order(desk.demo1, symbol=BACK))

    assert (refused(front), refused(back), refused(allowed)) == (None, "BackMonthProhibited", None)


def test_contract_is_liquidation_only_within_pre_expiration_days(desk: Desk) -> None:
    # Arrange: days from the test's trade date to ESZ6's last trade date
    contract = desk.api.find("contract", FRONT, desk.admin)
    expires = desk.api.item("contractMaturity", contract["contractMaturityId"], desk.admin)["expirationDate"]
    days_left = (date.fromisoformat(expires[:10]) - date.fromisoformat(OPEN_TIME[:10])).days
    created = add_limit(desk, totalBy="Overall")
    param = add_param(desk, created["id"], preExpirationDays=days_left - 1)
    desk.quote()
    # Act
    outside = desk.place(order(desk.demo1, qty=2))
    desk.api.call(f"{PARAM}/update", {**param, "preExpirationDays": days_left}, desk.admin)
    within = desk.place(order(desk.demo1))
    closing = desk.place(order(desk.demo1, action="Sell"))
    # Assert
    assert (refused(outside), refused(within), refused(closing)) == (None, "LiquidationOnlyBeforeExpiration", None)


def test_misconfigured_limit_refuses_opening_orders_when_created_with_an_account(desk: Desk) -> None:
    user_id = desk.create_user("grouped")
    created = desk.api.call("user/createevaluationaccounts", {"accounts": [evaluation_account(
        user_id, desk.template, "GROUPED-1", preTradeRisk=[{"totalBy": "ContractGroup", "parameters": []}])]},
        desk.admin)
    account_id = created["results"][0]["accountId"]
    desk.quote()

    result = desk.place(order(account_id), token=desk.api.token("grouped", "grouped-pw"))

    assert refused(result) == "MaxPosLimitMisconfigured" and "not supported" in result["failureText"]


def test_modify_is_refused_when_the_new_quantity_breaks_a_limit(desk: Desk) -> None:
    add_limit(desk, totalBy="Contract", contractId=desk.front, longLimit=3)
    desk.quote()
    order_id = desk.place(limit(desk.demo1, 6700.0, qty=2))["orderId"]
    body = {"orderId": order_id, "orderQty": 3, "orderType": "Limit", "price": 6700.0}

    at_limit = desk.api.call("order/modifyorder", body, desk.demo)
    over = desk.api.call("order/modifyorder", {**body, "orderQty": 4}, desk.demo)

    assert (refused(at_limit), refused(over)) == (None, "MaxPosLimitReached")
    assert desk.order(order_id)["ordStatus"] == "Working"


async def test_limit_changes_are_props_events_when_committed(desk: Desk, ws: Opener) -> None:
    trader = await ws(desk.demo)
    await trader.sync()

    created = add_limit(desk, totalBy="Overall", longLimit=2)
    param = add_param(desk, created["id"], maxOpeningOrderQty=1)
    desk.api.call(f"{LIMIT}/deleteuseraccountpositionlimit", {"userAccountPositionLimitId": created["id"]},
                  desk.admin)
    await trader.wait_until(lambda: sum(p["eventType"] == "Deleted" for p in trader.props()) == 2,
                            what="the deletions")

    events = [(p["entityType"], p["eventType"], p["entity"]["id"]) for p in trader.props()
              if p["entityType"] in (LIMIT, PARAM)]
    assert events == [(LIMIT, "Created", created["id"]), (PARAM, "Created", param["id"]),
                      (PARAM, "Deleted", param["id"]), (LIMIT, "Deleted", created["id"])]
