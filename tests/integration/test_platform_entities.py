"""Entity queries over HTTP: item/items/list/find/deps/ldeps/suggest, visibility, 404s and case-insensitive paths."""

import pytest
from server import BACK, FRONT, Desk, evaluation_account, order

EQUITY_ROOTS = ("ES", "MES", "NQ", "MNQ", "YM", "MYM", "RTY", "M2K")
CATALOGUE_ROOTS = (*EQUITY_ROOTS, "CL", "MCL", "NG", "GC", "MGC", "SI", "6E", "ZN")


def test_account_list_shows_only_own_accounts_when_caller_is_a_trader(desk: Desk) -> None:
    accounts = desk.api.entities("account", desk.demo)
    assert sorted((a["name"], a["userId"]) for a in accounts) == [("DEMO1", desk.demo_user),
                                                                  ("DEMO2", desk.demo_user)]


def test_account_list_shows_every_organization_account_when_caller_is_the_admin(desk: Desk) -> None:
    accounts = desk.api.entities("account", desk.admin)
    assert sorted(a["name"] for a in accounts) == ["DEMO1", "DEMO2", "TEMPLATE"]


def test_account_json_carries_current_and_legacy_flags_when_account_is_open(desk: Desk) -> None:
    account = desk.api.item("account", desk.demo1, desk.demo)
    assert (account["name"], account["closed"], account["restricted"]) == ("DEMO1", False, False)
    assert (account["active"], account["archived"]) == (True, False)
    assert account["accountType"] == "Customer"


@pytest.mark.parametrize("operation", ["account/item", "account/find", "accountRiskStatus/item",
                                       "cashBalance/item", "tradingPermission/item"])
def test_template_account_is_invisible_when_a_trader_asks_for_it(desk: Desk, operation: str) -> None:
    # Arrange
    template_cash = desk.cash(desk.template)["id"]
    template_permission = next(p["id"] for p in desk.api.entities("tradingPermission", desk.admin)
                               if p["accountId"] == desk.template)
    ids = {"account/item": desk.template, "accountRiskStatus/item": desk.template, "cashBalance/item": template_cash,
           "tradingPermission/item": template_permission}
    params = {"name": "TEMPLATE"} if operation.endswith("find") else {"id": ids[operation]}
    # Act
    response = desk.api.get(f"/v1/{operation}", desk.demo, **params)
    # Assert
    assert response.status_code == 404
    assert desk.api.get(f"/v1/{operation}", desk.admin, **params).status_code == 200


@pytest.mark.parametrize("entity_type", ["account", "contract", "product", "order", "orderVersion", "fill",
                                         "position", "user", "cashBalance", "executionReport", "exchange"])
def test_item_is_404_when_id_is_unknown(desk: Desk, entity_type: str) -> None:
    response = desk.api.get(f"/v1/{entity_type}/item", desk.admin, id=987654)
    assert response.status_code == 404
    assert "987654" in response.json()["errorText"]


def test_items_returns_only_known_visible_ids_when_asked_for_a_mix(desk: Desk) -> None:
    ids = f"{desk.template},{desk.demo1},{desk.demo2},987654"
    found = desk.api.query("account/items", desk.demo, ids=ids)
    assert sorted(a["id"] for a in found) == sorted([desk.demo1, desk.demo2])


def test_deps_and_ldeps_list_accounts_of_their_users_when_asked_by_admin(desk: Desk) -> None:
    deps = desk.api.deps("account", desk.demo_user, desk.admin)
    ldeps = desk.api.query("account/ldeps", desk.admin, masterids=f"{desk.admin_user},{desk.demo_user}")
    assert sorted(a["name"] for a in deps) == ["DEMO1", "DEMO2"]
    assert sorted(a["name"] for a in ldeps) == ["DEMO1", "DEMO2", "TEMPLATE"]


def test_ldeps_hides_other_users_accounts_when_asked_by_a_trader(desk: Desk) -> None:
    ldeps = desk.api.query("account/ldeps", desk.demo, masterids=f"{desk.admin_user},{desk.demo_user}")
    assert sorted(a["name"] for a in ldeps) == ["DEMO1", "DEMO2"]


def test_suggest_finds_contracts_containing_the_text_when_limited(desk: Desk) -> None:
    found = desk.api.query("contract/suggest", desk.demo, t="esz", l=10)
    one = desk.api.query("contract/suggest", desk.demo, t="esz", l=1)
    assert sorted(c["name"] for c in found) == ["ESZ6", "MESZ6"]
    assert [c["name"] for c in one] == ["ESZ6"]


def test_contract_find_leads_to_its_maturity_product_and_exchange_when_named(desk: Desk) -> None:
    # Act
    contract = desk.api.find("contract", FRONT, desk.demo)
    maturity = desk.api.item("contractMaturity", contract["contractMaturityId"], desk.demo)
    product = desk.api.item("product", maturity["productId"], desk.demo)
    exchange = desk.api.item("exchange", product["exchangeId"], desk.demo)
    session = desk.api.item("productSession", product["id"], desk.demo)
    # Assert
    assert contract["id"] == desk.front
    assert (maturity["expirationMonth"], maturity["expirationDate"], maturity["isFront"]) == (
        202612, "2026-12-18T00:00:00.000Z", True)
    assert (product["name"], product["tickSize"], product["valuePerPoint"]) == ("ES", 0.25, 50.0)
    assert (product["productType"], product["currencyId"]) == ("Futures", 1)
    assert exchange["name"] == "CME"
    assert session["id"] == product["id"]


def test_back_month_is_not_front_when_two_maturities_are_listed(desk: Desk) -> None:
    back = desk.api.find("contract", BACK, desk.demo)
    maturity = desk.api.item("contractMaturity", back["contractMaturityId"], desk.demo)
    assert (maturity["expirationMonth"], maturity["expirationDate"], maturity["isFront"]) == (
        202703, "2027-03-19T00:00:00.000Z", False)


