"""Tradovate's entities: one frozen Struct each, camelCase on the wire through `rename="camel"`.

Fields follow the partner OpenAPI schemas. Optional wire fields default to None and are omitted when None;
required ones have no default and are always sent. `model.kinds` declares what the server does with each.
"""

from datetime import UTC, date, datetime
from typing import Annotated

import msgspec

from tradovate_sim.model.enums import (
    AccountType,
    AdminAction,
    CashChangeType,
    CommandStatus,
    CommandType,
    ExecType,
    FailureReason,
    Initiator,
    LegalStatus,
    MarginAccountType,
    OrderAction,
    OrderStrategyStatus,
    OrderType,
    OrdStatus,
    PriceFormatType,
    ProductStatus,
    ProductType,
    TimeInForce,
    TotalBy,
    TradingPermissionStatus,
    TrailingMaxDrawdownMode,
    UserStatus,
)
from tradovate_sim.model.ids import (
    AccountId,
    CommandId,
    ContractId,
    ContractMaturityId,
    ExchangeId,
    FillId,
    FillPairId,
    OrderId,
    OrderStrategyId,
    OrganizationId,
    PositionId,
    ProductId,
    SessionId,
    UserId,
)


class Wire(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True, gc=False):
    """Base of every wire shape: frozen, keyword-only, camelCase, None fields omitted. Untracked by the
    garbage collector (`gc=False`): an immutable value cannot be part of a reference cycle, and with hundreds of
    thousands of entities in memory full collections would otherwise dominate tail latency."""


def as_utc(moment: datetime | None) -> datetime | None:
    """A client's datetime in UTC: an offset is converted, a time without one is taken as UTC (clients send
    `2026-11-24T15:00:00.452Z`, but also `...:00Z`, `...:00.452` or `...:00+01:00`)."""
    if moment is None or moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def normalize_times(shape: msgspec.Struct, *names: str) -> None:
    """Make the named datetime fields of a just-decoded client shape UTC (its `__post_init__` calls this)."""
    for name in names:
        moment = getattr(shape, name)
        utc = as_utc(moment)
        if utc is not moment:
            msgspec.structs.force_setattr(shape, name, utc)


class TradeDate(Wire, frozen=True):
    year: int
    month: int
    day: int


class TradeTime(Wire, frozen=True):
    hour: int
    minute: int


# --- users and accounts -------------------------------------------------------------------------


class Organization(Wire, frozen=True):
    id: OrganizationId
    name: str


class RiskCategory(Wire, frozen=True):
    """A risk category (`riskCategory/list`): accounts in it share its halt. Its Tradovate schema could not be
    confirmed (reference §13): `id` and `name` as the documentation shows them; `demoHalt` is this server's own
    field (set by `setDemoHalt`), omitted while not halted."""

    id: int
    name: str
    demo_halt: bool | None = None


class User(Wire, frozen=True):
    id: UserId
    name: str
    timestamp: datetime
    email: str
    status: UserStatus
    professional: bool
    organization_id: OrganizationId | None = None


class UserProperty(Wire, frozen=True):
    """A user's value of one `Property` (Tradovate's per-user settings)."""

    id: int
    user_id: UserId
    property_id: int
    value: str | None = None


class Credential(Wire, frozen=True):
    """Not a Tradovate entity: a user's argon2 password hash and role. Never served."""

    id: UserId  # = user id
    password_hash: str
    organization_admin: bool


class UserSession(Wire, frozen=True):
    id: SessionId
    user_id: UserId
    start_time: datetime
    end_time: datetime | None = None
    app_id: str | None = None
    app_version: str | None = None
    client_app_id: int = 0


class Account(Wire, frozen=True):
    id: AccountId
    name: str
    user_id: UserId
    account_type: AccountType
    restricted: bool
    closed: bool
    active: bool  # legacy: not closed
    archived: bool  # legacy: closed
    clearing_house_id: int
    risk_category_id: int
    auto_liq_profile_id: int
    margin_account_type: MarginAccountType
    legal_status: LegalStatus
    timestamp: datetime
    evaluation_size: float | None = None
    readonly: bool | None = None


