"""Bad input over HTTP: every malformed, mistyped, incomplete, out-of-range or absurd request gets a 4xx whose
`errorText` names the field (or Tradovate's HTTP-200 refusal where Tradovate answers so) — never a 500 — and
nothing is written."""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from server import ADMIN, ADMIN_PASSWORD, OPEN_TIME, Api, Desk, ServerProcess, evaluation_account, evaluation_user

Body = Callable[[Desk], Any]  # a JSON value to send, or raw bytes


@dataclass(frozen=True)
class Case:
    """One bad request: where it goes, what it sends, and the field the answer must name."""

    name: str
    path: str
    body: Body | None = None
    names: str = ""
    params: dict[str, object] = field(default_factory=dict)
    as_admin: bool = False

    def send(self, desk: Desk) -> Any:
        token = desk.admin if self.as_admin else desk.demo
        if self.body is None:
            return desk.api.get(self.path, token, **self.params)
        body = self.body(desk)
        if isinstance(body, bytes):
            return desk.api.post(self.path, token=token, raw=body)
        return desk.api.post(self.path, body, token)


def placed(**changes: Any) -> Body:
    """A valid market order on DEMO1 with `changes` applied (a value of `...` removes the field)."""
    def body(desk: Desk) -> dict[str, Any]:
        fields: dict[str, Any] = {"accountId": desk.demo1, "action": "Buy", "symbol": "ESZ6", "orderQty": 1,
                                  "orderType": "Market"}
        fields.update(changes)
        return {k: v for k, v in fields.items() if v is not ...}
    return body


def raw(text: str) -> Body:
    return lambda _desk: text.encode()


def leg_of(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"action": "Sell", "orderType": "Limit", "price": 6810.0}
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not ...}


def account_of(**changes: Any) -> Body:
    return lambda d: {"accounts": [{**evaluation_account(d.demo_user, d.template, "BAD-1"), **changes}]}