@pytest.mark.parametrize("root", CATALOGUE_ROOTS)
def test_catalogue_product_has_its_two_nearest_maturities_listed_when_clock_is_set(desk: Desk, root: str) -> None:
    product = desk.api.find("product", root, desk.demo)
    maturities = desk.api.deps("contractMaturity", product["id"], desk.demo)
    contracts = [c for m in maturities for c in desk.api.deps("contract", m["id"], desk.demo)]
    assert len(maturities) == 2
    assert len(contracts) == 2
    assert all(c["name"].startswith(root) for c in contracts)
    assert sum(m["isFront"] for m in maturities) == 1


@pytest.mark.parametrize("root", EQUITY_ROOTS)
def test_equity_index_contracts_are_named_as_tradovate_names_them_when_listed(desk: Desk, root: str) -> None:
    names = {desk.api.find("contract", f"{root}{suffix}", desk.demo)["name"] for suffix in ("Z6", "H7")}
    assert names == {f"{root}Z6", f"{root}H7"}


@pytest.mark.parametrize("path", ["/v1/account/list", "/v1/Account/List", "/v1/ACCOUNT/LIST",
                                  "/v1/account/list/"])
def test_path_matches_case_insensitively_when_spelled_differently(desk: Desk, path: str) -> None:
    response = desk.api.get(path, desk.demo)
    assert response.status_code == 200
    assert sorted(a["name"] for a in response.json()) == ["DEMO1", "DEMO2"]


@pytest.mark.parametrize("operation", ["order/placeOrder", "order/placeorder", "Order/PlaceOrder"])
def test_place_order_path_matches_case_insensitively_when_spelled_differently(desk: Desk, operation: str) -> None:
    desk.quote()
    result = desk.place(order(desk.demo1), operation=operation)
    assert desk.status(result["orderId"]) == "Filled"


@pytest.mark.parametrize("path", ["/v1/nosuch/item", "/v1/order/nosuch", "/v1/contract/list", "/v1/order"])
def test_unknown_operation_is_404_when_called(desk: Desk, path: str) -> None:
    assert desk.api.get(path, desk.demo).status_code == 404


def test_user_list_shows_only_the_caller_when_caller_is_a_trader(desk: Desk) -> None:
    users = desk.api.entities("user", desk.demo)
    assert [(u["id"], u["name"]) for u in users] == [(desk.demo_user, "demo")]
    assert desk.api.get("/v1/user/item", desk.demo, id=desk.admin_user).status_code == 404


def test_trader_sees_permissions_balances_and_risk_status_when_they_belong_to_own_accounts(desk: Desk) -> None:
    # Act
    permissions = desk.api.entities("tradingPermission", desk.demo)
    balances = desk.api.entities("cashBalance", desk.demo)
    statuses = desk.api.entities("accountRiskStatus", desk.demo)
    # Assert
    own = sorted([desk.demo1, desk.demo2])
    assert sorted(p["accountId"] for p in permissions) == own
    assert {p["status"] for p in permissions} == {"Approved"}
    assert sorted((b["accountId"], b["amount"]) for b in balances) == [(desk.demo1, 50_000.0),
                                                                         (desk.demo2, 50_000.0)]
    assert sorted((s["id"], s["adminAction"]) for s in statuses) == [(desk.demo1, "Normal"),
                                                                       (desk.demo2, "Normal")]


def test_orders_fills_and_positions_are_hidden_when_they_belong_to_another_trader(desk: Desk) -> None:
    # Arrange: a second trader with an account trades
    other_user = desk.create_user("other")
    created = desk.api.call("user/createevaluationaccounts", {
        "accounts": [evaluation_account(other_user, desk.template, "OTHER1")]}, desk.admin)
    other_account = created["results"][0]["accountId"]
    other = desk.api.token("other", "other-pw")
    desk.quote()
    order_id = desk.place(order(other_account), token=other)["orderId"]
    fill_id = desk.api.deps("fill", order_id, other)[0]["id"]
    # Act / Assert
    for entity_type, entity_id in (("order", order_id), ("fill", fill_id), ("account", other_account)):
        assert desk.api.get(f"/v1/{entity_type}/item", desk.demo, id=entity_id).status_code == 404
        assert desk.api.get(f"/v1/{entity_type}/item", other, id=entity_id).status_code == 200
        assert desk.api.get(f"/v1/{entity_type}/item", desk.admin, id=entity_id).status_code == 200
    assert desk.api.entities("order", desk.demo) == []
    assert desk.api.entities("position", desk.demo) == []
    assert desk.api.deps("position", other_account, desk.demo) == []


def test_order_trail_is_listed_by_deps_when_an_order_filled(desk: Desk) -> None:
    # Arrange
    desk.quote()
    order_id = desk.place(order(desk.demo1, qty=2))["orderId"]
    # Act
    versions = desk.api.deps("orderVersion", order_id, desk.demo)
    fills = desk.fills(order_id)
    reports = [r for r in desk.api.entities("executionReport", desk.demo) if r["orderId"] == order_id]
    fees = desk.api.query("fillFee/item", desk.demo, id=fills[0]["id"])
    # Assert
    assert [(v["orderQty"], v["orderType"]) for v in versions] == [(2, "Market")]
    assert [(f["qty"], f["price"], f["action"]) for f in fills] == [(2, 6800.25, "Buy")]
    assert [r["execType"] for r in reports] == ["New", "Trade"]
    assert (fees["commission"], fees["exchangeFee"], fees["clearingFee"], fees["nfaFee"]) == (1.18, 2.76, 0.2, 0.04)