class TradingPermission(Wire, frozen=True):
    id: int
    user_id: UserId
    account_id: AccountId
    account_holder_contact: str
    account_holder_email: str
    cta_contact: str
    cta_email: str
    status: TradingPermissionStatus
    updated: datetime | None = None
    approved_by_id: UserId | None = None


class AccountRiskStatus(Wire, frozen=True):
    id: AccountId  # = account id
    admin_action: AdminAction | None = None
    admin_timestamp: datetime | None = None
    liquidate_only: datetime | None = None
    user_triggered_liq_only: bool | None = None
    max_net_liq: float | None = None
    min_net_liq: float | None = None


class CashBalance(Wire, frozen=True):
    id: int
    account_id: AccountId
    timestamp: datetime
    trade_date: TradeDate
    currency_id: int
    amount: float
    realized_pn_l: float | None = msgspec.field(default=None, name="realizedPnL")
    week_realized_pn_l: float | None = msgspec.field(default=None, name="weekRealizedPnL")
    amount_sod: float | None = msgspec.field(default=None, name="amountSOD")


class MarginSnapshot(Wire, frozen=True):
    """An account's margin requirements for its open positions (see `core.margins`)."""

    id: AccountId  # = account id
    timestamp: datetime
    risk_time_period_id: int
    initial_margin: float
    maintenance_margin: float
    total_used_margin: float
    full_initial_margin: float
    position_margin: float
    total_used_full_margin: float
    auto_liq_level: float | None = None
    liq_only_level: float | None = None
    open_collateral_req: float | None = None


class CashBalanceLog(Wire, frozen=True):
    id: int
    account_id: AccountId
    timestamp: datetime
    trade_date: TradeDate
    currency_id: int
    amount: float
    cash_change_type: CashChangeType
    delta: float
    realized_pn_l: float | None = msgspec.field(default=None, name="realizedPnL")
    fill_pair_id: FillPairId | None = None
    fill_id: FillId | None = None
    comment: str | None = None
    sender_id: UserId | None = None


# --- reference data -----------------------------------------------------------------------------


class Currency(Wire, frozen=True):
    id: int
    name: str
    symbol: str | None = None


class Exchange(Wire, frozen=True):
    id: ExchangeId
    name: str


class Product(Wire, frozen=True):
    id: ProductId
    name: str
    currency_id: int
    product_type: ProductType
    description: str
    exchange_id: ExchangeId
    contract_group_id: int
    status: ProductStatus
    months: str
    value_per_point: float
    price_format_type: PriceFormatType
    price_format: int
    tick_size: float
    is_micro: bool = False


class ProductSession(Wire, frozen=True):
    id: ProductId  # = product id
    open_time: TradeTime
    start_time: TradeTime
    stop_time: TradeTime
    close_time: TradeTime
    sunday_open_time: TradeTime | None = None
    all_day: bool | None = None


class ProductMargin(Wire, frozen=True):
    """The margins per contract of a product now in force: day-trade margins while its session is open, the
    exchange's outright margins while it is closed (see `core.margins`)."""

    id: ProductId  # = product id
    initial_margin: float
    maintenance_margin: float
    timestamp: datetime


class ContractMaturity(Wire, frozen=True):
    id: ContractMaturityId
    product_id: ProductId
    expiration_month: int
    expiration_date: datetime
    is_front: bool


class Contract(Wire, frozen=True):
    id: ContractId
    name: str
    contract_maturity_id: ContractMaturityId
    timestamp: datetime | None = None


class ContractMargin(Wire, frozen=True):
    """A contract's margins: its product's (`ProductMargin`), per contract."""

    id: ContractId  # = contract id
    initial_margin: float
    maintenance_margin: float
    timestamp: datetime


# --- orders and execution -----------------------------------------------------------------------


