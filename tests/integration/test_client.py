"""The typed client (`tradovate_sim.client`) against a running server, blocking and asyncio alike (`Driver`): every
named operation of model/api.py, every generic entity query of every kind, results as the model's Structs, business
failures as values, and the exception tree; tokens, renewal and the two-session rule."""

import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from client_support import MODES, Driver
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    OPEN_TIME,
    Api,
    Desk,
    ServerProcess,
    Tokens,
    evaluation_account,
    evaluation_user,
    limit,
    order,
    position_limit,
)

from tradovate_sim.client import (
    AuthError,
    BadRequestError,
    NotFoundError,
    ProtocolError,
    ServerError,
    Tradovate,
    TradovateError,
    TransportError,
)
from tradovate_sim.client.environments import DEMO as DEMO_HOSTS
from tradovate_sim.client.environments import environment
from tradovate_sim.client.groups import Api as Surface
from tradovate_sim.client.groups import Entities, snake
from tradovate_sim.model import api
from tradovate_sim.model import entities as en
from tradovate_sim.model import requests as rq
from tradovate_sim.model.enums import AdminAction, CashChangeType, FailureReason, OrderAction, OrderType, TotalBy
from tradovate_sim.model.kinds import Kind
from tradovate_sim.model.queries import QuoteQuery
from tradovate_sim.model.results import PlaceOrderResult, Violations
from tradovate_sim.model.simulator import ClockRequest, LimitsUpdate, PasswordRequest, QuoteRequest

Sample = Callable[[Desk], object]


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def demo(desk: Desk, server: ServerProcess, mode: str) -> Iterator[Driver]:
    driver = Driver(mode, server.base_url, DEMO, DEMO_PASSWORD)
    yield driver
    driver.close()


@pytest.fixture
def admin(desk: Desk, server: ServerProcess, mode: str) -> Iterator[Driver]:
    driver = Driver(mode, server.base_url, ADMIN, ADMIN_PASSWORD)
    yield driver
    driver.close()


def buy(desk: Desk, account_id: int | None = None, qty: int = 1) -> rq.PlaceOrder:
    return rq.PlaceOrder(account_id=account_id or desk.demo1, action=OrderAction.Buy, symbol=FRONT, order_qty=qty,
                         order_type=OrderType.Market, is_automated=True)


def working(desk: Desk) -> int:
    """A working buy limit below the market: its order id."""
    desk.quote()
    return int(desk.place(limit(desk.demo1, 6790.0))["orderId"])


def position_id(desk: Desk) -> int:
    desk.quote()
    desk.place(order(desk.demo1))
    return int(desk.position(desk.demo1)["id"])


def limit_id(desk: Desk) -> int:
    created = desk.api.call("userAccountPositionLimit/create",
                            {"accountId": desk.demo1, **position_limit(contract_id=desk.front, long_limit=5)},
                            desk.admin)
    return int(created["id"])


def parameter_ids(desk: Desk) -> tuple[int, int]:
    """A risk parameter: its id and its position limit's."""
    limit = limit_id(desk)
    created = desk.api.call("userAccountRiskParameter/create",
                            {"userAccountPositionLimitId": limit, "maxOpeningOrderQty": 3}, desk.admin)
    return int(created["id"]), limit


def new_account(desk: Desk) -> int:
    """An account made on the frozen clock's trade date (the seeded ones are older than it)."""
    result = desk.api.call("user/createevaluationaccounts", {"accounts": [
        evaluation_account(desk.demo_user, desk.template, "CLIENTRST")]}, desk.admin)
    return int(result["results"][0]["accountId"])


def risk_category(desk: Desk) -> int:
    return int(desk.api.query("riskCategory/list", desk.admin)[0]["id"])


def leg(action: OrderAction, order_type: OrderType, **prices: float) -> rq.RestrainedOrderVersion:
    return rq.RestrainedOrderVersion(action=action, order_type=order_type, **prices)


STRATEGY_PARAMS = ('{"entryVersion": {"orderQty": 1, "orderType": "Market"}, '
                   '"brackets": [{"qty": 1, "profitTarget": 2.5, "stopLoss": -1.25, "trailingStop": false}]}')


def strategy(desk: Desk) -> rq.StartOrderStrategy:
    desk.quote()
    return rq.StartOrderStrategy(account_id=desk.demo1, symbol=FRONT, order_strategy_type_id=2,
                                 action=OrderAction.Buy, params=STRATEGY_PARAMS)


