"""Liquidate a position: cancel every working order of the account on the contract, then close what is held.

The closing order is one market order for abs(netPos) on the closing side, sent through the normal order path
(`Blotter.open_order` then `Blotter.match`). What the displayed book cannot fill stays working as a market order
and fills on the next quotes; the position can therefore never flip or double.
"""

from datetime import datetime

from tradovate_sim.core import multibracket, risk
from tradovate_sim.core.blotter import Blotter, Ids, Tags, Ticket
from tradovate_sim.core.decision import Decision, created
from tradovate_sim.core.view import OrderView
from tradovate_sim.model.entities import AutoLiqTransaction
from tradovate_sim.model.enums import AdminAction, FailureReason, Initiator, OrderAction, OrderType
from tradovate_sim.model.ids import OrderId
from tradovate_sim.model.requests import LiquidatePosition
from tradovate_sim.model.results import PlaceOrderResult

STOPS = frozenset({OrderType.Stop, OrderType.StopLimit, OrderType.TrailingStop, OrderType.TrailingStopLimit})
# Quantities cancelled, by side and limit (False) or stop (True): all at 0, copied per liquidation
_NO_CANCELS = {(side, stop): 0 for side in OrderAction for stop in (False, True)}
# Members read once: a member read off its enum class takes `EnumType.__getattr__`'s slow hook (Python 3.11)
_BUY, _SELL, _MARKET = OrderAction.Buy, OrderAction.Sell, OrderType.Market
_ADMIN, _CUSTOMER = Initiator.Admin, Initiator.Customer


def _refuse(reason: FailureReason, text: str) -> Decision[PlaceOrderResult]:
    return Decision(result=PlaceOrderResult(failure_reason=reason, failure_text=text))


def check(view: OrderView, admin: bool) -> risk.Refusal | None:
    """Who may liquidate, and whether the account and the market allow it now. Nothing is done on a refusal."""
    caller = view.caller
    if admin and not caller.organization_admin:
        return risk.Refusal(FailureReason.Unauthorized, "admin: true requires an administrator of the account's "
                                                         "organization")
    if not admin and not view.account.can_trade:
        return risk.Refusal(FailureReason.Unauthorized, "Access is denied")
    refusal = risk.check_account(view, admin=admin)
    if refusal:
        return refusal
    if not view.is_open:
        return risk.Refusal(FailureReason.SessionClosed, f"The {view.instrument.product.name} session is closed")
    return None


def liquidate_position(view: OrderView, req: LiquidatePosition, now: datetime, ids: Ids,
                       admin_action: AdminAction = AdminAction.Normal) -> Decision[PlaceOrderResult]:
    refusal = check(view, req.admin)
    if refusal:
        return _refuse(refusal.reason, refusal.text)
    blotter = Blotter(view, now, ids)
    net_pos = blotter.net_pos
    pending = [w for w in blotter.working.values() if w.order.id in view.book.closing_orders]
    if pending:
        return _refuse(FailureReason.AnotherCommandPending, f"The closing order {pending[0].order.id} of an "
                       f"earlier liquidation on {view.instrument.contract.name} is still working")
    if net_pos != 0:
        refusal = risk.check_market(view, _SELL if net_pos > 0 else _BUY, _MARKET)
        if refusal:
            return _refuse(refusal.reason, refusal.text)
    cancelled = dict(_NO_CANCELS)
    tags = Tags(custom_tag50=req.custom_tag50, is_automated=req.is_automated)
    for working in blotter.working.values():
        key = (working.order.action, working.version.order_type in STOPS)
        cancelled[key] += working.version.order_qty - working.cum_qty
    multibracket.interrupt_all(blotter, "Liquidation")
    for working_id in sorted(blotter.working):
        if working_id in blotter.working:  # not already cancelled with its parent or OCO sibling
            blotter.cancel(working_id, tags=tags, reason_text="Liquidation")
    order_id: OrderId | None = None
    if net_pos != 0:
        ticket = Ticket(action=_SELL if net_pos > 0 else _BUY, order_type=_MARKET,
                        qty=abs(net_pos), text="Liquidation", custom_tag50=req.custom_tag50,
                        is_automated=req.is_automated)
        closing = blotter.open_order(ticket, admin=req.admin)
        order_id = closing.order.id
        blotter.match(arriving=frozenset({order_id}))
    blotter.emit(created(AutoLiqTransaction(
        id=ids.next("autoLiqTransaction"), account_id=blotter.account_id, contract_id=blotter.contract_id,
        timestamp=now, liquidated_net_pos=net_pos,
        cancelled_sell_limit_qty=cancelled[(_SELL, False)],
        cancelled_sell_stop_qty=cancelled[(_SELL, True)],
        cancelled_buy_limit_qty=cancelled[(_BUY, False)],
        cancelled_buy_stop_qty=cancelled[(_BUY, True)],
        initiator=_ADMIN if req.admin else _CUSTOMER, admin_action=admin_action,
        order_id=order_id, user_id=view.caller.user_id or None,
    )))
    return Decision(result=PlaceOrderResult(order_id=order_id), changes=tuple(blotter.changes))
