"""The client's typed surface, derived from `model/api.py` and `model/kinds.py`.

How the types come through (mypy --strict sees every one, no `Any` for a named operation):

- A named operation (`api.Order.place_order`, an `Operation[PlaceOrder, PlaceOrderResult | Violations]`) is a
  descriptor: read through a group bound to a blocking client (`Group[Blocking]`) it is a
  `(PlaceOrder) -> PlaceOrderResult | Violations`, through an asyncio one (`Group[Awaiting]`) a
  `(PlaceOrder) -> Awaitable[PlaceOrderResult | Violations]` (`Operation.__get__` in model/api.py). So each group
  here is the model's group class mixed with `Group[M]`: a new operation declared in model/api.py is a typed method
  of both clients with nothing written here.
- The generic entity queries of a kind are `Entities[E, M]`: `item`, `items`, `list`, `find`, `suggest`, `deps`,
  `ldeps`, each typed by the entity Struct `E` and by the mode (overloads on `self`). One implementation serves both
  modes: the transport it calls returns the result, or an awaitable of it.
- `Api[M]` names one attribute per group and per kind with queries (snake_case of Tradovate's name:
  `client.cash_balance`, `client.position`); `Tradovate` is an `Api[Blocking]`, `AsyncTradovate` an `Api[Awaiting]`.
  The attributes are built from these annotations; tests/client/test_surface.py checks they cover every group of
  model/api.py and every kind of model/kinds.py that answers queries (a new group or kind fails it until it is
  named here: one line).

A query a kind does not answer (`contract/list`) raises `TradovateError` before anything is sent.
"""

import builtins
import re
from collections.abc import Awaitable
from typing import Any, Generic, TypeVar, get_origin, get_type_hints, overload

from tradovate_sim.client.errors import TradovateError
from tradovate_sim.model import api
from tradovate_sim.model import entities as en
from tradovate_sim.model import queries as qs
from tradovate_sim.model.api import Awaiting, Blocking, Group, Operation, Transport
from tradovate_sim.model.kinds import KIND_NAMED, QUERY_OF_OPERATION, Kind

E = TypeVar("E")
M = TypeVar("M")


class Entities(Group[M], Generic[E, M]):
    """The generic queries (`<kind>/item`, `/list`...) of one entity kind, typed by its Struct `E`."""

    def __init__(self, transport: Transport, kind: Kind | None = None) -> None:
        super().__init__(transport)
        if kind is None:
            raise TypeError("an entity accessor needs its kind")
        self.kind = kind
        self.operations: dict[str, Operation[Any, Any]] = {}

    def query(self, operation: str, request: object) -> Any:
        if QUERY_OF_OPERATION[operation] not in self.kind.queries:
            raise TradovateError(f"{self.kind.name}/{operation} is not served")
        found = self.operations.get(operation)
        if found is None:
            found = self.operations[operation] = api.entity_query(self.kind, operation)
        return self.transport(found, request)

    @overload
    def item(self: "Entities[E, Blocking]", id: int) -> E: ...
    @overload
    def item(self: "Entities[E, Awaiting]", id: int) -> Awaitable[E]: ...
    def item(self, id: int) -> Any:
        """`<kind>/item?id=`: 404 (`NotFound`) when there is none the caller may see."""
        return self.query("item", qs.ItemQuery(id))

    @overload
    def items(self: "Entities[E, Blocking]", ids: builtins.list[int]) -> builtins.list[E]: ...
    @overload
    def items(self: "Entities[E, Awaiting]", ids: builtins.list[int]) -> Awaitable[builtins.list[E]]: ...
    def items(self, ids: builtins.list[int]) -> Any:
        return self.query("items", qs.ItemsQuery(ids))

    @overload
    def list(self: "Entities[E, Blocking]") -> builtins.list[E]: ...
    @overload
    def list(self: "Entities[E, Awaiting]") -> Awaitable[builtins.list[E]]: ...
    def list(self) -> Any:
        return self.query("list", qs.NoParameters())

    @overload
    def find(self: "Entities[E, Blocking]", name: str) -> E: ...
    @overload
    def find(self: "Entities[E, Awaiting]", name: str) -> Awaitable[E]: ...
    def find(self, name: str) -> Any:
        return self.query("find", qs.FindQuery(name))

    @overload
    def suggest(self: "Entities[E, Blocking]", t: str, l: int = 10) -> builtins.list[E]: ...  # noqa: E741
    @overload
    def suggest(self: "Entities[E, Awaiting]", t: str, l: int = 10) -> Awaitable[builtins.list[E]]: ...  # noqa: E741
    def suggest(self, t: str, l: int = 10) -> Any:  # noqa: E741 - Tradovate's parameters
        return self.query("suggest", qs.SuggestQuery(t, l))

    @overload
    def deps(self: "Entities[E, Blocking]", masterid: int) -> builtins.list[E]: ...
    @overload
    def deps(self: "Entities[E, Awaiting]", masterid: int) -> Awaitable[builtins.list[E]]: ...
    def deps(self, masterid: int) -> Any:
        return self.query("deps", qs.DepsQuery(masterid))

    @overload
    def ldeps(self: "Entities[E, Blocking]", masterids: builtins.list[int]) -> builtins.list[E]: ...
    @overload
    def ldeps(self: "Entities[E, Awaiting]", masterids: builtins.list[int]) -> Awaitable[builtins.list[E]]: ...
    def ldeps(self, masterids: builtins.list[int]) -> Any:
        return self.query("ldeps", qs.LdepsQuery(masterids))


