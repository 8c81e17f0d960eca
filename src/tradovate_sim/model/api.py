"""The API, declared once: every operation this server serves, by Tradovate's name, with its request type (a JSON
body, a query-parameter Struct, or a socket's raw text), its result type, where it is served, GET or POST, and
whether it needs a token. No handlers here: the service binds them (service/endpoints.py), and the client, the
command line and the OpenAPI document read the same declarations, so a new operation is declared once.

Operations are grouped by the entity they belong to (`Order.place_order` is `order/placeOrder`); the generic
entity queries (`position/list`, `contract/find`...) follow from `model/kinds.py` (`entity_queries`).
"""

import enum
from collections.abc import Awaitable, Callable, Iterator
from types import UnionType
from typing import Any, Generic, Literal, Protocol, TypeVar, get_args, overload

from tradovate_sim.model import entities as en
from tradovate_sim.model import queries as qs
from tradovate_sim.model import requests as rq
from tradovate_sim.model import results as rs
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

Req = TypeVar("Req")
Res = TypeVar("Res")
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
M = TypeVar("M")


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


# --- binding: an operation read through a client's group is a typed call (the client's typing machinery) ----------


class Blocking:
    """The mode of a group whose calls return their result (`tradovate_sim.client.Tradovate`)."""


class Awaiting:
    """The mode of a group whose calls return an awaitable of their result (`AsyncTradovate`, the WebSocket)."""


class Transport(Protocol):
    """What a bound group calls: one operation with its request (a result, or an awaitable of it)."""

    def __call__(self, operation: "Operation[Any, Any]", request: Any, /) -> Any: ...


