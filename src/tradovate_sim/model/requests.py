"""Request bodies, as Tradovate names them. Decoding one validates types and bounds and names the bad field.

Unknown fields are ignored (clients send extras such as `p-ticket`); ids must be positive int64.
"""

from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from tradovate_sim.model.entities import Amount, Percentage, PostTradeRisk, TradeDate, Wire, normalize_times
from tradovate_sim.model.enums import (
    AdminAction,
    AdminActionReasonCode,
    CashChangeType,
    OrderAction,
    OrderType,
    ProductType,
    TimeInForce,
    TotalBy,
    TrailingMaxDrawdownMode,
)
from tradovate_sim.model.ids import (
    AccountId,
    ContractId,
    ExchangeId,
    OrderId,
    OrderStrategyId,
    PositionId,
    ProductId,
    UserId,
)

K = TypeVar("K", bound=int)
Id = Annotated[K, msgspec.Meta(gt=0, le=2**63 - 1)]  # `Id[AccountId]`: a positive int64 of that kind
Qty = Annotated[int, msgspec.Meta(gt=0, le=1_000_000)]
Price = Annotated[float, msgspec.Meta(gt=-1e12, lt=1e12)]
Tag50 = Annotated[str, msgspec.Meta(max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=8192)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AccessTokenRequest(Wire, frozen=True):
    name: Annotated[str, msgspec.Meta(max_length=256)]
    password: Annotated[str, msgspec.Meta(max_length=256)]
    app_id: str | None = None
    app_version: str | None = None
    device_id: str | None = None
    cid: int | str | None = None
    sec: str | None = None


class PlaceOrder(Wire, frozen=True):
    action: OrderAction
    symbol: str | Id[ContractId]
    order_qty: Qty
    order_type: OrderType
    account_spec: str | None = None
    account_id: Id[AccountId] | None = None
    cl_ord_id: Tag50 | None = None
    price: Price | None = None
    stop_price: Price | None = None
    limit_if_touched_price: Price | None = None
    max_show: Qty | None = None
    peg_difference: Price | None = None
    time_in_force: TimeInForce | None = None
    expire_time: datetime | None = None
    text: Tag50 | None = None
    custom_tag50: Tag50 | None = None
    is_automated: bool | None = None

    def __post_init__(self) -> None:
        normalize_times(self, "expire_time")


class RestrainedOrderVersion(Wire, frozen=True):
    """A bracket or OCO leg: quantity comes from the parent order."""

    action: OrderAction
    order_type: OrderType
    cl_ord_id: Tag50 | None = None
    price: Price | None = None
    stop_price: Price | None = None
    limit_if_touched_price: Price | None = None
    max_show: Qty | None = None
    peg_difference: Price | None = None
    time_in_force: TimeInForce | None = None
    expire_time: datetime | None = None
    text: Tag50 | None = None

    def __post_init__(self) -> None:
        normalize_times(self, "expire_time")


class PlaceOCO(PlaceOrder, frozen=True, kw_only=True):
    other: RestrainedOrderVersion


class PlaceOSO(PlaceOrder, frozen=True, kw_only=True):
    bracket1: RestrainedOrderVersion
    bracket2: RestrainedOrderVersion | None = None


class StartOrderStrategy(Wire, frozen=True):
    """`orderStrategy/startOrderStrategy`: `params` is a JSON string (`MultiBracketParams` for type 2)."""

    symbol: str | Id[ContractId]
    order_strategy_type_id: int
    action: OrderAction
    account_id: Id[AccountId] | None = None
    account_spec: str | None = None
    params: Annotated[str, msgspec.Meta(max_length=65536)] | None = None
    uuid: Tag50 | None = None
    custom_tag50: Tag50 | None = None
    is_automated: bool | None = None


class ModifyOrderStrategy(Wire, frozen=True):
    order_strategy_id: Id[OrderStrategyId]
    command: Text
    custom_tag50: Tag50 | None = None


class InterruptOrderStrategy(Wire, frozen=True):
    order_strategy_id: Id[OrderStrategyId]


class EntryVersion(Wire, frozen=True):
    """The entry order of a multibracket strategy (inside `params`), within `placeOrder`'s bounds (a quantity not
    above 0 is refused by the strategy's own check, naming the field)."""

    order_qty: Annotated[int, msgspec.Meta(le=1_000_000)]
    order_type: OrderType = OrderType.Market
    price: Price | None = None
    stop_price: Price | None = None
    limit_if_touched_price: Price | None = None
    peg_difference: Price | None = None
    time_in_force: TimeInForce | None = None
    expire_time: datetime | None = None
    text: Tag50 | None = None


class AutoTrail(Wire, frozen=True):
    """Trail the stop `stopLoss` behind the best price once the profit reaches `trigger`, in steps of `freq`."""

    stop_loss: float
    trigger: float = 0.0
    freq: float | None = None


class Bracket(Wire, frozen=True):
    """One bracket: `qty` of the entry, closed by a target and/or a stop at signed offsets from the entry price."""

    qty: Annotated[int, msgspec.Meta(le=1_000_000)]
    profit_target: float | None = None
    stop_loss: float | None = None
    trailing_stop: bool = False
    break_even: float | None = None  # move the stop to the entry once the profit reaches this offset
    break_even_plus: float | None = None  # ... plus this many points of profit
    auto_trail: AutoTrail | None = None


class MultiBracketParams(Wire, frozen=True):
    entry_version: EntryVersion
    brackets: list[Bracket] = []


class ModifyOrder(Wire, frozen=True):
    order_id: Id[OrderId]
    order_qty: Qty
    order_type: OrderType
    cl_ord_id: Tag50 | None = None
    price: Price | None = None
    stop_price: Price | None = None
    limit_if_touched_price: Price | None = None
    max_show: Qty | None = None
    peg_difference: Price | None = None
    time_in_force: TimeInForce | None = None
    expire_time: datetime | None = None
    text: Tag50 | None = None
    custom_tag50: Tag50 | None = None
    is_automated: bool | None = None

    def __post_init__(self) -> None:
        normalize_times(self, "expire_time")


class CancelOrder(Wire, frozen=True):
    order_id: Id[OrderId]
    cl_ord_id: Tag50 | None = None
    custom_tag50: Tag50 | None = None
    is_automated: bool | None = None


class LiquidatePosition(Wire, frozen=True):
    account_id: Id[AccountId]
    contract_id: Id[ContractId]
    admin: bool
    custom_tag50: Tag50 | None = None
    is_automated: bool | None = None


class LiquidatePositions(Wire, frozen=True):
    positions: Annotated[list[Id[PositionId]], msgspec.Meta(min_length=1, max_length=100)]
    admin: bool
    custom_tag50: Tag50 | None = None
    is_automated: bool | None = None


class EvaluationUser(Wire, frozen=True):
    """One user of `user/createevaluationusers`; `firstName` and `lastName` together hold at most 60 characters
    (checked by the handler, which reports it for the item)."""

    name: Name
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=128)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    first_name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    last_name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    tradovate_subscription_plan_id: int | None = None
    entitlement_ids: list[int] | None = None


