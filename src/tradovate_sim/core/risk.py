"""Pre-trade checks. A refusal is a value, `Refusal(reason, text)`, never an exception."""

import msgspec

from tradovate_sim.core.blotter import Ticket
from tradovate_sim.core.view import OrderView
from tradovate_sim.model.entities import UserAccountPositionLimit
from tradovate_sim.model.enums import AdminAction, FailureReason, OrderAction, OrderType, TotalBy
from tradovate_sim.model.ids import ContractId, ExchangeId, ProductId


class Refusal(msgspec.Struct, frozen=True):
    reason: FailureReason
    text: str


LOCKED = frozenset({AdminAction.LockTradingImmediately, AdminAction.LiquidateImmediately})


def is_locked(view: OrderView) -> bool:
    return view.account.risk_status.admin_action in LOCKED


def is_liquidation_only(view: OrderView) -> bool:
    status = view.account.risk_status
    return status.liquidate_only is not None or status.admin_action is AdminAction.LiquidateOnlyModeImmediately


def is_reducing(net_pos: int, action: OrderAction, qty: int) -> bool:
    """Whether an order of `qty` only reduces the position (never opens or flips it)."""
    if net_pos > 0:
        return action is OrderAction.Sell and qty <= net_pos
    if net_pos < 0:
        return action is OrderAction.Buy and qty <= -net_pos
    return False


def check_account(view: OrderView, *, admin: bool) -> Refusal | None:
    """Account-level refusals shared by every command that can trade."""
    account = view.account.account
    if account.closed:
        return Refusal(FailureReason.AccountClosed, f"Account {account.name} is closed")
    if is_locked(view) and not admin:
        return Refusal(FailureReason.TradingLocked, f"Trading is locked on account {account.name}")
    return None


def check_market(view: OrderView, action: OrderAction, order_type: OrderType) -> Refusal | None:
    """Contract and market refusals: expired contract, closed session, no quote to trade against."""
    instrument = view.instrument
    if view.trade_date > instrument.last_trade_date:
        return Refusal(FailureReason.TooLate, f"Contract {instrument.contract.name} has expired")
    if not view.is_open:
        return Refusal(FailureReason.SessionClosed, f"The {instrument.product.name} session is closed")
    quote = view.quote
    if quote is None or (quote.bid is None and quote.ask is None):
        return Refusal(FailureReason.NoQuote, f"No quote for {instrument.contract.name}")
    if order_type is OrderType.Market and (quote.ask if action is OrderAction.Buy else quote.bid) is None:
        side = "offer" if action is OrderAction.Buy else "bid"
        return Refusal(FailureReason.NoQuote, f"No {side} for {instrument.contract.name}")
    return None


def check_order(view: OrderView, ticket: Ticket, *, net_pos: int, working_buys: int, working_sells: int,
                admin: bool = False) -> Refusal | None:
    """Every pre-trade check of a new order, in the order Tradovate reports them."""
    refusal = check_account(view, admin=admin) or check_market(view, ticket.action, ticket.order_type)
    if refusal:
        return refusal
    reducing = is_reducing(net_pos, ticket.action, ticket.qty)
    if is_liquidation_only(view) and not reducing:
        return Refusal(FailureReason.LiquidationOnly, "Account is in liquidation-only mode: only orders that "
                       "reduce the position are accepted")
    return check_order_qty(view, ticket, reducing) or check_position_limits(
        view, ticket, net_pos=net_pos, working_buys=working_buys, working_sells=working_sells)


def _applies(view: OrderView, scope: TotalBy, contract_id: ContractId | None, product_id: ProductId | None,
             exchange_id: ExchangeId | None) -> bool:
    instrument = view.instrument
    match scope:
        case TotalBy.Contract:
            return contract_id == instrument.contract.id
        case TotalBy.Product | TotalBy.FungibleProduct:
            return product_id == instrument.product.id
        case TotalBy.Exchange:
            return exchange_id == instrument.product.exchange_id
        case TotalBy.Overall | TotalBy.ProductType | TotalBy.ContractGroup | TotalBy.DiscountGroup:
            return True
    return False


def check_order_qty(view: OrderView, ticket: Ticket, reducing: bool) -> Refusal | None:
    for param in view.account.risk_parameters:
        if not _applies_param(view, param.contract_id, param.product_id, param.exchange_id):
            continue
        cap = param.max_closing_order_qty if reducing else param.max_opening_order_qty
        if cap is not None and ticket.qty > cap:
            kind = "closing" if reducing else "opening"
            return Refusal(FailureReason.MaxOrderQtyLimitReached,
                           f"Order quantity {ticket.qty} exceeds the maximum {kind} order quantity {cap}")
    return None


def _applies_param(view: OrderView, contract_id: ContractId | None, product_id: ProductId | None,
                   exchange_id: ExchangeId | None) -> bool:
    instrument = view.instrument
    if contract_id is not None:
        return contract_id == instrument.contract.id
    if product_id is not None:
        return product_id == instrument.product.id
    if exchange_id is not None:
        return exchange_id == instrument.product.exchange_id
    return True


def check_position_limits(view: OrderView, ticket: Ticket, *, net_pos: int, working_buys: int,
                          working_sells: int) -> Refusal | None:
    """Projected exposure if every working order of this side and this order fill, against each active limit."""
    if is_reducing(net_pos, ticket.action, ticket.qty):
        return None
    buys = working_buys + (ticket.qty if ticket.action is OrderAction.Buy else 0)
    sells = working_sells + (ticket.qty if ticket.action is OrderAction.Sell else 0)
    for limit in view.account.position_limits:
        if not limit.active or not _applies(view, limit.total_by, limit.contract_id, limit.product_id,
                                            limit.exchange_id):
            continue
        others = _other_positions(view, limit)
        long_exposure = others + net_pos + buys
        short_exposure = -others - net_pos + sells
        reason = FailureReason.MaxTotalPosLimitReached if limit.total_by is TotalBy.Overall else \
            FailureReason.MaxPosLimitReached
        if ticket.action is OrderAction.Buy and limit.long_limit is not None and long_exposure > limit.long_limit:
            return Refusal(reason, f"Long position would reach {long_exposure}, over the limit {limit.long_limit}")
        if ticket.action is OrderAction.Sell and limit.short_limit is not None and \
                short_exposure > limit.short_limit:
            return Refusal(reason, f"Short position would reach {short_exposure}, over the limit {limit.short_limit}")
    return None


def _other_positions(view: OrderView, limit: UserAccountPositionLimit) -> int:
    """Net position in the limit's scope held in other contracts (only Overall limits span contracts here)."""
    if limit.total_by is not TotalBy.Overall:
        return 0
    return sum(p.net_pos for p in view.account.positions if p.contract_id != view.instrument.contract.id)