class Order(Wire, frozen=True):
    id: OrderId
    account_id: AccountId
    contract_id: ContractId
    timestamp: datetime
    action: OrderAction
    ord_status: OrdStatus
    admin: bool
    oco_id: OrderId | None = None
    parent_id: OrderId | None = None
    linked_id: OrderId | None = None


class OrderVersion(Wire, frozen=True):
    id: int
    order_id: OrderId
    order_qty: int
    order_type: OrderType
    price: float | None = None
    stop_price: float | None = None
    limit_if_touched_price: float | None = None
    max_show: int | None = None
    peg_difference: float | None = None
    time_in_force: TimeInForce | None = None
    expire_time: datetime | None = None
    text: str | None = None


class OrderStrategy(Wire, frozen=True):
    """A server-side order strategy (type 2: multibracket): an entry and its brackets, run by the server."""

    id: OrderStrategyId
    account_id: AccountId
    timestamp: datetime
    contract_id: ContractId
    order_strategy_type_id: int
    action: OrderAction
    status: OrderStrategyStatus
    initiator_id: int | None = None
    params: str | None = None
    uuid: str | None = None
    failure_message: str | None = None
    sender_id: UserId | None = None
    custom_tag50: str | None = None
    user_session_id: SessionId | None = None


class OrderStrategyLink(Wire, frozen=True):
    """An order's role in its strategy (`label`: entry, profitTarget<n>, stopLoss<n>)."""

    id: int
    order_strategy_id: OrderStrategyId
    order_id: OrderId
    label: str


class OrderStrategyType(Wire, frozen=True):
    id: int
    name: str
    enabled: bool


class Command(Wire, frozen=True):
    id: CommandId
    order_id: OrderId
    timestamp: datetime
    command_type: CommandType
    command_status: CommandStatus
    cl_ord_id: str | None = None
    sender_id: UserId | None = None
    user_session_id: SessionId | None = None
    custom_tag50: str | None = None
    is_automated: bool | None = None


class CommandReport(Wire, frozen=True):
    id: int
    command_id: CommandId
    timestamp: datetime
    command_status: CommandStatus
    reject_reason: FailureReason | None = None
    text: str | None = None
    ord_status: OrdStatus | None = None


class ExecutionReport(Wire, frozen=True):
    id: int
    command_id: CommandId
    name: str
    account_id: AccountId
    contract_id: ContractId
    timestamp: datetime
    order_id: OrderId
    exec_type: ExecType
    action: OrderAction
    trade_date: TradeDate | None = None
    exec_ref_id: str | None = None
    ord_status: OrdStatus | None = None
    cum_qty: int | None = None
    avg_px: float | None = None
    last_qty: int | None = None
    last_px: float | None = None
    reject_reason: FailureReason | None = None
    text: str | None = None


class Fill(Wire, frozen=True):
    id: FillId
    order_id: OrderId
    contract_id: ContractId
    timestamp: datetime
    trade_date: TradeDate
    action: OrderAction
    qty: int
    price: float
    active: bool
    finally_paired: int


class FillFee(Wire, frozen=True):
    id: FillId  # = fill id
    clearing_fee: float | None = None
    exchange_fee: float | None = None
    nfa_fee: float | None = None
    commission: float | None = None


class Position(Wire, frozen=True):
    id: PositionId
    account_id: AccountId
    contract_id: ContractId
    timestamp: datetime
    trade_date: TradeDate
    net_pos: int
    bought: int
    bought_value: float
    sold: int
    sold_value: float
    prev_pos: int
    net_price: float | None = None
    prev_price: float | None = None


class FillPair(Wire, frozen=True):
    id: FillPairId
    position_id: PositionId
    buy_fill_id: FillId
    sell_fill_id: FillId
    qty: int
    buy_price: float
    sell_price: float
    active: bool


# --- risk ---------------------------------------------------------------------------------------


Amount = Annotated[float, msgspec.Meta(gt=0, lt=1e12)]  # a rule's dollar amount: positive
Percentage = Annotated[float, msgspec.Meta(gt=0, le=100)]  # a rule's percentage: (0, 100]


