"""What a WebSocket session carries besides market data: the `user/syncrequest` snapshot, the `props` events
(`Change`) and the `shutdown` notice."""

from tradovate_sim.model.entities import (
    Account,
    AccountRiskStatus,
    AccountRiskStatusLog,
    AdminAlertSignal,
    AutoLiqTransaction,
    CashBalance,
    CashBalanceLog,
    Command,
    CommandReport,
    Contract,
    ContractMaturity,
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
    PermissionedAccountAutoLiq,
    Position,
    Product,
    TradingPermission,
    User,
    UserAccountAutoLiq,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
    Wire,
)
from tradovate_sim.model.enums import EventType


class ContractGroup(Wire, frozen=True):
    """A contract group (Tradovate's); this server keeps none, so a snapshot's `contractGroups` is always empty."""

    id: int
    name: str


class SyncSnapshot(Wire, frozen=True):
    """The answer of `user/syncrequest`: each followed entity type's collection by its plural (`model.kinds`), the
    types not followed omitted; `users` and `contractGroups` always present."""

    users: list[User]
    contract_groups: list[ContractGroup]
    accounts: list[Account] | None = None
    trading_permissions: list[TradingPermission] | None = None
    account_risk_statuses: list[AccountRiskStatus] | None = None
    cash_balances: list[CashBalance] | None = None
    margin_snapshots: list[MarginSnapshot] | None = None
    currencies: list[Currency] | None = None
    exchanges: list[Exchange] | None = None
    products: list[Product] | None = None
    contract_maturities: list[ContractMaturity] | None = None
    contracts: list[Contract] | None = None
    orders: list[Order] | None = None
    order_versions: list[OrderVersion] | None = None
    order_strategies: list[OrderStrategy] | None = None
    order_strategy_links: list[OrderStrategyLink] | None = None
    order_strategy_types: list[OrderStrategyType] | None = None
    commands: list[Command] | None = None
    command_reports: list[CommandReport] | None = None
    execution_reports: list[ExecutionReport] | None = None
    positions: list[Position] | None = None
    fills: list[Fill] | None = None
    fill_fees: list[FillFee] | None = None
    fill_pairs: list[FillPair] | None = None
    cash_balance_logs: list[CashBalanceLog] | None = None
    user_account_auto_liqs: list[UserAccountAutoLiq] | None = None
    permissioned_account_auto_liqs: list[PermissionedAccountAutoLiq] | None = None
    user_account_position_limits: list[UserAccountPositionLimit] | None = None
    user_account_risk_parameters: list[UserAccountRiskParameter] | None = None
    auto_liq_transactions: list[AutoLiqTransaction] | None = None
    account_risk_status_logs: list[AccountRiskStatusLog] | None = None
    admin_alert_signals: list[AdminAlertSignal] | None = None


class Shutdown(Wire, frozen=True):
    """The `d` of a `shutdown` event, sent before the server closes a socket."""

    reason_code: str  # Maintenance, ConnectionQuotaReached
    reason: str


class Change(Wire, frozen=True):
    """One entity change; encoded, it is exactly the `d` of a WebSocket `props` event (the core makes them; the
    client decodes them, its `entity` by `entityType` through `model.kinds`)."""

    entity_type: str
    event_type: EventType
    entity: Entity
