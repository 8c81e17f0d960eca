"""Answers, as Tradovate names them. Business failures are these values sent with HTTP 200."""

from datetime import datetime

import msgspec

from tradovate_sim.model.entities import (
    AccountRiskStatus,
    Contract,
    OrderStrategy,
    PermissionedAccountAutoLiq,
    ProductMargin,
    TradingPermission,
    UserAccountAutoLiq,
    Wire,
)
from tradovate_sim.model.enums import FailureReason, UserStatus
from tradovate_sim.model.ids import AccountId, CommandId, OrderId, ProductId, UserId


class PlaceOrderResult(Wire, frozen=True):
    failure_reason: FailureReason | None = None
    failure_text: str | None = None
    order_id: OrderId | None = None


class PlaceOcoResult(PlaceOrderResult, frozen=True):
    oco_id: OrderId | None = None


class PlaceOsoResult(PlaceOrderResult, frozen=True):
    oso1_id: OrderId | None = None
    oso2_id: OrderId | None = None


class OrderStrategyStatusResponse(Wire, frozen=True):
    error_text: str | None = None
    failure_reason: FailureReason | None = None
    order_strategy: OrderStrategy | None = None


class CommandResult(Wire, frozen=True):
    failure_reason: FailureReason | None = None
    failure_text: str | None = None
    command_id: CommandId | None = None


class SimpleResponse(Wire, frozen=True):
    ok: bool
    error_text: str | None = None


class Violation(Wire, frozen=True):
    constraint: str
    value: str
    description: str


class Violations(Wire, frozen=True):
    violations: list[Violation]


class AccessTokenResponse(Wire, frozen=True):
    error_text: str | None = None
    access_token: str | None = None
    md_access_token: str | None = None
    expiration_time: datetime | None = None
    password_expiration_time: datetime | None = None
    user_status: UserStatus | None = None
    user_id: UserId | None = None
    name: str | None = None
    has_live: bool | None = None


class OAuthMeResponse(Wire, frozen=True):
    user_id: UserId
    name: str
    full_name: str
    email: str
    email_verified: bool
    is_trial: bool
    organization_name: str | None = None
    error_text: str | None = None


class CashBalanceSnapshot(Wire, frozen=True):
    error_text: str | None = None
    total_cash_value: float | None = None
    total_pn_l: float | None = None
    net_liq: float | None = None
    open_pn_l: float | None = None
    realized_pn_l: float | None = None
    week_realized_pn_l: float | None = None
    initial_margin: float | None = None
    maintenance_margin: float | None = None
    cash_usd: float | None = msgspec.field(default=None, name="cashUSD")
    total_cash_value_sod: float | None = msgspec.field(default=None, name="totalCashValueSOD")
    net_liq_sod: float | None = msgspec.field(default=None, name="netLiqSOD")
    auto_liq_level: float | None = None
    full_initial_margin: float | None = None


class AccountRiskStatusResponse(Wire, frozen=True):
    error_text: str | None = None
    account_risk_status: AccountRiskStatus | None = None


class TradingPermissionResponse(Wire, frozen=True):
    error_text: str | None = None
    trading_permission: TradingPermission | None = None


class EvaluationUserResult(Wire, frozen=True):
    error_text: str | None = None
    user_id: UserId | None = None


class CreateEvaluationUsersResponse(Wire, frozen=True):
    results: list[EvaluationUserResult]
    error_text: str | None = None


class EvaluationAccountResult(Wire, frozen=True):
    error_text: str | None = None
    account_id: AccountId | None = None
    trading_permission_id: int | None = None


class CreateEvaluationAccountsResponse(Wire, frozen=True):
    results: list[EvaluationAccountResult]
    error_text: str | None = None


class ErrorResponse(Wire, frozen=True):
    """The body of an HTTP error (400, 401, 404, 413, 503): what is wrong, the field first (`accountId: ...`)."""

    error_text: str