ORDER = "/v1/order/placeorder"
CASES = [
    # malformed JSON
    Case("truncated-json", ORDER, raw('{"action": "Buy", "symbol":'), "body"),
    Case("empty-body", ORDER, raw(""), "body"),
    Case("not-json", ORDER, raw("action=Buy&orderQty=1"), "body"),
    Case("nan-literal", ORDER, raw('{"accountId": 2, "action": "Buy", "symbol": "ESZ6", "orderQty": 1, '
                                   '"orderType": "Limit", "price": NaN}'), "body"),
    # wrong types
    Case("qty-as-string", ORDER, placed(orderQty="1"), "orderQty"),
    Case("qty-as-float", ORDER, placed(orderQty=1.5), "orderQty"),
    Case("qty-as-bool", ORDER, placed(orderQty=True), "orderQty"),
    Case("account-as-string", ORDER, placed(accountId="2"), "accountId"),
    Case("price-as-string", ORDER, placed(orderType="Limit", price="6800"), "price"),
    Case("automated-as-string", ORDER, placed(isAutomated="yes"), "isAutomated"),
    Case("symbol-as-list", ORDER, placed(symbol=["ESZ6"]), "symbol"),
    Case("action-null", ORDER, placed(action=None), "action"),
    Case("expire-time-garbage", ORDER, placed(expireTime="tomorrow"), "expireTime"),
    # missing required fields
    Case("missing-action", ORDER, placed(action=...), "action"),
    Case("missing-symbol", ORDER, placed(symbol=...), "symbol"),
    Case("missing-qty", ORDER, placed(orderQty=...), "orderQty"),
    Case("missing-type", ORDER, placed(orderType=...), "orderType"),
    # unknown enum values
    Case("unknown-action", ORDER, placed(action="Hold"), "action"),
    Case("unknown-order-type", ORDER, placed(orderType="Iceberg"), "orderType"),
    Case("unknown-time-in-force", ORDER, placed(timeInForce="Forever"), "timeInForce"),
    # zero, negative, absurd
    Case("zero-qty", ORDER, placed(orderQty=0), "orderQty"),
    Case("negative-qty", ORDER, placed(orderQty=-1), "orderQty"),
    Case("qty-over-a-million", ORDER, placed(orderQty=1_000_001), "orderQty"),
    Case("huge-qty", ORDER, placed(orderQty=10**12), "orderQty"),
    Case("qty-beyond-int64", ORDER, placed(orderQty=2**70), "orderQty"),
    Case("zero-account-id", ORDER, placed(accountId=0), "accountId"),
    Case("negative-account-id", ORDER, placed(accountId=-5), "accountId"),
    Case("account-id-beyond-int64", ORDER, placed(accountId=2**64), "accountId"),
    Case("negative-contract-id", ORDER, placed(symbol=-3), "symbol"),
    Case("price-out-of-range", ORDER, raw('{"accountId": 2, "action": "Buy", "symbol": "ESZ6", "orderQty": 1, '
                                          '"orderType": "Limit", "price": 1e400}'), "price"),
    Case("zero-max-show", ORDER, placed(maxShow=0), "maxShow"),
    Case("long-text", ORDER, placed(text="x" * 65), "text"),
    Case("long-tag50", ORDER, placed(customTag50="x" * 65), "customTag50"),
    Case("long-cl-ord-id", ORDER, placed(clOrdId="x" * 65), "clOrdId"),
    Case("body-over-1-mib", ORDER, raw('{"text": "' + "x" * (1 << 20) + '"}'), "body"),
    # the other order commands
    Case("cancel-negative-id", "/v1/order/cancelorder", lambda d: {"orderId": -1}, "orderId"),
    Case("cancel-id-as-string", "/v1/order/cancelorder", lambda d: {"orderId": "abc"}, "orderId"),
    Case("cancel-missing-id", "/v1/order/cancelorder", lambda d: {"clOrdId": "x"}, "orderId"),
    Case("modify-zero-qty", "/v1/order/modifyorder",
         lambda d: {"orderId": 1, "orderQty": 0, "orderType": "Limit", "price": 6800.0}, "orderQty"),
    Case("modify-unknown-type", "/v1/order/modifyorder",
         lambda d: {"orderId": 1, "orderQty": 1, "orderType": "Bogus"}, "orderType"),
    Case("modify-missing-id", "/v1/order/modifyorder",
         lambda d: {"orderQty": 1, "orderType": "Limit", "price": 6800.0}, "orderId"),
    Case("oco-missing-other", "/v1/order/placeoco", placed(orderType="Limit", price=6790.0), "other"),
    Case("oco-other-unknown-type", "/v1/order/placeoco",
         lambda d: {**placed()(d), "other": leg_of(orderType="Bogus")}, "other.orderType"),
    Case("oco-other-missing-action", "/v1/order/placeoco",
         lambda d: {**placed()(d), "other": leg_of(action=...)}, "action"),
    Case("oco-zero-qty", "/v1/order/placeoco",
         lambda d: {**placed(orderQty=0)(d), "other": leg_of()}, "orderQty"),
    Case("oso-missing-bracket", "/v1/order/placeoso", placed(), "bracket1"),
    Case("oso-bracket-unknown-action", "/v1/order/placeoso",
         lambda d: {**placed()(d), "bracket1": leg_of(action="Hold")}, "bracket1.action"),
    Case("oso-bracket-price-as-string", "/v1/order/placeoso",
         lambda d: {**placed()(d), "bracket1": leg_of(price="high")}, "bracket1.price"),
    # auth
    Case("login-name-as-number", "/v1/auth/accesstokenrequest", lambda d: {"name": 5, "password": "x"}, "name"),
    Case("login-missing-password", "/v1/auth/accesstokenrequest", lambda d: {"name": "demo"}, "password"),
    Case("login-huge-name", "/v1/auth/accesstokenrequest", lambda d: {"name": "x" * 300, "password": "x"}, "name"),
    # provisioning and accounts
    Case("users-empty", "/v1/user/createevaluationusers", lambda d: {"users": []}, "users", as_admin=True),
    Case("users-too-many", "/v1/user/createevaluationusers",
         lambda d: {"users": [evaluation_user(f"u{i}") for i in range(101)]}, "users", as_admin=True),
    Case("users-not-a-list", "/v1/user/createevaluationusers", lambda d: {"users": evaluation_user("x")}, "users",
         as_admin=True),
    Case("users-item-not-an-object", "/v1/user/createevaluationusers",
         lambda d: {"users": [evaluation_user("x"), "y"]}, "users[1]", as_admin=True),
    Case("accounts-item-not-an-object", "/v1/user/createevaluationaccounts", lambda d: {"accounts": [7]},
         "accounts[0]", as_admin=True),
    Case("balance-absurd-change", "/v1/cashBalance/changedemobalance",
         lambda d: {"accountId": d.demo1, "cashChange": 1e12}, "cashChange", as_admin=True),
    Case("balance-account-as-string", "/v1/cashBalance/changedemobalance",
         lambda d: {"accountId": "DEMO1", "cashChange": 1.0}, "accountId", as_admin=True),
    Case("balance-missing-change", "/v1/cashBalance/changedemobalance",
         lambda d: {"accountId": d.demo1}, "cashChange", as_admin=True),
    Case("admin-action-unknown", "/v1/accountRiskStatus/setadminautoliqaction",
         lambda d: {"accountId": d.demo1, "adminAction": "Bogus"}, "adminAction", as_admin=True),
    Case("admin-action-negative-account", "/v1/accountRiskStatus/setadminautoliqaction",
         lambda d: {"accountId": -1, "adminAction": "Normal"}, "accountId", as_admin=True),
    Case("revoke-zero-id", "/v1/user/revoketradingpermission", lambda d: {"tradingPermissionId": 0},
         "tradingPermissionId", as_admin=True),
    Case("snapshot-missing-account", "/v1/cashBalance/getcashbalancesnapshot", lambda d: {}, "accountId"),
    # entity queries
    Case("item-negative-id", "/v1/account/item", names="id", params={"id": -1}),
    Case("item-id-not-a-number", "/v1/account/item", names="id", params={"id": "abc"}),
    Case("item-id-fractional", "/v1/account/item", names="id", params={"id": "1.5"}),
    Case("item-missing-id", "/v1/account/item", names="id"),
    Case("items-bad-id", "/v1/account/items", names="ids", params={"ids": "2,x"}),
    Case("items-too-many", "/v1/account/items", names="ids", params={"ids": ",".join(map(str, range(1, 1002)))}),
    Case("deps-zero-master", "/v1/order/deps", names="masterid", params={"masterid": 0}),
    Case("ldeps-bad-master", "/v1/order/ldeps", names="masterids", params={"masterids": "a"}),
    Case("suggest-zero-limit", "/v1/contract/suggest", names="l", params={"t": "ES", "l": 0}),
    Case("suggest-limit-not-a-number", "/v1/contract/suggest", names="l", params={"t": "ES", "l": "x"}),
    Case("find-missing-name", "/v1/contract/find", names="name"),
    # simulator controls
    Case("sim-quote-malformed", "/sim/quote", raw('{"symbol": '), "body", as_admin=True),
    Case("sim-quote-bid-as-string", "/sim/quote", lambda d: {"symbol": "ESZ6", "bid": "x"}, "bid", as_admin=True),
    Case("sim-quote-negative-size", "/sim/quote",
         lambda d: {"symbol": "ESZ6", "bid": 6800.0, "ask": 6800.25, "askSize": -1}, "askSize", as_admin=True),
    Case("sim-clock-garbage-time", "/sim/clock", lambda d: {"now": "yesterday"}, "now", as_admin=True),
    Case("sim-clock-advance-as-string", "/sim/clock", lambda d: {"advanceSeconds": "x"}, "advanceSeconds",
         as_admin=True),
    Case("sim-clock-nothing", "/sim/clock", lambda d: {}, "now", as_admin=True),
]