def strategy_id(desk: Desk) -> int:
    started = desk.api.call("orderStrategy/startorderstrategy", msgspec.to_builtins(strategy(desk)), desk.demo)
    return int(started["orderStrategy"]["id"])


# Operations whose sample is refused by design (the answer is still of the declared type).
REFUSED = {api.OrderStrategy.modify_order_strategy}  # no documented command grammar: always `Unsupported`

# One request per named operation, and who sends it (a new operation in model/api.py needs one line here).
SAMPLES: dict[api.Operation[Any, Any], tuple[str, Sample]] = {
    api.Auth.access_token_request: ("demo", lambda d: rq.AccessTokenRequest(name=DEMO, password=DEMO_PASSWORD)),
    api.Auth.renew_access_token: ("demo", lambda d: None),
    api.Auth.me: ("demo", lambda d: None),
    api.Order.place_order: ("demo", lambda d: (d.quote(), buy(d))[1]),
    api.Order.place_oco: ("demo", lambda d: (d.quote(), rq.PlaceOCO(
        account_id=d.demo1, action=OrderAction.Buy, symbol=FRONT, order_qty=1, order_type=OrderType.Limit,
        price=6790.0, other=leg(OrderAction.Buy, OrderType.Stop, stop_price=6810.0)))[1]),
    api.Order.place_oso: ("demo", lambda d: (d.quote(), rq.PlaceOSO(
        account_id=d.demo1, action=OrderAction.Buy, symbol=FRONT, order_qty=1, order_type=OrderType.Limit,
        price=6790.0, bracket1=leg(OrderAction.Sell, OrderType.Limit, price=6820.0)))[1]),
    api.Order.modify_order: ("demo", lambda d: rq.ModifyOrder(order_id=working(d), order_qty=2,
                                                              order_type=OrderType.Limit, price=6791.0)),
    api.Order.cancel_order: ("demo", lambda d: rq.CancelOrder(order_id=working(d))),
    api.Order.dry_run: ("demo", lambda d: (d.quote(), rq.DryRun(account_id=d.demo1, orders=[rq.DryRunOrder(
        contract_id=d.front, action=OrderAction.Buy, order_qty=1, order_type=OrderType.Market)]))[1]),
    api.Order.liquidate_position: ("demo", lambda d: (position_id(d), rq.LiquidatePosition(
        account_id=d.demo1, contract_id=d.front, admin=False))[1]),
    api.Order.liquidate_positions: ("demo", lambda d: rq.LiquidatePositions(positions=[position_id(d)],
                                                                            admin=False)),
    api.OrderStrategy.start_order_strategy: ("demo", strategy),
    api.OrderStrategy.modify_order_strategy: ("demo", lambda d: rq.ModifyOrderStrategy(
        order_strategy_id=strategy_id(d), command="{}")),
    api.OrderStrategy.interrupt_order_strategy: ("demo", lambda d: rq.InterruptOrderStrategy(
        order_strategy_id=strategy_id(d))),
    api.Contract.roll_contract: ("demo", lambda d: rq.RollContract(name=FRONT, forward=True)),
    api.Contract.roll_contracts: ("demo", lambda d: rq.RollContracts(roll_contracts=[
        rq.RollContract(name=FRONT, forward=True), rq.RollContract(name="ES", forward=True)])),
    api.Contract.get_product_fee_params: ("demo", lambda d: rq.GetProductFeeParams(
        product_ids=[d.api.find("product", "ES", d.demo)["id"]])),
    api.User.create_evaluation_users: ("admin", lambda d: rq.CreateEvaluationUsers(
        users=[evaluation_user("clienteva")])),
    api.User.create_evaluation_accounts: ("admin", lambda d: rq.CreateEvaluationAccounts(
        accounts=[evaluation_account(d.create_user("clienteva2"), d.template, "CLIENTEVA2")])),
    api.User.revoke_trading_permission: ("admin", lambda d: rq.RevokeTradingPermission(
        trading_permission_id=d.api.deps("tradingPermission", d.demo_user, d.admin)[0]["id"])),
    api.CashBalance.change_demo_balance: ("admin", lambda d: rq.ChangeDemoBalance(account_id=d.demo1,
                                                                                  cash_change=100.0)),
    api.CashBalance.get_cash_balance_snapshot: ("demo", lambda d: rq.GetCashBalanceSnapshot(account_id=d.demo1)),
    api.AccountRiskStatus.set_admin_auto_liq_action: ("admin", lambda d: rq.SetAdminAutoLiqAction(
        account_id=d.demo1, admin_action=AdminAction.Normal)),
    api.AccountRiskStatus.reset_auto_liq_status: ("admin", lambda d: rq.ResetAutoLiqStatus(account_id=d.demo1)),
    api.AccountRiskStatus.update_max_net_liq: ("admin", lambda d: rq.UpdateMaxNetLiq(account_id=d.demo1,
                                                                                     max_net_liq=60_000.0)),
    api.AccountRiskStatus.switch_risk_category: ("admin", lambda d: rq.SwitchRiskCategory(
        account_ids=[d.demo1], risk_category_id=risk_category(d))),
    api.AccountRiskStatus.set_demo_halt: ("admin", lambda d: rq.SetDemoHalt(halt=False,
                                                                            risk_category_id=risk_category(d))),
    api.AccountRiskStatus.set_account_notes: ("admin", lambda d: rq.SetAccountNotes(account_id=d.demo1,
                                                                                    notes="watched")),
    api.FundTransaction.adjust_cash: ("admin", lambda d: rq.AdjustCash(
        account_id=d.demo1, cash_change=10.0, cash_change_type=CashChangeType.Courtesy, currency_id=1)),
    api.Account.reset_demo_account_state: ("admin", lambda d: rq.ResetDemoAccountState(
        account_ids=[new_account(d)], reset_trade_date=en.TradeDate(year=2026, month=11, day=24))),
    api.UserAccountAutoLiq.create: ("admin", lambda d: en.UserAccountAutoLiq(id=d.demo1, daily_loss_auto_liq=900.0)),
    api.UserAccountAutoLiq.update: ("admin", lambda d: (
        d.api.call("userAccountAutoLiq/create", {"id": d.demo1, "dailyLossAutoLiq": 900.0}, d.admin),
        en.UserAccountAutoLiq(id=d.demo1, daily_loss_auto_liq=800.0))[1]),
    api.UserAccountAutoLiq.update_user_auto_liq: ("admin", lambda d: rq.UpdateUserAutoLiq(
        account_id=d.demo1, daily_loss_auto_liq=700.0)),
    api.UserAccountAutoLiq.update_user_auto_liqs: ("admin", lambda d: rq.UpdateUserAutoLiqs(
        items=[{"accountId": d.demo1, "dailyLossAutoLiq": 600.0}])),
    api.UserAccountPositionLimit.create: ("admin", lambda d: rq.UserAccountPositionLimitBody(
        account_id=d.demo1, total_by=TotalBy.Contract, contract_id=d.front, long_limit=5)),
    api.UserAccountPositionLimit.update: ("admin", lambda d: rq.UserAccountPositionLimitBody(
        id=limit_id(d), account_id=d.demo1, total_by=TotalBy.Contract, contract_id=d.front, long_limit=4)),
    api.UserAccountPositionLimit.delete_user_account_position_limit: ("admin", lambda d: (
        rq.DeleteUserAccountPositionLimit(user_account_position_limit_id=limit_id(d)))),
    api.UserAccountPositionLimit.delete_user_account_risk_parameter: ("admin", lambda d: (
        rq.DeleteUserAccountRiskParameter(user_account_risk_parameter_id=parameter_ids(d)[0]))),
    api.UserAccountRiskParameter.create: ("admin", lambda d: rq.UserAccountRiskParameterBody(
        user_account_position_limit_id=limit_id(d), max_opening_order_qty=3)),
    api.UserAccountRiskParameter.update: ("admin", lambda d: (ids := parameter_ids(d), rq.UserAccountRiskParameterBody(
        id=ids[0], user_account_position_limit_id=ids[1], max_opening_order_qty=2))[1]),
    api.Simulator.quote: ("admin", lambda d: (d.quote(), QuoteQuery(symbol=FRONT))[1]),
    api.Simulator.set_quote: ("admin", lambda d: QuoteRequest(symbol=FRONT, bid=6800.0, ask=6800.25, bid_size=10,
                                                              ask_size=10)),
    api.Simulator.clock: ("admin", lambda d: None),
    api.Simulator.move_clock: ("admin", lambda d: ClockRequest(now=datetime.fromisoformat(OPEN_TIME))),
    api.Simulator.reset: ("admin", lambda d: None),
    api.Simulator.limits: ("admin", lambda d: None),
    api.Simulator.configure_limits: ("admin", lambda d: LimitsUpdate()),
    api.Simulator.set_password: ("admin", lambda d: PasswordRequest(name=DEMO, password=DEMO_PASSWORD)),  # unchanged
}
HTTP_GROUPS = [group for group in api.GROUPS if group is not api.Socket]


