"""Every entity kind this server keeps, declared once: its Struct, Tradovate's name and plural for it, its master
(for `deps`/`ldeps`), who owns it (who may see it), the generic queries it answers, and whether a sync snapshot
carries it. `KINDS` is also the load order: a kind comes after every kind its owner rule goes through.

Everything that used to be a table of its own (names, masters, owners, operations, plurals, reference data, load
order) is derived from `KINDS`; the service layer reads the owner rules against the state.
"""

import enum

import msgspec

from tradovate_sim.model.entities import (
    Account,
    AccountRiskStatus,
    AccountRiskStatusLog,
    AdminAlert,
    AdminAlertSignal,
    AutoLiqState,
    AutoLiqTransaction,
    CashBalance,
    CashBalanceLog,
    Command,
    CommandReport,
    Contract,
    ContractMargin,
    ContractMaturity,
    Credential,
    Currency,
    Entity,
    Exchange,
    ExecutionReport,
    Fill,
    FillFee,
    FillPair,
    MarginSnapshot,
    Order,
    OrderStrategy,
    OrderStrategyLink,
    OrderStrategyType,
    OrderVersion,
    Organization,
    PermissionedAccountAutoLiq,
    Position,
    Product,
    ProductMargin,
    ProductSession,
    RiskCategory,
    TradingPermission,
    User,
    UserAccountAutoLiq,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
    UserProperty,
    UserSession,
)


class Queries(enum.Flag):
    """The generic queries a kind answers (Tradovate's partner API): `/<kind>/<operation>`."""

    NONE = 0
    ITEM = enum.auto()  # item and items
    LIST = enum.auto()
    FIND = enum.auto()
    SUGGEST = enum.auto()
    DEPS = enum.auto()  # deps and ldeps; needs a master


QUERY_OF_OPERATION: dict[str, Queries] = {
    "item": Queries.ITEM, "items": Queries.ITEM, "list": Queries.LIST, "find": Queries.FIND,
    "suggest": Queries.SUGGEST, "deps": Queries.DEPS, "ldeps": Queries.DEPS,
}


# --- owner rules: who may see an entity -----------------------------------------------------------------------------


class Reference(msgspec.Struct, frozen=True):
    """Reference data (exchanges, products, contracts...): every caller sees it."""


class Internal(msgspec.Struct, frozen=True):
    """Kept by the server, never served to anyone."""


class OwnedByAccount(msgspec.Struct, frozen=True):
    """Belongs to the account whose id is in `attribute` or, with `via`, to the account of the `via` entity whose id
    is in `attribute`. Seen by the account's traders (an active trading permission) and its organization's admins."""

    attribute: str
    via: type[Entity] | None = None
    admins_only: bool = False  # seen by the organization's admins only, not by the account's traders


class OwnedByUser(msgspec.Struct, frozen=True):
    """Belongs to the user whose id is in `attribute`: seen by that user and their organization's admins."""

    attribute: str


class OwnedByOrganization(msgspec.Struct, frozen=True):
    """Belongs to the organization whose id is in `attribute`: seen by its members."""

    attribute: str


Owner = Reference | Internal | OwnedByAccount | OwnedByUser | OwnedByOrganization


class Kind(msgspec.Struct, frozen=True, kw_only=True):
    struct: type[Entity]
    name: str  # Tradovate's entity type: `props` events, URL paths, sync's entityTypes
    plural: str  # the collection's name in a sync snapshot
    owner: Owner
    master: str | None = None  # the attribute holding the master's id (deps/ldeps)
    queries: Queries = Queries.NONE
    synced: bool = False  # followed by `user/syncrequest` when it names no entity types

    def __post_init__(self) -> None:
        if (Queries.DEPS in self.queries) != (self.master is not None):
            raise ValueError(f"{self.name}: deps/ldeps are served exactly when there is a master")


