"""The one endpoint table: every operation this server serves, by Tradovate's name, with its request type (a JSON
body, a query-parameter Struct, or a socket's raw text), its result type, where it is served and its handler.

REST (`/v1/<name>`), the WebSocket loop and the simulator controls (`/sim/<name>`) all look operations up here; the
client, the CLI and the OpenAPI document derive from it. An entry is an `Endpoint[Req, Res]`: mypy checks that its
handler takes `Req` and returns `Res`. The `/v1` operations' handlers are here; the socket-only operations' handlers
live with the socket (server/), the simulator controls' with the app, bound to these entries by name (each entry has
exactly one, checked at start-up by `check_bound`).
"""

import enum
from collections.abc import Awaitable, Callable, Collection, Iterable
from types import UnionType
from typing import Any, Generic, Literal, TypeVar, get_args, overload

import msgspec

from tradovate_sim.core.view import Caller
from tradovate_sim.model import queries as qs
from tradovate_sim.model import requests as rq
from tradovate_sim.model import results as rs
from tradovate_sim.model.entities import (
    Entity,
    UserAccountAutoLiq,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.kinds import KINDS, QUERY_OF_OPERATION, Kind
from tradovate_sim.model.market import CancelChart, ChartSubscription, GetChart, MdRequest
from tradovate_sim.model.session import SyncSnapshot
from tradovate_sim.model.simulator import (
    ClockRequest,
    ClockState,
    LimitsConfig,
    LimitsUpdate,
    QuoteRequest,
    QuoteState,
    ResetState,
)
from tradovate_sim.service import accounts, admin, categories, entities, funds, limits, margins, orders, resets, rules
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.service.autoliquidation import AutoLiquidation
from tradovate_sim.service.identity import Identity
from tradovate_sim.service.platform import Platform

Req = TypeVar("Req")
Res = TypeVar("Res")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


class Services(msgspec.Struct, frozen=True):
    """What handlers work with; built once by the app's lifespan."""

    platform: Platform
    identity: Identity
    hashing: PasswordHashing
    autoliq: AutoLiquidation


class Served(enum.Enum):
    API = "api"  # `/v1/<name>` over REST, and over the WebSocket
    SOCKET = "socket"  # over the WebSocket only
    SIMULATOR = "simulator"  # `/sim/<name>`: our controls, outside Tradovate's API


class Source(enum.Enum):
    """Where the request is read from."""

    BODY = "body"  # a JSON body
    QUERY = "query"  # the query string
    NONE = "none"  # nothing (the request type is `NoParameters`)
    TEXT = "text"  # the socket frame's body as text (`authorize`: the token)


class Shape(Generic[Res]):
    """A result type as a type expression (a Struct, a union, a list, or None for a reply without data), typed so that
    mypy can check a handler's return type against it. Made by `shape`, `one_of`, `list_of`, `NOTHING`."""

    __slots__ = ("type",)

    def __init__(self, type_expression: object) -> None:
        self.type = type_expression

    @property
    def alternatives(self) -> tuple[object, ...]:
        """The union's members (one each for a plain type): msgspec's JSON schema takes a union of untagged Structs
        only one member at a time, so a schema of this result is the `anyOf` of theirs."""
        return get_args(self.type) if isinstance(self.type, UnionType) else (self.type,)


def shape(result: type[A]) -> Shape[A]:
    return Shape(result)


@overload
def one_of(a: type[A], b: type[B], /) -> Shape[A | B]: ...
@overload
def one_of(a: type[A], b: type[B], c: type[C], /) -> Shape[A | B | C]: ...
def one_of(*types: type) -> Shape[Any]:
    union: Any = types[0]
    for other in types[1:]:
        union = union | other
    return Shape(union)


def list_of(item: type[A]) -> Shape[list[A]]:
    return Shape(list[item])  # type: ignore[valid-type]


NOTHING: Shape[None] = Shape(None)

Handler = Callable[[Services, Caller | None, Req], Awaitable[Res]]


class Endpoint(Generic[Req, Res]):
    """One operation: Tradovate's name (below `/v1`, or below `/sim`), request and result types, where it is served,
    GET or POST, and its handler (None for socket-only and simulator entries: bound where their context lives)."""

    __slots__ = ("handler", "method", "name", "public", "request", "result", "served", "source")

    def __init__(self, name: str, request: type[Req], result: Shape[Res], handler: Handler[Req, Res] | None, *,
                 source: Source, served: Served = Served.API, method: Literal["GET", "POST"] = "POST",
                 public: bool = False) -> None:
        self.name = name  # as documented; matching is case-insensitive
        self.request = request
        self.result = result
        self.handler = handler
        self.source = source
        self.served = served
        self.method = method
        self.public = public  # no token needed

    @property
    def key(self) -> str:
        """The table's key: the lower-cased name; a simulator control's method first (`get sim/quote`)."""
        name = self.name.lower()
        return f"{self.method.lower()} {name}" if self.served is Served.SIMULATOR else name

    def __repr__(self) -> str:
        return f"Endpoint({self.name!r}, {self.served.value}, {self.method})"


Table = dict[str, Endpoint[Any, Any]]  # by `Endpoint.key`; entries are typed where they are built


def _caller(caller: Caller | None) -> Caller:
    assert caller is not None, "authenticated endpoint called without a caller"
    return caller


def command(name: str, request: type[Req], result: Shape[Res],
            run: Callable[[Services, Caller, Req], Awaitable[Res]]) -> Endpoint[Req, Res]:
    """A `/v1` operation with a JSON body that may change state: a breach it causes is carried out before the
    answer."""
    async def handler(services: Services, caller: Caller | None, body: Req) -> Res:
        result = await run(services, _caller(caller), body)
        await services.autoliq.drain()
        return result
    return Endpoint(name, request, result, handler, source=Source.BODY)


def socket_only(name: str, request: type[Req], result: Shape[Res], *, source: Source = Source.BODY,
                public: bool = False) -> Endpoint[Req, Res]:
    return Endpoint(name, request, result, None, source=source, served=Served.SOCKET, public=public)


def simulator(name: str, method: Literal["GET", "POST"], request: type[Req], result: Shape[Res]) -> Endpoint[Req, Res]:
    source = Source.NONE if request is qs.NoParameters else Source.QUERY if method == "GET" else Source.BODY
    return Endpoint(name, request, result, None, source=source, served=Served.SIMULATOR, method=method)


def _entity_query(kind: Kind, operation: str) -> Endpoint[Any, Any]:
    """`<kind>/<operation>`: typed by the kind at run time (`Position`, `list[Position]`); statically `Entity`."""
    name = f"{kind.name}/{operation}"
    one, many = Shape[Entity](kind.struct), Shape[list[Entity]](list[kind.struct])  # type: ignore[name-defined]

    def get(request: type[Req], result: Shape[Res],
            run: Callable[[Platform, Caller, Kind, Req], Res]) -> Endpoint[Req, Res]:
        async def handler(services: Services, caller: Caller | None, query: Req) -> Res:
            return run(services.platform, _caller(caller), kind, query)
        source = Source.NONE if request is qs.NoParameters else Source.QUERY
        return Endpoint(name, request, result, handler, source=source, method="GET")

    match operation:
        case "item":
            return get(qs.ItemQuery, one, entities.item)
        case "items":
            return get(qs.ItemsQuery, many, entities.items)
        case "list":
            return get(qs.NoParameters, many, entities.listed)
        case "find":
            return get(qs.FindQuery, one, entities.find)
        case "suggest":
            return get(qs.SuggestQuery, many, entities.suggest)
        case "deps":
            return get(qs.DepsQuery, many, entities.deps)
        case "ldeps":
            return get(qs.LdepsQuery, many, entities.ldeps)
    raise ValueError(f"{operation}: not an entity query")


async def _login(services: Services, _c: Caller | None, body: rq.AccessTokenRequest) -> rs.AccessTokenResponse:
    return await services.identity.login(body)


async def _renew(services: Services, caller: Caller | None, _q: qs.NoParameters) -> rs.AccessTokenResponse:
    return await services.identity.renew(_caller(caller))


async def _me(services: Services, caller: Caller | None, _q: qs.NoParameters) -> rs.OAuthMeResponse:
    return services.identity.me(_caller(caller))


def _api() -> list[Endpoint[Any, Any]]:
    placed = one_of(rs.PlaceOrderResult, rs.Violations)
    rules_result = one_of(UserAccountAutoLiq, rs.SimpleResponse)
    return [
        Endpoint("auth/accessTokenRequest", rq.AccessTokenRequest, shape(rs.AccessTokenResponse), _login,
                 source=Source.BODY, public=True),
        Endpoint("auth/renewAccessToken", qs.NoParameters, shape(rs.AccessTokenResponse), _renew,
                 source=Source.NONE, method="GET"),
        Endpoint("auth/me", qs.NoParameters, shape(rs.OAuthMeResponse), _me, source=Source.NONE, method="GET"),
        command("order/placeOrder", rq.PlaceOrder, placed, lambda s, c, b: orders.place_order(s.platform, c, b)),
        command("order/placeOCO", rq.PlaceOCO, one_of(rs.PlaceOcoResult, rs.Violations),
                lambda s, c, b: orders.place_oco(s.platform, c, b)),
        command("order/placeOSO", rq.PlaceOSO, one_of(rs.PlaceOsoResult, rs.Violations),
                lambda s, c, b: orders.place_oso(s.platform, c, b)),
        command("order/modifyOrder", rq.ModifyOrder, shape(rs.CommandResult),
                lambda s, c, b: orders.modify_order(s.platform, c, b)),
        command("order/cancelOrder", rq.CancelOrder, shape(rs.CommandResult),
                lambda s, c, b: orders.cancel_order(s.platform, c, b)),
        command("order/dryRun", rq.DryRun, shape(rs.DryRunResponse), lambda s, c, b: margins.dry_run(s.platform, c, b)),
        command("order/liquidatePosition", rq.LiquidatePosition, placed,
                lambda s, c, b: orders.liquidate_position(s.platform, c, b)),
        command("order/liquidatePositions", rq.LiquidatePositions, shape(rs.SimpleResponse),
                lambda s, c, b: orders.liquidate_positions(s.platform, c, b)),
        command("user/createEvaluationUsers", rq.CreateEvaluationUsers, shape(rs.CreateEvaluationUsersResponse),
                lambda s, c, b: accounts.create_evaluation_users(s.platform, c, s.hashing, b)),
        command("user/createEvaluationAccounts", rq.CreateEvaluationAccounts,
                shape(rs.CreateEvaluationAccountsResponse),
                lambda s, c, b: accounts.create_evaluation_accounts(s.platform, c, b)),
        command("user/revokeTradingPermission", rq.RevokeTradingPermission, shape(rs.TradingPermissionResponse),
                lambda s, c, b: accounts.revoke_trading_permission(s.platform, c, b)),
        command("cashBalance/changeDemoBalance", rq.ChangeDemoBalance, shape(rs.CashBalanceSnapshot),
                lambda s, c, b: accounts.change_demo_balance(s.platform, c, b)),
        command("cashBalance/getCashBalanceSnapshot", rq.GetCashBalanceSnapshot, shape(rs.CashBalanceSnapshot),
                lambda s, c, b: accounts.get_cash_balance_snapshot(s.platform, c, b)),
        command("accountRiskStatus/setAdminAutoLiqAction", rq.SetAdminAutoLiqAction,
                shape(rs.AccountRiskStatusResponse),
                lambda s, c, b: admin.set_admin_auto_liq_action(s.platform, c, b, s.autoliq)),
        command("accountRiskStatus/resetAutoLiqStatus", rq.ResetAutoLiqStatus, shape(rs.AccountRiskStatusResponse),
                lambda s, c, b: admin.reset_auto_liq_status(s.platform, c, b, s.autoliq)),
        command("accountRiskStatus/updateMaxNetLiq", rq.UpdateMaxNetLiq, shape(rs.AccountRiskStatusResponse),
                lambda s, c, b: admin.update_max_net_liq(s.platform, c, b, s.autoliq)),
        command("accountRiskStatus/switchRiskCategory", rq.SwitchRiskCategory, shape(rs.SimpleResponse),
                lambda s, c, b: categories.switch_risk_category(s.platform, c, b)),
        command("accountRiskStatus/setDemoHalt", rq.SetDemoHalt, shape(rs.SimpleResponse),
                lambda s, c, b: categories.set_demo_halt(s.platform, c, b)),
        command("accountRiskStatus/setAccountNotes", rq.SetAccountNotes, shape(rs.SimpleResponse),
                lambda s, c, b: admin.set_account_notes(s.platform, c, b)),
        command("fundTransaction/adjustCash", rq.AdjustCash, shape(rs.CashBalanceSnapshot),
                lambda s, c, b: funds.adjust_cash(s.platform, c, b)),
        command("account/resetDemoAccountState", rq.ResetDemoAccountState, shape(rs.SimpleResponse),
                lambda s, c, b: resets.reset_demo_account_state(s.platform, c, b, s.autoliq)),
        command("userAccountAutoLiq/create", UserAccountAutoLiq, rules_result,
                lambda s, c, b: rules.create(s.platform, c, b)),
        command("userAccountAutoLiq/update", UserAccountAutoLiq, rules_result,
                lambda s, c, b: rules.update(s.platform, c, b)),
        command("userAccountAutoLiq/updateUserAutoLiq", rq.UpdateUserAutoLiq, shape(rs.UpdateUserAutoLiqResponse),
                lambda s, c, b: rules.update_user_auto_liq(s.platform, c, b)),
        command("userAccountAutoLiq/updateUserAutoLiqs", rq.UpdateUserAutoLiqs, shape(rs.UpdateUserAutoLiqsResponse),
                lambda s, c, b: rules.update_user_auto_liqs(s.platform, c, b)),
        command("userAccountPositionLimit/create", rq.UserAccountPositionLimitBody,
                one_of(UserAccountPositionLimit, rs.SimpleResponse),
                lambda s, c, b: limits.create_position_limit(s.platform, c, b)),
        command("userAccountPositionLimit/update", rq.UserAccountPositionLimitBody,
                one_of(UserAccountPositionLimit, rs.SimpleResponse),
                lambda s, c, b: limits.update_position_limit(s.platform, c, b)),
        command("userAccountPositionLimit/deleteUserAccountPositionLimit", rq.DeleteUserAccountPositionLimit,
                shape(rs.DeleteResultResponse), lambda s, c, b: limits.delete_position_limit(s.platform, c, b)),
        command("userAccountPositionLimit/deleteUserAccountRiskParameter", rq.DeleteUserAccountRiskParameter,
                shape(rs.DeleteResultResponse), lambda s, c, b: limits.delete_risk_parameter(s.platform, c, b)),
        command("userAccountRiskParameter/create", rq.UserAccountRiskParameterBody,
                one_of(UserAccountRiskParameter, rs.SimpleResponse),
                lambda s, c, b: limits.create_risk_parameter(s.platform, c, b)),
        command("userAccountRiskParameter/update", rq.UserAccountRiskParameterBody,
                one_of(UserAccountRiskParameter, rs.SimpleResponse),
                lambda s, c, b: limits.update_risk_parameter(s.platform, c, b)),
    ]


class SocketOperations:
    """The operations only the WebSocket serves; their handlers live with the socket (server/), bound to these typed
    entries."""

    def __init__(self) -> None:
        self.authorize = socket_only("authorize", str, NOTHING, source=Source.TEXT, public=True)
        self.sync_request = socket_only("user/syncRequest", rq.SyncRequest, shape(SyncSnapshot))
        self.subscribe_quote = socket_only("md/subscribeQuote", MdRequest, NOTHING)
        self.unsubscribe_quote = socket_only("md/unsubscribeQuote", MdRequest, NOTHING)
        self.subscribe_dom = socket_only("md/subscribeDOM", MdRequest, NOTHING)
        self.unsubscribe_dom = socket_only("md/unsubscribeDOM", MdRequest, NOTHING)
        self.get_chart = socket_only("md/getChart", GetChart, shape(ChartSubscription))
        self.cancel_chart = socket_only("md/cancelChart", CancelChart, NOTHING)

    def all(self) -> list[Endpoint[Any, Any]]:
        return list(vars(self).values())


class SimulatorControls:
    """The simulator controls (`/sim/<name>`, GET or POST); their handlers live with the app (server/), bound to these
    typed entries."""

    def __init__(self) -> None:
        self.quote = simulator("quote", "GET", qs.QuoteQuery, shape(QuoteState))
        self.set_quote = simulator("quote", "POST", QuoteRequest, shape(QuoteState))
        self.clock = simulator("clock", "GET", qs.NoParameters, shape(ClockState))
        self.move_clock = simulator("clock", "POST", ClockRequest, shape(ClockState))
        self.reset = simulator("reset", "POST", qs.NoParameters, shape(ResetState))
        self.limits = simulator("limits", "GET", qs.NoParameters, shape(LimitsConfig))
        self.configure_limits = simulator("limits", "POST", LimitsUpdate, shape(LimitsConfig))

    def all(self) -> list[Endpoint[Any, Any]]:
        return list(vars(self).values())


def build() -> Table:
    """The `/v1` operations (served over REST and over the WebSocket), keyed by lower-cased name."""
    table = _api()
    for kind in KINDS:
        for operation, queries in QUERY_OF_OPERATION.items():
            if queries in kind.queries:
                table.append(_entity_query(kind, operation))
    return _keyed(table)


def build_all() -> Table:
    """The whole table: the `/v1` operations, the socket-only ones and the simulator controls, keyed by
    `Endpoint.key`."""
    return _keyed([*build().values(), *SocketOperations().all(), *SimulatorControls().all()])


def _keyed(table: list[Endpoint[Any, Any]]) -> Table:
    keyed = {endpoint.key: endpoint for endpoint in table}
    if len(keyed) != len(table):
        raise ValueError("two endpoints share a name")
    return keyed


def served(table: Table, where: Served) -> Iterable[Endpoint[Any, Any]]:
    return (endpoint for endpoint in table.values() if endpoint.served is where)


def check_bound(table: Table, where: Served, bound: Collection[str]) -> None:
    """Every entry served `where` has exactly one handler among `bound` (keys), and every key is such an entry."""
    keys = {endpoint.key for endpoint in served(table, where)}
    if keys != set(bound) or len(bound) != len(set(bound)):
        raise RuntimeError(f"{where.value} handlers: missing {sorted(keys - set(bound))}, "
                           f"unknown {sorted(set(bound) - keys)}")