def named(operation: api.Operation[Any, Any]) -> tuple[str, str]:
    """The client's attribute path of a named operation: (`order`, `place_order`)."""
    for group in HTTP_GROUPS:
        for attribute, value in vars(group).items():
            if value is operation:
                return ("sim" if group is api.Simulator else snake(group.__name__)), attribute
    raise AssertionError(operation)


def test_every_named_http_operation_has_a_sample() -> None:
    assert set(SAMPLES) == {op for group in HTTP_GROUPS for op in api.operations_of(group)}


@pytest.mark.parametrize("operation", list(SAMPLES), ids=lambda op: op.key)
def test_named_operation_answers_its_declared_result(operation: api.Operation[Any, Any], desk: Desk,
                                                     server: ServerProcess, mode: str) -> None:
    role, sample = SAMPLES[operation]
    request = sample(desk)
    group, attribute = named(operation)
    driver = Driver(mode, server.base_url, *((DEMO, DEMO_PASSWORD) if role == "demo" else (ADMIN, ADMIN_PASSWORD)))
    try:
        bound = lambda c: getattr(getattr(c, group), attribute)  # noqa: E731
        result = driver(lambda c: bound(c)() if request is None else bound(c)(request))
    finally:
        driver.close()
    assert isinstance(result, tuple(operation.result.alternatives)), result
    failure = getattr(result, "failure_reason", None) or getattr(result, "error_text", None)
    assert (failure is not None) is (operation in REFUSED), result  # the others: requests the server carries out