class PenaltyTicket(msgspec.Struct, frozen=True, kw_only=True):
    """Tradovate's penalty answer (HTTP 200, or `s:200` on a socket): the request was not executed; wait `p-time`
    seconds, then send it again with `"p-ticket"` in its body. `p-captcha` says Tradovate would ask a captcha."""

    p_ticket: str = msgspec.field(name="p-ticket")
    p_time: int = msgspec.field(name="p-time")
    p_captcha: bool = msgspec.field(name="p-captcha")


class UpdateUserAutoLiqResponse(Wire, frozen=True):
    """The answer of `updateuserautoliq` and, per item, of `updateuserautoliqs` (there an item's own `errorText`
    says why that item was not applied)."""

    error_text: str | None = None
    user_account_auto_liq: UserAccountAutoLiq | None = None
    permissioned_account_auto_liq: PermissionedAccountAutoLiq | None = None


class UpdateUserAutoLiqsResponse(Wire, frozen=True):
    user_auto_liqs: list[UpdateUserAutoLiqResponse]
    error_text: str | None = None


class DeleteResultResponse(Wire, frozen=True):
    error_text: str | None = None
    success: bool | None = None


class RiskEvaluationDetails(Wire, frozen=True):
    """What `order/dryrun`'s orders would do to the account's margin and funds."""

    before_initial_margin_req: float
    before_initial_full_margin_req: float
    before_open_collateral_req: float
    before_net_pos: int
    is_exit_order: bool
    initial_margin_req: float
    initial_full_margin_req: float
    open_collateral_req: float
    total_cash: float
    futures_open_pn_l: float = msgspec.field(name="futuresOpenPnL")
    options_open_pn_l: float = msgspec.field(name="optionsOpenPnL")
    risk_credit: float
    net_liq_value: float
    future_comm_and_fees: float
    total_cash_required: float
    excess: float
    hypo_long_pos: int
    hypo_short_pos: int


class EstimatedFillFee(Wire, frozen=True):
    clearing_fee: float | None = None
    clearing_currency_id: int | None = None
    exchange_fee: float | None = None
    exchange_currency_id: int | None = None
    nfa_fee: float | None = None
    nfa_currency_id: int | None = None
    commission: float | None = None
    commission_currency_id: int | None = None


class DryRunResponse(Wire, frozen=True):
    error_text: str | None = None
    reject_reason: FailureReason | None = None
    comment: str | None = None
    details: RiskEvaluationDetails | None = None
    fees: EstimatedFillFee | None = None


class RollContractResponse(Wire, frozen=True):
    error_text: str | None = None
    contract: Contract | None = None


class RollContractsResponse(Wire, frozen=True):
    """The rolled contract of each asked name, by that name as asked; names that could not be rolled are left out
    and listed in `errorText`."""

    contracts: dict[str, Contract]
    error_text: str | None = None


class ProductFeeParams(Wire, frozen=True):
    """A product's fees per contract per side, and its margins per contract: `dayMargin` while its session is open
    (the day-trade margin) and `nightMargin` (the exchange's initial margin) are numbers, `fullMargin` the exchange's
    initial and maintenance margins (Tradovate's shape: only `fullMargin` is a `ProductMargin`)."""

    product_id: ProductId
    clearing_fee: float | None = None
    clearing_currency_id: int | None = None
    exchange_fee: float | None = None
    exchange_currency_id: int | None = None
    nfa_fee: float | None = None
    nfa_currency_id: int | None = None
    brokerage_fee: float | None = None
    brokerage_currency_id: int | None = None
    ip_fee: float | None = None
    ip_currency_id: int | None = None
    commission: float | None = None
    commission_currency_id: int | None = None
    order_routing_fee: float | None = None
    order_routing_currency_id: int | None = None
    day_margin: float | None = None
    night_margin: float | None = None
    full_margin: ProductMargin | None = None
    commission_notional_value_bps: float | None = msgspec.field(default=None, name="commissionNotionalValueBPS")
    exchange_fee_notional_value_bps: float | None = msgspec.field(default=None, name="exchangeFeeNotionalValueBPS")


class ProductFeeParamsResponse(Wire, frozen=True):
    params: list[ProductFeeParams]