# A batch is decoded in two steps so that one bad item fails alone: the body must be an object whose list holds 1 to
# 100 JSON objects (else 400); each object is then converted to its shape (`EvaluationUser`, `EvaluationAccount`) by
# the handler, and an item that does not convert gets its own `errorText` in the answer.
BatchItem = dict[str, Any]


class CreateEvaluationUsers(Wire, frozen=True):
    users: Annotated[list[BatchItem], msgspec.Meta(min_length=1, max_length=100)]  # each an EvaluationUser


class PreTradeRiskParameter(Wire, frozen=True):
    contract_id: Id[ContractId] | None = None
    product_id: Id[ProductId] | None = None
    exchange_id: Id[ExchangeId] | None = None
    product_type: ProductType | None = None
    contract_group_id: Id[int] | None = None
    max_opening_order_qty: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max_closing_order_qty: Annotated[int, msgspec.Meta(ge=0)] | None = None
    max_back_month: Annotated[int, msgspec.Meta(ge=0)] | None = None
    pre_expiration_days: Annotated[int, msgspec.Meta(ge=0)] | None = None
    margin_percentage: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    margin_dollar_value: Annotated[float, msgspec.Meta(ge=0, lt=1e12)] | None = None
    hard_limit: bool | None = None


class PositionLimitScope(Wire, frozen=True):
    """What a position limit covers and its limits: the fields `PreTradeRisk` and the `userAccountPositionLimit`
    bodies share."""

    total_by: TotalBy
    active: bool = True
    contract_id: Id[ContractId] | None = None
    product_id: Id[ProductId] | None = None
    exchange_id: Id[ExchangeId] | None = None
    product_type: ProductType | None = None
    contract_group_id: Id[int] | None = None
    short_limit: Annotated[int, msgspec.Meta(ge=0)] | None = None
    long_limit: Annotated[int, msgspec.Meta(ge=0)] | None = None
    exposed_limit: Annotated[int, msgspec.Meta(ge=0)] | None = None
    description: Tag50 | None = None