class Group(Generic[M]):
    """A group of operations bound to a transport: reading `Order.place_order` through a `Group[Blocking]` gives a
    `(PlaceOrder) -> PlaceOrderResult | Violations`, through a `Group[Awaiting]` a `(PlaceOrder) -> Awaitable[...]`
    (see `Operation.__get__`). The client mixes it into each group of this module."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport


class Bound(Generic[Req, Res]):
    """An operation bound to a transport: call it with the request (none for `NoParameters`)."""

    __slots__ = ("operation", "transport")

    def __init__(self, operation: "Operation[Req, Res]", transport: Transport) -> None:
        self.operation = operation
        self.transport = transport

    def __call__(self, request: Req | None = None) -> Any:
        if request is None:
            if self.operation.request is not qs.NoParameters:
                raise TypeError(f"{self.operation.name} needs a {self.operation.request.__name__}")
            request = qs.NoParameters()  # type: ignore[assignment]
        return self.transport(self.operation, request)

    def __repr__(self) -> str:
        return f"<bound {self.operation!r}>"


class Operation(Generic[Req, Res]):
    """One operation: Tradovate's name (below `/v1`, or below `/sim`), request and result types, where it is served,
    GET or POST, and whether it is public (no token needed)."""

    __slots__ = ("method", "name", "public", "request", "result", "served", "source")

    def __init__(self, name: str, request: type[Req], result: Shape[Res], *, source: Source,
                 served: Served = Served.API, method: Literal["GET", "POST"] = "POST", public: bool = False) -> None:
        self.name = name  # as documented; matching is case-insensitive
        self.request = request
        self.result = result
        self.source = source
        self.served = served
        self.method = method
        self.public = public

    @property
    def key(self) -> str:
        """The table's key: the lower-cased name; a simulator control's method first (`get sim/quote`)."""
        name = self.name.lower()
        return f"{self.method.lower()} {name}" if self.served is Served.SIMULATOR else name

    def __repr__(self) -> str:
        return f"Operation({self.name!r}, {self.served.value}, {self.method})"

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> "Operation[Req, Res]": ...
    @overload
    def __get__(
        self: "Operation[qs.NoParameters, Res]", instance: Group[Blocking], owner: type | None = None,
    ) -> Callable[[], Res]: ...
    @overload
    def __get__(
        self: "Operation[qs.NoParameters, Res]", instance: Group[Awaiting], owner: type | None = None,
    ) -> Callable[[], Awaitable[Res]]: ...
    @overload
    def __get__(self, instance: Group[Blocking], owner: type | None = None) -> Callable[[Req], Res]: ...
    @overload
    def __get__(self, instance: Group[Awaiting], owner: type | None = None) -> Callable[[Req], Awaitable[Res]]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> "Operation[Req, Res]": ...
    def __get__(self, instance: object, owner: type | None = None) -> object:
        """Read through a class: the operation. Through a bound `Group`: a call of it (typed by the group's mode)."""
        return Bound(self, instance.transport) if isinstance(instance, Group) else self


def command(name: str, request: type[Req], result: Shape[Res]) -> Operation[Req, Res]:
    """A `/v1` operation taking a JSON body (POST); it may change state."""
    return Operation(name, request, result, source=Source.BODY)


def query(name: str, result: Shape[Res]) -> Operation[qs.NoParameters, Res]:
    """A `/v1` GET operation without parameters."""
    return Operation(name, qs.NoParameters, result, source=Source.NONE, method="GET")


def socket_only(name: str, request: type[Req], result: Shape[Res], *, source: Source = Source.BODY,
                public: bool = False) -> Operation[Req, Res]:
    return Operation(name, request, result, source=source, served=Served.SOCKET, public=public)


def control(name: str, method: Literal["GET", "POST"], request: type[Req], result: Shape[Res]) -> Operation[Req, Res]:
    source = Source.NONE if request is qs.NoParameters else Source.QUERY if method == "GET" else Source.BODY
    return Operation(name, request, result, source=source, served=Served.SIMULATOR, method=method)


_PLACED = one_of(rs.PlaceOrderResult, rs.Violations)


class Auth:
    access_token_request = Operation("auth/accessTokenRequest", rq.AccessTokenRequest, shape(rs.AccessTokenResponse),
                                     source=Source.BODY, public=True)
    renew_access_token = query("auth/renewAccessToken", shape(rs.AccessTokenResponse))
    me = query("auth/me", shape(rs.OAuthMeResponse))


class Order:
    place_order = command("order/placeOrder", rq.PlaceOrder, _PLACED)
    place_oco = command("order/placeOCO", rq.PlaceOCO, one_of(rs.PlaceOcoResult, rs.Violations))
    place_oso = command("order/placeOSO", rq.PlaceOSO, one_of(rs.PlaceOsoResult, rs.Violations))
    modify_order = command("order/modifyOrder", rq.ModifyOrder, shape(rs.CommandResult))
    cancel_order = command("order/cancelOrder", rq.CancelOrder, shape(rs.CommandResult))
    dry_run = command("order/dryRun", rq.DryRun, shape(rs.DryRunResponse))
    liquidate_position = command("order/liquidatePosition", rq.LiquidatePosition, _PLACED)
    liquidate_positions = command("order/liquidatePositions", rq.LiquidatePositions, shape(rs.SimpleResponse))


class OrderStrategy:
    start_order_strategy = command("orderStrategy/startOrderStrategy", rq.StartOrderStrategy,
                                   one_of(rs.OrderStrategyStatusResponse, rs.Violations))
    modify_order_strategy = command("orderStrategy/modifyOrderStrategy", rq.ModifyOrderStrategy,
                                    shape(rs.OrderStrategyStatusResponse))
    interrupt_order_strategy = command("orderStrategy/interruptOrderStrategy", rq.InterruptOrderStrategy,
                                       shape(rs.OrderStrategyStatusResponse))


class User:
    create_evaluation_users = command("user/createEvaluationUsers", rq.CreateEvaluationUsers,
                                      shape(rs.CreateEvaluationUsersResponse))
    create_evaluation_accounts = command("user/createEvaluationAccounts", rq.CreateEvaluationAccounts,
                                         shape(rs.CreateEvaluationAccountsResponse))
    revoke_trading_permission = command("user/revokeTradingPermission", rq.RevokeTradingPermission,
                                        shape(rs.TradingPermissionResponse))


class CashBalance:
    change_demo_balance = command("cashBalance/changeDemoBalance", rq.ChangeDemoBalance, shape(rs.CashBalanceSnapshot))
    get_cash_balance_snapshot = command("cashBalance/getCashBalanceSnapshot", rq.GetCashBalanceSnapshot,
                                        shape(rs.CashBalanceSnapshot))


class AccountRiskStatus:
    set_admin_auto_liq_action = command("accountRiskStatus/setAdminAutoLiqAction", rq.SetAdminAutoLiqAction,
                                        shape(rs.AccountRiskStatusResponse))
    reset_auto_liq_status = command("accountRiskStatus/resetAutoLiqStatus", rq.ResetAutoLiqStatus,
                                    shape(rs.AccountRiskStatusResponse))
    update_max_net_liq = command("accountRiskStatus/updateMaxNetLiq", rq.UpdateMaxNetLiq,
                                 shape(rs.AccountRiskStatusResponse))
    switch_risk_category = command("accountRiskStatus/switchRiskCategory", rq.SwitchRiskCategory,
                                   shape(rs.SimpleResponse))
    set_demo_halt = command("accountRiskStatus/setDemoHalt", rq.SetDemoHalt, shape(rs.SimpleResponse))
    set_account_notes = command("accountRiskStatus/setAccountNotes", rq.SetAccountNotes, shape(rs.SimpleResponse))


class FundTransaction:
    adjust_cash = command("fundTransaction/adjustCash", rq.AdjustCash, shape(rs.CashBalanceSnapshot))


class Account:
    reset_demo_account_state = command("account/resetDemoAccountState", rq.ResetDemoAccountState,
                                       shape(rs.SimpleResponse))


class UserAccountAutoLiq:
    create = command("userAccountAutoLiq/create", en.UserAccountAutoLiq,
                     one_of(en.UserAccountAutoLiq, rs.SimpleResponse))
    update = command("userAccountAutoLiq/update", en.UserAccountAutoLiq,
                     one_of(en.UserAccountAutoLiq, rs.SimpleResponse))
    update_user_auto_liq = command("userAccountAutoLiq/updateUserAutoLiq", rq.UpdateUserAutoLiq,
                                   shape(rs.UpdateUserAutoLiqResponse))
    update_user_auto_liqs = command("userAccountAutoLiq/updateUserAutoLiqs", rq.UpdateUserAutoLiqs,
                                    shape(rs.UpdateUserAutoLiqsResponse))


class UserAccountPositionLimit:
    create = command("userAccountPositionLimit/create", rq.UserAccountPositionLimitBody,
                     one_of(en.UserAccountPositionLimit, rs.SimpleResponse))
    update = command("userAccountPositionLimit/update", rq.UserAccountPositionLimitBody,
                     one_of(en.UserAccountPositionLimit, rs.SimpleResponse))
    delete_user_account_position_limit = command("userAccountPositionLimit/deleteUserAccountPositionLimit",
                                                 rq.DeleteUserAccountPositionLimit, shape(rs.DeleteResultResponse))
    delete_user_account_risk_parameter = command("userAccountPositionLimit/deleteUserAccountRiskParameter",
                                                 rq.DeleteUserAccountRiskParameter, shape(rs.DeleteResultResponse))


class UserAccountRiskParameter:
    create = command("userAccountRiskParameter/create", rq.UserAccountRiskParameterBody,
                     one_of(en.UserAccountRiskParameter, rs.SimpleResponse))
    update = command("userAccountRiskParameter/update", rq.UserAccountRiskParameterBody,
                     one_of(en.UserAccountRiskParameter, rs.SimpleResponse))


class Contract:
    roll_contract = command("contract/rollContract", rq.RollContract, shape(rs.RollContractResponse))
    roll_contracts = command("contract/rollContracts", rq.RollContracts, shape(rs.RollContractsResponse))
    get_product_fee_params = command("contract/getProductFeeParams", rq.GetProductFeeParams,
                                     shape(rs.ProductFeeParamsResponse))


class Socket:
    """The operations only the WebSocket serves."""

    authorize = socket_only("authorize", str, NOTHING, source=Source.TEXT, public=True)
    sync_request = socket_only("user/syncRequest", rq.SyncRequest, shape(SyncSnapshot))
    subscribe_quote = socket_only("md/subscribeQuote", MdRequest, NOTHING)
    unsubscribe_quote = socket_only("md/unsubscribeQuote", MdRequest, NOTHING)
    subscribe_dom = socket_only("md/subscribeDOM", MdRequest, NOTHING)
    unsubscribe_dom = socket_only("md/unsubscribeDOM", MdRequest, NOTHING)
    get_chart = socket_only("md/getChart", GetChart, shape(ChartSubscription))
    cancel_chart = socket_only("md/cancelChart", CancelChart, NOTHING)


class Simulator:
    """The simulator controls (`/sim/<name>`, GET or POST): outside Tradovate's API."""

    quote = control("quote", "GET", qs.QuoteQuery, shape(QuoteState))
    set_quote = control("quote", "POST", QuoteRequest, shape(QuoteState))
    clock = control("clock", "GET", qs.NoParameters, shape(ClockState))
    move_clock = control("clock", "POST", ClockRequest, shape(ClockState))
    reset = control("reset", "POST", qs.NoParameters, shape(ResetState))
    limits = control("limits", "GET", qs.NoParameters, shape(LimitsConfig))
    configure_limits = control("limits", "POST", LimitsUpdate, shape(LimitsConfig))


# The groups of named operations, in the order documentation lists them.
GROUPS: tuple[type, ...] = (Auth, Order, OrderStrategy, User, CashBalance, AccountRiskStatus, FundTransaction,
                            Account, UserAccountAutoLiq, UserAccountPositionLimit, UserAccountRiskParameter, Contract,
                            Socket, Simulator)


def operations_of(group: type) -> list[Operation[Any, Any]]:
    """A group's operations, in declaration order."""
    return [value for value in vars(group).values() if isinstance(value, Operation)]


# The request type of each generic entity query (`<kind>/<operation>`).
ENTITY_QUERY_REQUESTS: dict[str, type] = {
    "item": qs.ItemQuery, "items": qs.ItemsQuery, "list": qs.NoParameters, "find": qs.FindQuery,
    "suggest": qs.SuggestQuery, "deps": qs.DepsQuery, "ldeps": qs.LdepsQuery,
}
_SINGLE = frozenset({"item", "find"})


def entity_query(kind: Kind, operation: str) -> Operation[Any, Any]:
    """`<kind>/<operation>`: typed by the kind at run time (`Position`, `list[Position]`); statically `Any`."""
    request = ENTITY_QUERY_REQUESTS[operation]
    result: Shape[Any] = Shape(kind.struct if operation in _SINGLE else list[kind.struct])  # type: ignore[name-defined]
    source = Source.NONE if request is qs.NoParameters else Source.QUERY
    return Operation(f"{kind.name}/{operation}", request, result, source=source, method="GET")


def entity_queries() -> Iterator[tuple[Kind, Operation[Any, Any]]]:
    """Every kind's generic queries, as `model/kinds.py` declares them."""
    for kind in KINDS:
        for operation, queries in QUERY_OF_OPERATION.items():
            if queries in kind.queries:
                yield kind, entity_query(kind, operation)


def all_operations() -> list[Operation[Any, Any]]:
    """Every operation: the named ones of every group, then the generic entity queries."""
    return [*(op for group in GROUPS for op in operations_of(group)), *(op for _, op in entity_queries())]