# --- generic entity queries -------------------------------------------------------------------------------------------


QUERIED = [kind for kind, op in api.entity_queries() if op.name.endswith("/item")]


def served(kind: Kind) -> set[str]:
    return {op.name.rsplit("/", 1)[1] for k, op in api.entity_queries() if k is kind}


@pytest.fixture(scope="module")
def traded(api: Api, tokens: Tokens, server: ServerProcess) -> str:  # `api`: the harness, not the model
    """The session's server after one filled order (orders, fills, positions... exist), once for the module: the
    entity queries only read."""
    admin = tokens.of(ADMIN, ADMIN_PASSWORD)
    api.set_clock(OPEN_TIME, admin)
    api.reset(admin)
    api.set_quote(tokens.of(ADMIN, ADMIN_PASSWORD))
    account = next(a["id"] for a in api.entities("account", tokens.of(DEMO, DEMO_PASSWORD)))
    api.call("order/placeorder", order(account), tokens.of(DEMO, DEMO_PASSWORD))
    return server.base_url


@pytest.fixture(scope="module", params=MODES)
def reader(traded: str, request: pytest.FixtureRequest) -> Iterator[Driver]:
    """The admin's client of one mode, for every kind (a login hashes a password: one per mode, not per kind)."""
    driver = Driver(str(request.param), traded, ADMIN, ADMIN_PASSWORD)
    yield driver
    driver.close()


@pytest.mark.parametrize("kind", QUERIED, ids=lambda kind: kind.name)
def test_every_query_of_every_kind_answers_its_structs(kind: Kind, reader: Driver) -> None:
    admin = reader
    name = snake(kind.name)
    queries = served(kind)

    def entities(c: Any) -> Entities[Any, Any]:
        found: Entities[Any, Any] = getattr(c, name)
        return found

    def are_mine(found: list[Any]) -> bool:
        return all(isinstance(entity, kind.struct) for entity in found)

    try:
        one = admin(lambda c: entities(c).item(1))
        assert isinstance(one, kind.struct) and one.id == 1
    except NotFoundError:
        pass  # none with id 1 that the admin sees
    some = admin(lambda c: entities(c).items([1, 2]))
    assert are_mine(some) and {e.id for e in some} <= {1, 2}
    if "list" in queries:
        assert are_mine(admin(lambda c: entities(c).list()))
    else:
        with pytest.raises(TradovateError, match="is not served"):
            admin(lambda c: entities(c).list())
    if "suggest" in queries:
        suggested = admin(lambda c: entities(c).suggest("", 2))
        assert are_mine(suggested) and len(suggested) <= 2
        if suggested and "find" in queries:
            first = suggested[0]
            assert admin(lambda c: entities(c).find(first.name)).id == first.id
    if "deps" in queries:
        assert kind.master is not None
        master = kind.master
        dependents = admin(lambda c: entities(c).deps(1))
        assert are_mine(dependents) and all(getattr(e, master) == 1 for e in dependents)
        dependents = admin(lambda c: entities(c).ldeps([1, 2]))
        assert are_mine(dependents) and all(getattr(e, master) in (1, 2) for e in dependents)


