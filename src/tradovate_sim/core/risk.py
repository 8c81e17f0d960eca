"""Pre-trade checks. A refusal is a value, `Refusal(reason, text)`, never an exception."""

import msgspec

from tradovate_sim.core.blotter import Ticket
from tradovate_sim.core.view import Exposure, OrderView
from tradovate_sim.model.entities import UserAccountPositionLimit, UserAccountRiskParameter
from tradovate_sim.model.enums import AdminAction, FailureReason, OrderAction, OrderType, ProductType, TotalBy
from tradovate_sim.model.ids import ContractId, ExchangeId, ProductId


class Refusal(msgspec.Struct, frozen=True):
    reason: FailureReason
    text: str


LOCKED = frozenset({AdminAction.LockTradingImmediately, AdminAction.LiquidateImmediately})
# Members read once: a member read off its enum class takes `EnumType.__getattr__`'s slow hook (Python 3.11)
_BUY, _SELL, _MARKET = OrderAction.Buy, OrderAction.Sell, OrderType.Market


def is_locked(view: OrderView) -> bool:
    return view.account.risk_status.admin_action in LOCKED


def is_liquidation_only(view: OrderView) -> bool:
    status = view.account.risk_status
    return status.liquidate_only is not None or status.admin_action is AdminAction.LiquidateOnlyModeImmediately


def is_reducing(net_pos: int, action: OrderAction, qty: int) -> bool:
    """Whether an order of `qty` only reduces the position (never opens or flips it)."""
    if net_pos > 0:
        return action is _SELL and qty <= net_pos
    if net_pos < 0:
        return action is _BUY and qty <= -net_pos
    return False


def check_account(view: OrderView, *, admin: bool) -> Refusal | None:
    """Account-level refusals shared by every command that can trade."""
    account = view.account.account
    if account.closed:
        return Refusal(FailureReason.AccountClosed, f"Account {account.name} is closed")
    if is_locked(view) and not admin:
        return Refusal(FailureReason.TradingLocked, f"Trading is locked on account {account.name}")
    if view.account.halted and not admin:
        return Refusal(FailureReason.TradingLocked, f"Trading is halted for the risk category of account "
                                                    f"{account.name}")
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
    if order_type is _MARKET and (quote.ask if action is _BUY else quote.bid) is None:
        side = "offer" if action is _BUY else "bid"
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
    return check_risk_parameters(view, ticket, reducing) or check_position_limits(
        view, ticket, net_pos=net_pos, working_buys=working_buys, working_sells=working_sells)


# --- scopes ---------------------------------------------------------------------------------------------------------

SCOPES = frozenset({TotalBy.Contract, TotalBy.Product, TotalBy.ProductType, TotalBy.Exchange, TotalBy.Overall})


class Scope(msgspec.Struct, frozen=True, kw_only=True):
    """What a position limit or a risk parameter covers: its `totalBy` (None for a parameter) and target ids."""

    total_by: TotalBy | None = None
    contract_id: ContractId | None = None
    product_id: ProductId | None = None
    exchange_id: ExchangeId | None = None
    product_type: ProductType | None = None
    contract_group_id: int | None = None


def scope_of(rule: UserAccountPositionLimit | UserAccountRiskParameter) -> Scope:
    total_by = rule.total_by if isinstance(rule, UserAccountPositionLimit) else None
    return Scope(total_by=total_by, contract_id=rule.contract_id, product_id=rule.product_id,
                 exchange_id=rule.exchange_id, product_type=rule.product_type,
                 contract_group_id=rule.contract_group_id)


def misconfiguration(scope: Scope) -> str | None:
    """Why a scope cannot be enforced, or None. A position limit's `totalBy` needs its target; contract groups,
    discount groups and fungible products do not exist on this server."""
    if scope.contract_group_id is not None:
        return "contractGroupId: contract groups are not supported by this server"
    match scope.total_by:
        case None | TotalBy.Overall:
            return None
        case TotalBy.Contract:
            return None if scope.contract_id is not None else "totalBy Contract needs contractId"
        case TotalBy.Product:
            return None if scope.product_id is not None else "totalBy Product needs productId"
        case TotalBy.Exchange:
            return None if scope.exchange_id is not None else "totalBy Exchange needs exchangeId"
        case TotalBy.ProductType:
            return None if scope.product_type is not None else "totalBy ProductType needs productType"
        case TotalBy.ContractGroup | TotalBy.DiscountGroup | TotalBy.FungibleProduct:
            return (f"totalBy {scope.total_by} is not supported by this server (no contract groups, discount groups "
                    f"or fungible products): use Contract, Product, ProductType, Exchange or Overall")
    return f"totalBy {scope.total_by} is unknown"


def covers(scope: Scope, exposure: Exposure) -> bool:
    """Whether a contract (described by its exposure) is in the scope. A position limit covers what its `totalBy`
    names; a risk parameter covers what its most specific target names (every contract when it names none)."""
    match scope.total_by:
        case TotalBy.Contract:
            return scope.contract_id == exposure.contract_id
        case TotalBy.Product:
            return scope.product_id == exposure.product_id
        case TotalBy.Exchange:
            return scope.exchange_id == exposure.exchange_id
        case TotalBy.ProductType:
            return scope.product_type == exposure.product_type
        case TotalBy.Overall:
            return True
        case None:
            if scope.contract_id is not None:
                return scope.contract_id == exposure.contract_id
            if scope.product_id is not None:
                return scope.product_id == exposure.product_id
            if scope.exchange_id is not None:
                return scope.exchange_id == exposure.exchange_id
            if scope.product_type is not None:
                return scope.product_type == exposure.product_type
            return True
    return False