class PostTradeRisk(Wire, frozen=True):
    """Auto-liquidation rules: the body of `postTradeRisk` and, with the account id, a `UserAccountAutoLiq`. An omitted
    (None) rule is off; amounts are positive dollars, percentages in (0, 100] (checked when a client's body is
    decoded)."""

    changes_locked: bool | None = None
    margin_percentage_alert: Percentage | None = None
    daily_loss_percentage_alert: Percentage | None = None
    daily_loss_alert: Amount | None = None
    margin_percentage_liq_only: Percentage | None = None
    daily_loss_percentage_liq_only: Percentage | None = None
    daily_loss_liq_only: Amount | None = None
    margin_percentage_auto_liq: Percentage | None = None
    daily_loss_percentage_auto_liq: Percentage | None = None
    daily_loss_auto_liq: Amount | None = None
    weekly_loss_auto_liq: Amount | None = None
    flatten_timestamp: datetime | None = None
    trailing_max_drawdown: Amount | None = None
    trailing_max_drawdown_limit: Amount | None = None
    trailing_max_drawdown_mode: TrailingMaxDrawdownMode | None = None
    daily_profit_auto_liq: Amount | None = None
    weekly_profit_auto_liq: Amount | None = None
    do_not_unlock: bool | None = None

    def __post_init__(self) -> None:
        normalize_times(self, "flatten_timestamp")


class UserAccountAutoLiq(PostTradeRisk, frozen=True, kw_only=True):
    id: AccountId  # = account id


class PermissionedAccountAutoLiq(Wire, frozen=True):
    """The trader's copy of an account's `UserAccountAutoLiq` (id = account id): its money and percentage rules and
    `changesLocked`, without the flatten time, the trailing drawdown and `doNotUnlock`. Written in the same commit as
    every change of the account's rules."""

    id: AccountId  # = account id
    margin_percentage_alert: float | None = None
    daily_loss_percentage_alert: float | None = None
    daily_loss_alert: float | None = None
    margin_percentage_liq_only: float | None = None
    daily_loss_percentage_liq_only: float | None = None
    daily_loss_liq_only: float | None = None
    margin_percentage_auto_liq: float | None = None
    daily_loss_percentage_auto_liq: float | None = None
    daily_loss_auto_liq: float | None = None
    weekly_loss_auto_liq: float | None = None
    daily_profit_auto_liq: float | None = None
    weekly_profit_auto_liq: float | None = None
    changes_locked: bool | None = None

    @classmethod
    def copy_of(cls, rules: UserAccountAutoLiq) -> "PermissionedAccountAutoLiq":
        """The trader's copy of an account's rules."""
        return cls(id=rules.id, **{name: getattr(rules, name) for name in cls.__struct_fields__ if name != "id"})


class UserAccountPositionLimit(Wire, frozen=True):
    id: int
    account_id: AccountId
    active: bool
    total_by: TotalBy
    contract_id: ContractId | None = None
    product_id: ProductId | None = None
    exchange_id: ExchangeId | None = None
    product_type: ProductType | None = None
    contract_group_id: int | None = None
    short_limit: int | None = None
    long_limit: int | None = None
    exposed_limit: int | None = None
    description: str | None = None


class UserAccountRiskParameter(Wire, frozen=True):
    id: int
    user_account_position_limit_id: int
    contract_id: ContractId | None = None
    product_id: ProductId | None = None
    exchange_id: ExchangeId | None = None
    product_type: ProductType | None = None
    contract_group_id: int | None = None
    max_opening_order_qty: int | None = None
    max_closing_order_qty: int | None = None
    max_back_month: int | None = None
    pre_expiration_days: int | None = None
    margin_percentage: float | None = None
    margin_dollar_value: float | None = None
    hard_limit: bool | None = None