def test_client_names_every_group_and_every_queried_kind() -> None:
    hints = Surface.__annotations__
    kinds = {snake(kind.name) for kind in QUERIED}
    groups = {"sim" if group is api.Simulator else snake(group.__name__) for group in HTTP_GROUPS}
    assert set(hints) == kinds | groups
    client = Tradovate("local", token="unused")
    for group in HTTP_GROUPS:
        attribute = "sim" if group is api.Simulator else snake(group.__name__)
        assert isinstance(getattr(client, attribute), group)
    for kind in QUERIED:
        accessor = getattr(client, snake(kind.name))
        assert isinstance(accessor, Entities) and accessor.kind is kind
    client.close()


# --- what a trading bot does ------------------------------------------------------------------------------------------


def test_order_fills_and_liquidation_closes_it_through_typed_calls(demo: Driver, desk: Desk) -> None:
    desk.quote()
    placed = demo(lambda c: c.order.place_order(buy(desk, qty=2)))
    assert isinstance(placed, PlaceOrderResult) and placed.order_id is not None
    positions = [p for p in demo(lambda c: c.position.deps(desk.demo1)) if p.contract_id == desk.front]
    assert [p.net_pos for p in positions] == [2]
    closed = demo(lambda c: c.order.liquidate_position(rq.LiquidatePosition(account_id=desk.demo1,
                                                                            contract_id=desk.front, admin=False)))
    assert isinstance(closed, PlaceOrderResult) and closed.failure_reason is None
    assert demo(lambda c: c.position.item(positions[0].id)).net_pos == 0
    assert demo(lambda c: c.order.item(placed.order_id)).ord_status == "Filled"
    assert demo(lambda c: c.contract.find(FRONT)).id == desk.front


def test_business_failures_are_values_when_the_server_rejects(demo: Driver, desk: Desk) -> None:
    desk.quote()
    missing = rq.PlaceOrder(action=OrderAction.Buy, symbol=FRONT, order_qty=1, order_type=OrderType.Market)
    violations = demo(lambda c: c.order.place_order(missing))
    assert isinstance(violations, Violations) and violations.violations[0].constraint == "accountId"
    unknown = msgspec.structs.replace(buy(desk), symbol="NOPE9")
    rejected = demo(lambda c: c.order.place_order(unknown))
    assert isinstance(rejected, PlaceOrderResult) and rejected.failure_reason is FailureReason.InvalidContract


def test_bad_input_raises_bad_request_naming_the_field(demo: Driver, desk: Desk) -> None:
    with pytest.raises(BadRequestError) as raised:
        demo(lambda c: c.order.place_order(msgspec.structs.replace(buy(desk), order_qty=0)))
    assert raised.value.status == 400 and "orderQty" in raised.value.message


def test_unknown_entity_raises_not_found(demo: Driver) -> None:
    with pytest.raises(NotFoundError) as raised:
        demo(lambda c: c.order.item(987654321))
    assert raised.value.status == 404 and raised.value.message


def test_simulator_controls_need_an_admin(demo: Driver) -> None:
    with pytest.raises(AuthError) as raised:
        demo(lambda c: c.sim.clock())
    assert raised.value.status == 401


def test_wrong_password_raises_auth_error_with_the_servers_text(server: ServerProcess, mode: str) -> None:
    driver = Driver(mode, server.base_url, DEMO, "wrong")
    try:
        with pytest.raises(AuthError) as raised:
            driver(lambda c: c.auth.me())
    finally:
        driver.close()
    assert raised.value.message  # the server's errorText