def _here(view: OrderView, net_pos: int = 0, working_buys: int = 0, working_sells: int = 0) -> Exposure:
    instrument = view.instrument
    return Exposure(contract_id=instrument.contract.id, product_id=instrument.product.id,
                    exchange_id=instrument.product.exchange_id, product_type=instrument.product.product_type,
                    net_pos=net_pos, working_buys=working_buys, working_sells=working_sells)


# --- risk parameters: order quantity, back months, expiration ------------------------------------------------------


def check_risk_parameters(view: OrderView, ticket: Ticket, reducing: bool) -> Refusal | None:
    """The risk parameters that cover the contract (those of inactive position limits do not apply)."""
    inactive = {limit.id for limit in view.account.position_limits if not limit.active}
    here = _here(view)
    for param in view.account.risk_parameters:
        if param.user_account_position_limit_id in inactive or not covers(scope_of(param), here):
            continue
        cap = param.max_closing_order_qty if reducing else param.max_opening_order_qty
        kind = "closing" if reducing else "opening"
        if cap is None and param.hard_limit:
            return Refusal(FailureReason.MaxOrderQtyIsNotSpecified,
                           f"No maximum {kind} order quantity is specified for {view.instrument.contract.name} "
                           f"(risk parameter {param.id} is a hard limit)")
        if cap is not None and ticket.qty > cap:
            return Refusal(FailureReason.MaxOrderQtyLimitReached,
                           f"Order quantity {ticket.qty} exceeds the maximum {kind} order quantity {cap}")
        if reducing:
            continue
        if param.max_back_month is not None and view.back_month > param.max_back_month:
            return Refusal(FailureReason.BackMonthProhibited,
                           f"{view.instrument.contract.name} is back month {view.back_month}; only months up to "
                           f"{param.max_back_month} after the front month may be opened")
        days_left = (view.instrument.last_trade_date - view.trade_date).days
        if param.pre_expiration_days is not None and days_left <= param.pre_expiration_days:
            return Refusal(FailureReason.LiquidationOnlyBeforeExpiration,
                           f"{view.instrument.contract.name} expires in {days_left} days: liquidation only within "
                           f"{param.pre_expiration_days} days of its last trade date")
    return None


# --- position limits ------------------------------------------------------------------------------------------------


class Measures(msgspec.Struct, frozen=True):
    """A limit's measures over the contracts it covers: net long and net short exposure, and gross exposure."""

    long: int
    short: int
    gross: int


def measure(members: list[Exposure]) -> Measures:
    """Long = net position + working buys; short = -(net position) + working sells, both netted across the covered
    contracts; gross = the sum over contracts of each one's larger side (no netting across contracts)."""
    net = sum(e.net_pos for e in members)
    long = net + sum(e.working_buys for e in members)
    short = -net + sum(e.working_sells for e in members)
    gross = sum(max(e.net_pos + e.working_buys, -e.net_pos + e.working_sells, 0) for e in members)
    return Measures(long, short, gross)


def check_position_limits(view: OrderView, ticket: Ticket, *, net_pos: int, working_buys: int,
                          working_sells: int) -> Refusal | None:
    """Projected exposure if every working order and this order fill, against each active limit that covers the
    contract. An order that only reduces the position is never refused here; an order is refused by a limit only
    when it raises that limit's measure above it."""
    if is_reducing(net_pos, ticket.action, ticket.qty):
        return None
    buy = ticket.action is OrderAction.Buy
    before = _here(view, net_pos, working_buys, working_sells)
    after = msgspec.structs.replace(before, working_buys=working_buys + (ticket.qty if buy else 0),
                                    working_sells=working_sells + (0 if buy else ticket.qty))
    others = [e for e in view.account.exposures if e.contract_id != before.contract_id]
    for limit in view.account.position_limits:
        if not limit.active:
            continue
        scope = scope_of(limit)
        problem = misconfiguration(scope)
        if problem is not None:
            return Refusal(FailureReason.MaxPosLimitMisconfigured,
                           f"Position limit {limit.id} is misconfigured: {problem}")
        if not covers(scope, before):
            continue
        covered = [e for e in others if covers(scope, e)]
        old, new = measure([before, *covered]), measure([after, *covered])
        reason = FailureReason.MaxTotalPosLimitReached if limit.total_by is TotalBy.Overall else \
            FailureReason.MaxPosLimitReached
        where = "overall" if limit.total_by is TotalBy.Overall else f"by {limit.total_by}"
        if buy and limit.long_limit is not None and new.long > limit.long_limit:
            return Refusal(reason, f"Long position {where} would reach {new.long}, over the limit {limit.long_limit}")
        if not buy and limit.short_limit is not None and new.short > limit.short_limit:
            return Refusal(reason, f"Short position {where} would reach {new.short}, over the limit "
                                   f"{limit.short_limit}")
        if limit.exposed_limit is not None and new.gross > limit.exposed_limit and new.gross > old.gross:
            return Refusal(reason, f"Exposure {where} would reach {new.gross}, over the limit {limit.exposed_limit}")
    return None