class PreTradeRisk(PositionLimitScope, frozen=True, kw_only=True):
    parameters: list[PreTradeRiskParameter]


class UserAccountPositionLimitBody(PositionLimitScope, frozen=True, kw_only=True):
    """The body of `userAccountPositionLimit/create` (no id) and `/update` (with the id): the entity's fields."""

    account_id: Id[AccountId]
    id: Id[int] | None = None


class UserAccountRiskParameterBody(PreTradeRiskParameter, frozen=True, kw_only=True):
    """The body of `userAccountRiskParameter/create` (no id) and `/update` (with the id): the entity's fields."""

    user_account_position_limit_id: Id[int]
    id: Id[int] | None = None


class DeleteUserAccountPositionLimit(Wire, frozen=True):
    user_account_position_limit_id: Id[int]


class DeleteUserAccountRiskParameter(Wire, frozen=True):
    user_account_risk_parameter_id: Id[int]


class UpdateUserAutoLiq(Wire, frozen=True):
    """`userAccountAutoLiq/updateuserautoliq` (and one item of `/updateuserautoliqs`): the account and the rules to
    change, each one of `PostTradeRisk`'s (the same names and types; a unit test holds them equal). A field that is
    present sets its rule (null turns it off); an omitted field (`UNSET`) keeps the rule as it is."""

    account_id: Id[AccountId]
    as_owner: bool | None = None
    changes_locked: bool | UnsetType | None = UNSET
    margin_percentage_alert: Percentage | UnsetType | None = UNSET
    daily_loss_percentage_alert: Percentage | UnsetType | None = UNSET
    daily_loss_alert: Amount | UnsetType | None = UNSET
    margin_percentage_liq_only: Percentage | UnsetType | None = UNSET
    daily_loss_percentage_liq_only: Percentage | UnsetType | None = UNSET
    daily_loss_liq_only: Amount | UnsetType | None = UNSET
    margin_percentage_auto_liq: Percentage | UnsetType | None = UNSET
    daily_loss_percentage_auto_liq: Percentage | UnsetType | None = UNSET
    daily_loss_auto_liq: Amount | UnsetType | None = UNSET
    weekly_loss_auto_liq: Amount | UnsetType | None = UNSET
    flatten_timestamp: datetime | UnsetType | None = UNSET
    trailing_max_drawdown: Amount | UnsetType | None = UNSET
    trailing_max_drawdown_limit: Amount | UnsetType | None = UNSET
    trailing_max_drawdown_mode: TrailingMaxDrawdownMode | UnsetType | None = UNSET
    daily_profit_auto_liq: Amount | UnsetType | None = UNSET
    weekly_profit_auto_liq: Amount | UnsetType | None = UNSET
    do_not_unlock: bool | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.flatten_timestamp, datetime):
            normalize_times(self, "flatten_timestamp")


class UpdateUserAutoLiqs(Wire, frozen=True):
    items: Annotated[list[BatchItem], msgspec.Meta(min_length=1, max_length=10_000)]  # each an UpdateUserAutoLiq


class EvaluationAccount(Wire, frozen=True):
    user_id: Id[UserId]
    template_account_id: Id[AccountId]
    name: Name
    initial_balance: Annotated[float, msgspec.Meta(ge=0, le=1e9)]
    pre_trade_risk: list[PreTradeRisk] | None = None
    post_trade_risk: PostTradeRisk | None = None