def written(desk: Desk) -> dict[str, Any]:
    """Everything a bad request must leave alone."""
    api, admin = desk.api, desk.admin
    return {
        "orders": api.entities("order", admin), "positions": api.entities("position", admin),
        "balances": api.entities("cashBalance", admin), "users": api.entities("user", admin),
        "accounts": api.entities("account", admin), "risk": api.entities("accountRiskStatus", admin),
        "permissions": api.entities("tradingPermission", admin),
        "clock": api.get("/sim/clock", admin).json(),
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_request_answers_4xx_naming_the_field_and_writes_nothing_when_input_is_invalid(
        desk: Desk, case: Case) -> None:
    # Arrange
    before = written(desk)
    # Act
    response = case.send(desk)
    # Assert
    assert 400 <= response.status_code < 500, response.text
    assert case.names in response.json()["errorText"]
    assert written(desk) == before


@dataclass(frozen=True)
class ItemCase:
    """One invalid item of a provisioning batch: refused in its own result (HTTP 200), naming the field."""

    name: str
    operation: str
    body: Body
    names: str


ITEM_CASES = [
    ItemCase("user-missing-email", "user/createevaluationusers",
             lambda d: {"users": [{k: v for k, v in evaluation_user("x").items() if k != "email"}]}, "email"),
    ItemCase("user-empty-name", "user/createevaluationusers",
             lambda d: {"users": [{**evaluation_user("x"), "name": ""}]}, "name"),
    ItemCase("account-negative-balance", "user/createevaluationaccounts", account_of(initialBalance=-1.0),
             "initialBalance"),
    ItemCase("account-absurd-balance", "user/createevaluationaccounts", account_of(initialBalance=1e10),
             "initialBalance"),
    ItemCase("account-zero-template", "user/createevaluationaccounts", account_of(templateAccountId=0),
             "templateAccountId"),
    ItemCase("account-unknown-total-by", "user/createevaluationaccounts",
             account_of(preTradeRisk=[{"totalBy": "Nope", "parameters": []}]), "preTradeRisk[0].totalBy"),
    ItemCase("account-negative-long-limit", "user/createevaluationaccounts",
             account_of(preTradeRisk=[{"totalBy": "Contract", "parameters": [], "longLimit": -1}]),
             "preTradeRisk[0].longLimit"),
    ItemCase("account-negative-max-qty", "user/createevaluationaccounts",
             account_of(preTradeRisk=[{"totalBy": "Contract", "parameters": [{"maxOpeningOrderQty": -1}]}]),
             "preTradeRisk[0].parameters[0].maxOpeningOrderQty"),
]


@pytest.mark.parametrize("case", ITEM_CASES, ids=[c.name for c in ITEM_CASES])
def test_invalid_batch_item_is_refused_in_its_result_naming_the_field_and_writes_nothing(
        desk: Desk, case: ItemCase) -> None:
    # Arrange
    before = written(desk)
    # Act
    response = desk.api.post(f"/v1/{case.operation}", case.body(desk), desk.admin)
    # Assert
    assert response.status_code == 200, response.text
    [result] = response.json()["results"]
    assert result["errorText"].startswith(case.names), result
    assert written(desk) == before


NOT_OBJECTS = ["[]", "null", "1", '"order"', "true"]


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_body_that_is_not_an_object_is_named_in_the_400_when_sent(desk: Desk, text: str) -> None:
    response = desk.api.post(ORDER, token=desk.demo, raw=text.encode())
    assert response.status_code == 400
    assert response.json()["errorText"].startswith("body")


@pytest.mark.parametrize("text", NOT_OBJECTS)
def test_body_that_is_not_an_object_answers_400_and_writes_nothing_when_sent(desk: Desk, text: str) -> None:
    response = desk.api.post(ORDER, token=desk.demo, raw=text.encode())
    assert response.status_code == 400
    assert desk.api.entities("order", desk.admin) == []


MISSING = 987654


@dataclass(frozen=True)
class UnknownId:
    """A request naming an id that does not exist, and the answer Tradovate gives it."""

    name: str
    operation: str
    body: Callable[[Desk], dict[str, Any]]
    status: int
    says: str
    as_admin: bool = False


UNKNOWN_IDS = [
    UnknownId("cancel-unknown-order", "order/cancelorder", lambda d: {"orderId": MISSING}, 200, "UnknownReason"),
    UnknownId("modify-unknown-order", "order/modifyorder",
              lambda d: {"orderId": MISSING, "orderQty": 1, "orderType": "Limit", "price": 6800.0}, 200,
              "UnknownReason"),
    UnknownId("order-on-unknown-account", "order/placeorder", placed(accountId=MISSING), 200, "Unauthorized"),
    UnknownId("order-on-unknown-contract-id", "order/placeorder", placed(symbol=MISSING), 200, "InvalidContract"),
    UnknownId("snapshot-of-unknown-account", "cashBalance/getcashbalancesnapshot", lambda d: {"accountId": MISSING},
              404, str(MISSING)),
    UnknownId("balance-of-unknown-account", "cashBalance/changedemobalance",
              lambda d: {"accountId": MISSING, "cashChange": 1.0}, 404, str(MISSING), as_admin=True),
    UnknownId("admin-action-on-unknown-account", "accountRiskStatus/setadminautoliqaction",
              lambda d: {"accountId": MISSING, "adminAction": "LockTradingImmediately"}, 404, str(MISSING),
              as_admin=True),
    UnknownId("revoke-unknown-permission", "user/revoketradingpermission",
              lambda d: {"tradingPermissionId": MISSING}, 404, str(MISSING), as_admin=True),
    UnknownId("account-for-unknown-user", "user/createevaluationaccounts",
              lambda d: {"accounts": [evaluation_account(MISSING, d.template, "GHOST")]}, 200, "userId",
              as_admin=True),
]


@pytest.mark.parametrize("case", UNKNOWN_IDS, ids=[c.name for c in UNKNOWN_IDS])
def test_unknown_id_is_refused_without_writing_when_it_names_nothing(desk: Desk, case: UnknownId) -> None:
    # Arrange
    desk.quote()
    before = written(desk)
    # Act
    response = desk.api.post(f"/v1/{case.operation}", case.body(desk), desk.admin if case.as_admin else desk.demo)
    # Assert
    assert response.status_code == case.status
    assert case.says in json.dumps(response.json())
    assert written(desk) == before


ABSURD_QUOTES = [
    ("depth-levels-a-billion", {"depthLevels": 10**9, "depthSize": 1}, "depthLevels"),
    ("negative-depth-levels", {"depthLevels": -1}, "depthLevels"),
    ("negative-last-size", {"last": 6800.0, "lastSize": -5}, "lastSize"),
    ("zero-last-size", {"last": 6800.0, "lastSize": 0}, "lastSize"),
]


@pytest.mark.parametrize(("extra", "names"), [c[1:] for c in ABSURD_QUOTES], ids=[c[0] for c in ABSURD_QUOTES])
def test_absurd_quote_answers_400_naming_the_field_when_posted(desk: Desk, extra: dict[str, Any],
                                                               names: str) -> None:
    response = desk.api.post("/sim/quote", {"symbol": "ESZ6", "bid": 6800.0, "ask": 6800.25, **extra}, desk.admin)
    assert response.status_code == 400
    assert names in response.json()["errorText"]


# --- clock values that break a server: each runs against a server of its own ------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[Api, str]]:
    server = ServerProcess(tmp_path / "own.db", tmp_path / "server.log")
    server.start()
    api = Api(server.base_url)
    try:
        admin = api.token(ADMIN, ADMIN_PASSWORD)
        api.set_clock(OPEN_TIME, admin)
        yield api, admin
    finally:
        api.close()
        server.kill()


ABSURD_CLOCKS = [
    ("advance-1e300-seconds", {"advanceSeconds": 1e300}),
    ("advance-past-year-9999", {"advanceSeconds": 1e12}),
    ("year-9999", {"now": "9999-12-31T23:00:00Z"}),
    ("year-1900", {"now": "1900-01-01T00:00:00Z"}),
]


@pytest.mark.parametrize("body", [c[1] for c in ABSURD_CLOCKS], ids=[c[0] for c in ABSURD_CLOCKS])
def test_absurd_clock_answers_400_and_keeps_the_clock_when_posted(own_server: tuple[Api, str],
                                                                  body: dict[str, Any]) -> None:
    # Arrange
    api, admin = own_server
    # Act
    response = api.post("/sim/clock", body, admin)
    # Assert
    assert response.status_code == 400, response.text
    assert api.get("/sim/clock", admin).json()["now"] == "2026-11-24T15:00:00.000Z"
    assert api.login(ADMIN, ADMIN_PASSWORD).get("accessToken")