def test_token_only_client_works_and_raises_when_the_token_is_bad(server: ServerProcess, desk: Desk) -> None:
    with Tradovate(server.base_url, token=desk.demo) as client:
        assert client.auth.me().name == DEMO
    with Tradovate(server.base_url, token="not-a-token") as client, pytest.raises(AuthError):
        client.auth.me()


# --- tokens and sessions ----------------------------------------------------------------------------------------------


def test_token_is_renewed_before_it_expires(server: ServerProcess, desk: Desk, mode: str) -> None:
    """With `renew_before` longer than a token lives, every call renews first."""
    driver = Driver(mode, server.base_url, DEMO, DEMO_PASSWORD, renew_before=timedelta(hours=2))
    try:
        driver(lambda c: c.auth.me())
        first = driver.session.token
        assert driver(lambda c: c.auth.me()).name == DEMO
        assert driver.session.renewals >= 1 and driver.session.token != first and driver.session.logins == 1
        assert driver.session.expires > datetime.now(UTC)
    finally:
        driver.close()


def test_session_ended_by_two_newer_logins_is_replaced_once(server: ServerProcess, desk: Desk, mode: str) -> None:
    """Tradovate keeps two sessions a user: the third login ends the oldest; its client logs in again by itself."""
    driver = Driver(mode, server.base_url, DEMO, DEMO_PASSWORD)
    try:
        driver(lambda c: c.auth.me())
        desk.api.token(DEMO, DEMO_PASSWORD)
        desk.api.token(DEMO, DEMO_PASSWORD)  # the driver's session is the oldest: ended
        assert driver(lambda c: c.auth.me()).name == DEMO
        assert driver.session.logins == 2
    finally:
        driver.close()


def test_session_ended_raises_auth_error_without_relogin(server: ServerProcess, desk: Desk) -> None:
    with Tradovate(server.base_url, DEMO, DEMO_PASSWORD, relogin=False) as client:
        client.auth.me()
        desk.api.token(DEMO, DEMO_PASSWORD)
        desk.api.token(DEMO, DEMO_PASSWORD)
        with pytest.raises(AuthError):
            client.auth.me()


# --- transport and protocol errors ------------------------------------------------------------------------------------


def test_non_json_answer_raises_protocol_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>maintenance</html>"))
    with Tradovate("http://example.test", token="t", transport=transport) as client, \
            pytest.raises(ProtocolError, match="not JSON"):
        client.auth.me()


def test_server_error_carries_status_and_message() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503, json={"errorText": "Service unavailable"}))
    with Tradovate("http://example.test", token="t", transport=transport) as client, \
            pytest.raises(ServerError) as raised:
        client.auth.me()
    assert (raised.value.status, raised.value.message) == (503, "Service unavailable")


def test_server_down_raises_transport_error() -> None:
    with Tradovate("http://127.0.0.1:9", token="t", timeout=2.0) as client, pytest.raises(TransportError):
        client.auth.me()


def test_clients_share_one_tls_context_so_a_new_client_reads_no_ca_bundle(server: ServerProcess, mode: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: a first client (the process's TLS context made with it), then every new TLS context counted
    Tradovate("demo", token="t").close()
    made: list[object] = []
    real = ssl.create_default_context

    def counted(*args: Any, **options: Any) -> ssl.SSLContext:
        made.append(args or options)
        return real(*args, **options)

    monkeypatch.setattr(ssl, "create_default_context", counted)

    # Act: a client of each kind, against https hosts and this server; the local one logs in and reads
    Tradovate("live", token="t").close()
    driver = Driver(mode, server.base_url, DEMO, DEMO_PASSWORD)
    try:
        accounts = driver(lambda client: client.account.list())
    finally:
        driver.close()

    # Assert: no CA bundle read again (httpx makes a context per client otherwise: ~30 ms of CPU each)
    assert made == []
    assert {a.name for a in accounts} == {"DEMO1", "DEMO2"}


def test_presets_name_tradovates_hosts_and_urls_derive_the_socket() -> None:
    assert environment("demo") == DEMO_HOSTS
    assert DEMO_HOSTS.rest == "https://demo.tradovateapi.com"
    assert environment("live").websocket == "wss://live.tradovateapi.com/v1/websocket"
    assert environment("local").rest == "http://127.0.0.1:8000"
    assert environment("https://sim.example:8443/v1/").websocket == "wss://sim.example:8443/v1/websocket"
    with pytest.raises(ValueError, match="url"):
        environment("ftp://nope")