# --- each model group, with its kind's queries where the kind answers them -------------------------------------------


class UserAccess(api.User, Entities[en.User, M]):
    """`api.User`'s operations and the `user` queries."""


class AccountAccess(api.Account, Entities[en.Account, M]):
    """`api.Account`'s operations and the `account` queries."""


class AccountRiskStatusAccess(api.AccountRiskStatus, Entities[en.AccountRiskStatus, M]):
    """`api.AccountRiskStatus`'s operations and the `accountRiskStatus` queries."""


class CashBalanceAccess(api.CashBalance, Entities[en.CashBalance, M]):
    """`api.CashBalance`'s operations and the `cashBalance` queries."""


class OrderAccess(api.Order, Entities[en.Order, M]):
    """`api.Order`'s operations and the `order` queries."""


class OrderStrategyAccess(api.OrderStrategy, Entities[en.OrderStrategy, M]):
    """`api.OrderStrategy`'s operations and the `orderStrategy` queries."""


class ContractAccess(api.Contract, Entities[en.Contract, M]):
    """`api.Contract`'s operations (rolls, fee parameters) and the `contract` queries."""


class UserAccountAutoLiqAccess(api.UserAccountAutoLiq, Entities[en.UserAccountAutoLiq, M]):
    """`api.UserAccountAutoLiq`'s operations and the `userAccountAutoLiq` queries."""


class UserAccountPositionLimitAccess(api.UserAccountPositionLimit, Entities[en.UserAccountPositionLimit, M]):
    """`api.UserAccountPositionLimit`'s operations and the `userAccountPositionLimit` queries."""


class UserAccountRiskParameterAccess(api.UserAccountRiskParameter, Entities[en.UserAccountRiskParameter, M]):
    """`api.UserAccountRiskParameter`'s operations and the `userAccountRiskParameter` queries."""


class AuthAccess(api.Auth, Group[M]):
    """`api.Auth`'s operations."""


class FundTransactionAccess(api.FundTransaction, Group[M]):
    """`api.FundTransaction`'s operations."""

class SimulatorAccess(api.Simulator, Group[M]):
    """`api.Simulator`'s controls (`/sim/...`: this server only; an organization admin's token)."""


class Api(Generic[M]):
    """One attribute per group of model/api.py (the socket's own operations aside) and per kind with queries."""

    organization: Entities[en.Organization, M]
    user: UserAccess[M]
    user_property: Entities[en.UserProperty, M]
    account: AccountAccess[M]
    trading_permission: Entities[en.TradingPermission, M]
    account_risk_status: AccountRiskStatusAccess[M]
    cash_balance: CashBalanceAccess[M]
    margin_snapshot: Entities[en.MarginSnapshot, M]
    currency: Entities[en.Currency, M]
    risk_category: Entities[en.RiskCategory, M]
    exchange: Entities[en.Exchange, M]
    product: Entities[en.Product, M]
    product_session: Entities[en.ProductSession, M]
    product_margin: Entities[en.ProductMargin, M]
    contract_maturity: Entities[en.ContractMaturity, M]
    contract: ContractAccess[M]
    contract_margin: Entities[en.ContractMargin, M]
    order: OrderAccess[M]
    order_version: Entities[en.OrderVersion, M]
    order_strategy_type: Entities[en.OrderStrategyType, M]
    order_strategy: OrderStrategyAccess[M]
    order_strategy_link: Entities[en.OrderStrategyLink, M]
    command: Entities[en.Command, M]
    command_report: Entities[en.CommandReport, M]
    execution_report: Entities[en.ExecutionReport, M]
    position: Entities[en.Position, M]
    fill: Entities[en.Fill, M]
    fill_fee: Entities[en.FillFee, M]
    fill_pair: Entities[en.FillPair, M]
    cash_balance_log: Entities[en.CashBalanceLog, M]
    user_account_auto_liq: UserAccountAutoLiqAccess[M]
    permissioned_account_auto_liq: Entities[en.PermissionedAccountAutoLiq, M]
    user_account_position_limit: UserAccountPositionLimitAccess[M]
    user_account_risk_parameter: UserAccountRiskParameterAccess[M]
    auto_liq_transaction: Entities[en.AutoLiqTransaction, M]
    account_risk_status_log: Entities[en.AccountRiskStatusLog, M]
    admin_alert: Entities[en.AdminAlert, M]
    admin_alert_signal: Entities[en.AdminAlertSignal, M]
    auth: AuthAccess[M]
    fund_transaction: FundTransactionAccess[M]
    sim: SimulatorAccess[M]


def snake(name: str) -> str:
    """`cashBalance` -> `cash_balance`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def bind(client: object, transport: Transport) -> None:
    """Set each accessor `client`'s class annotates (an `Api`'s attributes) to one bound to `transport`."""
    kinds = {snake(name): kind for name, kind in KIND_NAMED.items()}
    for name, hint in get_type_hints(type(client)).items():
        origin = get_origin(hint) or hint
        if isinstance(origin, type) and issubclass(origin, Entities):
            setattr(client, name, origin(transport, kinds[name]))
        elif isinstance(origin, type) and issubclass(origin, Group):
            setattr(client, name, origin(transport))