class AutoLiqTransaction(Wire, frozen=True):
    """Audit of one liquidation of one contract of one account."""

    id: int
    account_id: AccountId
    contract_id: ContractId
    timestamp: datetime
    liquidated_net_pos: int
    cancelled_sell_limit_qty: int
    cancelled_sell_stop_qty: int
    cancelled_buy_limit_qty: int
    cancelled_buy_stop_qty: int
    initiator: Initiator
    admin_action: AdminAction
    order_id: OrderId | None = None
    user_id: UserId | None = None


class AdminAlert(Wire, frozen=True):
    """A kind of alert the risk desk receives; the auto-liquidation engine keeps one per alert rule."""

    id: int
    name: str
    timestamp: datetime


class AdminAlertSignal(Wire, frozen=True):
    """One alert raised for the risk desk (an `*Alert` rule breached), readable by the organization's admins."""

    id: int
    timestamp: datetime
    admin_alert_id: int
    text: str
    email_sent: bool
    subject_id: int  # the account the alert is about
    related_to_account_id: AccountId | None = None
    related_to_user_id: UserId | None = None
    owned_by_admin_id: UserId | None = None
    completed: bool | None = None
    claimed_at: datetime | None = None


class AccountRiskStatusLog(Wire, frozen=True):
    """Why and when an account's risk status changed (an auto-liquidation, a liquidation-only mode, an unlock)."""

    id: int
    account_id: AccountId
    timestamp: datetime
    admin_action: AdminAction | None = None
    admin_timestamp: datetime | None = None
    liquidate_only: datetime | None = None
    user_triggered_liq_only: bool | None = None
    admin_action_reason: str | None = None
    notes: str | None = None  # set by `setaccountnotes` (its log only): the account's notes from then on


class AutoLiqState(Wire, frozen=True):
    """Not a Tradovate entity: what the auto-liquidation engine must remember across a restart. Never served.

    Restrictions the engine set end with a trade date: `Day` when the trade date passes `*_trade_date`, `Week` when
    the week of the trade date passes it; `UntilCleared` only by an admin."""

    id: AccountId  # = account id
    trade_date: date  # the trade date of `day_base`
    day_base: float  # net liq at the trade date's start, plus cash moved in or out since
    week_start: date  # the first trade date (a Monday) of the week of `week_base`
    week_base: float
    last_log_id: int = 0  # cash moves up to this cashBalanceLog id are in the bases
    fired: tuple[str, ...] = ()  # rules breached at the last evaluation (already acted on)
    lock_span: str | None = None  # Day | Week | UntilCleared: the engine's lock and how long it lasts
    lock_trade_date: date | None = None
    liq_only_trade_date: date | None = None  # the engine's liquidation-only mode, until the next session
    pending_liquidation: bool = False  # to liquidate at the next open (the market was closed)
    hold_until: datetime | None = None  # PlaceAutoLiqOnHold: breaches are not acted on until then
    agreed_liq_only_until: datetime | None = None  # AgreedOnLiqOnlyModeByAutoLiq: no auto-liquidation until then
    disabled: bool = False  # DisableAutoLiq (until `Normal`)
    reason: str | None = None  # the text of the last breach acted on


Entity = (
    Organization
    | RiskCategory
    | User
    | UserProperty
    | Credential
    | UserSession
    | Account
    | TradingPermission
    | AccountRiskStatus
    | CashBalance
    | CashBalanceLog
    | MarginSnapshot
    | Currency
    | Exchange
    | Product
    | ProductSession
    | ProductMargin
    | ContractMaturity
    | Contract
    | ContractMargin
    | Order
    | OrderVersion
    | OrderStrategy
    | OrderStrategyLink
    | OrderStrategyType
    | Command
    | CommandReport
    | ExecutionReport
    | Fill
    | FillFee
    | Position
    | FillPair
    | UserAccountAutoLiq
    | PermissionedAccountAutoLiq
    | UserAccountPositionLimit
    | UserAccountRiskParameter
    | AutoLiqTransaction
    | AdminAlert
    | AdminAlertSignal
    | AccountRiskStatusLog
    | AutoLiqState
)