_ILD = Queries.ITEM | Queries.LIST | Queries.DEPS
_ID = Queries.ITEM | Queries.DEPS
_ILFS = Queries.ITEM | Queries.LIST | Queries.FIND | Queries.SUGGEST

# In load order: masters and owners before the kinds that go through them.
KINDS: tuple[Kind, ...] = (
    Kind(struct=Organization, name="organization", plural="organizations", owner=OwnedByOrganization("id"),
         queries=_ILFS),
    Kind(struct=User, name="user", plural="users", owner=OwnedByUser("id"), queries=_ILFS, synced=True),
    Kind(struct=UserProperty, name="userProperty", plural="userProperties", owner=OwnedByUser("user_id"),
         master="user_id", queries=_ID),
    Kind(struct=Credential, name="credential", plural="credentials", owner=Internal()),
    Kind(struct=UserSession, name="userSession", plural="userSessions", owner=Internal()),
    Kind(struct=Account, name="account", plural="accounts", owner=OwnedByAccount("id"), master="user_id",
         queries=_ILFS | Queries.DEPS, synced=True),
    Kind(struct=TradingPermission, name="tradingPermission", plural="tradingPermissions",
         owner=OwnedByAccount("account_id"), master="user_id", queries=_ILD, synced=True),
    Kind(struct=AccountRiskStatus, name="accountRiskStatus", plural="accountRiskStatuses", owner=OwnedByAccount("id"),
         master="id", queries=_ILD, synced=True),
    Kind(struct=CashBalance, name="cashBalance", plural="cashBalances", owner=OwnedByAccount("account_id"),
         master="account_id", queries=_ILD, synced=True),
    Kind(struct=MarginSnapshot, name="marginSnapshot", plural="marginSnapshots", owner=OwnedByAccount("id"),
         master="id", queries=_ILD, synced=True),
    Kind(struct=Currency, name="currency", plural="currencies", owner=Reference(), queries=_ILFS, synced=True),
    Kind(struct=RiskCategory, name="riskCategory", plural="riskCategories", owner=Reference(), queries=_ILFS),
    Kind(struct=Exchange, name="exchange", plural="exchanges", owner=Reference(), queries=_ILFS, synced=True),
    Kind(struct=Product, name="product", plural="products", owner=Reference(), master="exchange_id",
         queries=_ILFS | Queries.DEPS, synced=True),
    Kind(struct=ProductSession, name="productSession", plural="productSessions", owner=Reference(), master="id",
         queries=_ID),
    Kind(struct=ProductMargin, name="productMargin", plural="productMargins", owner=Reference(), master="id",
         queries=_ILD),
    Kind(struct=ContractMaturity, name="contractMaturity", plural="contractMaturities", owner=Reference(),
         master="product_id", queries=_ID, synced=True),
    Kind(struct=Contract, name="contract", plural="contracts", owner=Reference(), master="contract_maturity_id",
         queries=Queries.ITEM | Queries.FIND | Queries.SUGGEST | Queries.DEPS, synced=True),
    Kind(struct=ContractMargin, name="contractMargin", plural="contractMargins", owner=Reference(), master="id",
         queries=_ID),
    Kind(struct=Order, name="order", plural="orders", owner=OwnedByAccount("account_id"), master="account_id",
         queries=_ILD, synced=True),
    Kind(struct=OrderVersion, name="orderVersion", plural="orderVersions", owner=OwnedByAccount("order_id", Order),
         master="order_id", queries=_ILD, synced=True),
    Kind(struct=OrderStrategyType, name="orderStrategyType", plural="orderStrategyTypes", owner=Reference(),
         queries=_ILFS, synced=True),
    Kind(struct=OrderStrategy, name="orderStrategy", plural="orderStrategies", owner=OwnedByAccount("account_id"),
         master="account_id", queries=_ILD, synced=True),
    Kind(struct=OrderStrategyLink, name="orderStrategyLink", plural="orderStrategyLinks",
         owner=OwnedByAccount("order_strategy_id", OrderStrategy), master="order_strategy_id", queries=_ILD,
         synced=True),
    Kind(struct=Command, name="command", plural="commands", owner=OwnedByAccount("order_id", Order),
         master="order_id", queries=_ILD, synced=True),
    Kind(struct=CommandReport, name="commandReport", plural="commandReports",
         owner=OwnedByAccount("command_id", Command), master="command_id", queries=_ILD, synced=True),
    Kind(struct=ExecutionReport, name="executionReport", plural="executionReports",
         owner=OwnedByAccount("account_id"), master="command_id", queries=_ILD, synced=True),
    Kind(struct=Position, name="position", plural="positions", owner=OwnedByAccount("account_id"),
         master="account_id", queries=Queries.ITEM | Queries.LIST | Queries.FIND | Queries.DEPS, synced=True),
    Kind(struct=Fill, name="fill", plural="fills", owner=OwnedByAccount("order_id", Order), master="order_id",
         queries=_ILD, synced=True),
    Kind(struct=FillFee, name="fillFee", plural="fillFees", owner=OwnedByAccount("id", Fill), master="id",
         queries=_ILD, synced=True),
    Kind(struct=FillPair, name="fillPair", plural="fillPairs", owner=OwnedByAccount("position_id", Position),
         master="position_id", queries=_ILD, synced=True),
    Kind(struct=CashBalanceLog, name="cashBalanceLog", plural="cashBalanceLogs", owner=OwnedByAccount("account_id"),
         master="account_id", queries=_ID, synced=True),
    Kind(struct=UserAccountAutoLiq, name="userAccountAutoLiq", plural="userAccountAutoLiqs",
         owner=OwnedByAccount("id"), master="id", queries=_ILD, synced=True),
    Kind(struct=PermissionedAccountAutoLiq, name="permissionedAccountAutoLiq", plural="permissionedAccountAutoLiqs",
         owner=OwnedByAccount("id"), master="id", queries=_ILD, synced=True),
    Kind(struct=UserAccountPositionLimit, name="userAccountPositionLimit", plural="userAccountPositionLimits",
         owner=OwnedByAccount("account_id"), master="account_id", queries=_ID, synced=True),
    Kind(struct=UserAccountRiskParameter, name="userAccountRiskParameter", plural="userAccountRiskParameters",
         owner=OwnedByAccount("user_account_position_limit_id", UserAccountPositionLimit),
         master="user_account_position_limit_id", queries=_ID, synced=True),
    Kind(struct=AutoLiqTransaction, name="autoLiqTransaction", plural="autoLiqTransactions",
         owner=OwnedByAccount("account_id"), master="account_id", queries=_ILD, synced=True),
    Kind(struct=AccountRiskStatusLog, name="accountRiskStatusLog", plural="accountRiskStatusLogs",
         owner=OwnedByAccount("account_id"), master="account_id", queries=_ID, synced=True),
    Kind(struct=AdminAlert, name="adminAlert", plural="adminAlerts", owner=Reference(),
         queries=Queries.ITEM | Queries.LIST),
    Kind(struct=AdminAlertSignal, name="adminAlertSignal", plural="adminAlertSignals",
         owner=OwnedByAccount("subject_id", admins_only=True), master="admin_alert_id", queries=_ILD, synced=True),
    Kind(struct=AutoLiqState, name="autoLiqState", plural="autoLiqStates", owner=Internal()),
)

KIND_NAMED: dict[str, Kind] = {kind.name: kind for kind in KINDS}
KIND_OF: dict[type[Entity], Kind] = {kind.struct: kind for kind in KINDS}
# Tradovate's entity-type name (singular camelCase, as in `props` events and URL paths) for each Struct.
ENTITY_TYPES: dict[type[Entity], str] = {kind.struct: kind.name for kind in KINDS}