class CreateEvaluationAccounts(Wire, frozen=True):
    accounts: Annotated[list[BatchItem], msgspec.Meta(min_length=1, max_length=100)]  # each an EvaluationAccount


class ChangeDemoBalance(Wire, frozen=True):
    account_id: Id[AccountId]
    cash_change: Annotated[float, msgspec.Meta(gt=-1_000_000, lt=1_000_000)]
    comment: Tag50 | None = None


class GetCashBalanceSnapshot(Wire, frozen=True):
    account_id: Id[AccountId]


class SetAdminAutoLiqAction(Wire, frozen=True):
    account_id: Id[AccountId]
    admin_action: AdminAction
    admin_action_reason_code: AdminActionReasonCode | None = None
    admin_action_reason: Text | None = None


class RevokeTradingPermission(Wire, frozen=True):
    trading_permission_id: Id[int]


class ResetDemoAccountState(Wire, frozen=True):
    account_ids: list[Id[AccountId]]
    reset_trade_date: TradeDate


class ShardingExpression(Wire, frozen=True):
    expression_type: str
    divisor: int
    remainder: int


class SyncRequest(Wire, frozen=True):
    """`user/syncrequest` (WebSocket): the accounts and users to follow, and which entity types."""

    users: list[UserId] | None = None
    accounts: list[AccountId] | None = None
    split_responses: bool | None = None
    sharding_expression: ShardingExpression | None = None
    entity_types: list[str] | None = None


class AdjustCash(Wire, frozen=True):
    """`fundTransaction/adjustcash`: an organization admin's cash entry of a documented kind."""

    account_id: Id[AccountId]
    cash_change: Annotated[float, msgspec.Meta(gt=-100_000, lt=100_000)]
    cash_change_type: CashChangeType
    currency_id: Id[int]
    comment: Tag50 | None = None
    sender_id: Id[UserId] | None = None


class SetAccountNotes(Wire, frozen=True):
    """`accountRiskStatus/setaccountnotes` (the OpenAPI file names `accountId` only; `notes` is what it sets)."""

    account_id: Id[AccountId]
    notes: Text | None = None


class ResetAutoLiqStatus(Wire, frozen=True):
    account_id: Id[AccountId]


class UpdateMaxNetLiq(Wire, frozen=True):
    account_id: Id[AccountId]
    max_net_liq: Annotated[float, msgspec.Meta(gt=-1e12, lt=1e12)]


class DryRunOrder(Wire, frozen=True):
    contract_id: Id[ContractId]
    action: OrderAction
    order_qty: Qty
    order_type: OrderType
    price: Price | None = None
    stop_price: Price | None = None


class DryRun(Wire, frozen=True):
    """`order/dryrun`: up to four orders whose effect on the account's risk is asked, none placed."""

    account_id: Id[AccountId]
    orders: Annotated[list[DryRunOrder], msgspec.Meta(min_length=1, max_length=4)]
    extra_pre_trade_risk: dict[str, Any] | None = None  # accepted, not applied


class SwitchRiskCategory(Wire, frozen=True):
    """`accountRiskStatus/switchriskcategory`: up to 10,000 accounts into one risk category."""

    account_ids: list[Id[AccountId]]
    risk_category_id: Id[int]


class SetDemoHalt(Wire, frozen=True):
    """`accountRiskStatus/setDemoHalt`: halt (or resume) trading of every account in a risk category."""

    halt: bool
    risk_category_id: Id[int]


class RollContract(Wire, frozen=True):
    """`contract/rollcontract` (and one item of `rollcontracts`, Tradovate's `RollContractBase`): the best upcoming
    maturity for a contract (`ESZ6`) or a product (`ES`); `forward` false asks for the maturity before it;
    `ifExpired` rolls a contract only once it has expired."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    forward: bool
    if_expired: bool | None = None


class RollContracts(Wire, frozen=True):
    roll_contracts: Annotated[list[RollContract], msgspec.Meta(min_length=1, max_length=1000)]


class GetProductFeeParams(Wire, frozen=True):
    product_ids: Annotated[list[Id[ProductId]], msgspec.Meta(min_length=1, max_length=1000)]
