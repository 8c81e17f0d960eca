"""Place, modify and cancel orders; match working orders when the market moves.

Each function takes the loaded view, the request, the time and an id source, and returns a `Decision`.
Requests the core cannot act on (not allowed, prices off the grid, unsupported types) answer a failure and
change nothing; orders refused by pre-trade risk are recorded as Rejected orders with the reason on the trail.
"""

from datetime import datetime

import msgspec

from tradovate_sim.core import margins, multibracket, risk
from tradovate_sim.core.blotter import Blotter, Ids, Tags, Ticket
from tradovate_sim.core.decision import Decision
from tradovate_sim.core.ticks import to_ticks
from tradovate_sim.core.view import OrderView
from tradovate_sim.model.enums import CommandType, FailureReason, OrderAction, OrderType, OrdStatus
from tradovate_sim.model.ids import OrderId
from tradovate_sim.model.requests import (
    CancelOrder,
    ModifyOrder,
    PlaceOCO,
    PlaceOrder,
    PlaceOSO,
    RestrainedOrderVersion,
)
from tradovate_sim.model.results import CommandResult, PlaceOcoResult, PlaceOrderResult, PlaceOsoResult

SUPPORTED = frozenset({OrderType.Market, OrderType.Limit, OrderType.Stop, OrderType.StopLimit})


def to_ticket(req: PlaceOrder | RestrainedOrderVersion | ModifyOrder, action: OrderAction, qty: int,
              tick_size: float) -> Ticket | risk.Refusal:
    """Check the order type and its prices against the tick grid; Stop accepts its level in `price` too."""
    kind = req.order_type
    if kind not in SUPPORTED:
        return risk.Refusal(FailureReason.Unsupported, f"Order type {kind} is not supported by this server")
    price, stop = req.price, req.stop_price
    if kind is OrderType.Stop and stop is None:
        price, stop = None, price
    if kind in (OrderType.Limit, OrderType.StopLimit) and price is None:
        return risk.Refusal(FailureReason.InvalidPrice, f"price is required for {kind} orders")
    if kind in (OrderType.Stop, OrderType.StopLimit) and stop is None:
        return risk.Refusal(FailureReason.InvalidPrice, f"stopPrice is required for {kind} orders")
    if kind is OrderType.Market:
        price = stop = None
    if kind in (OrderType.Limit, OrderType.Market):
        stop = None
    if kind is OrderType.Stop:
        price = None
    for field, value in (("price", price), ("stopPrice", stop)):
        if value is not None and to_ticks(value, tick_size) is None:
            return risk.Refusal(FailureReason.InvalidPrice,
                                f"{field} {value} is not on the tick grid of {tick_size}")
    custom_tag50 = req.custom_tag50 if not isinstance(req, RestrainedOrderVersion) else None
    is_automated = req.is_automated if not isinstance(req, RestrainedOrderVersion) else None
    return Ticket(
        action=action, order_type=kind, qty=qty, price=price, stop_price=stop, time_in_force=req.time_in_force,
        text=req.text, cl_ord_id=req.cl_ord_id, custom_tag50=custom_tag50, is_automated=is_automated,
        max_show=req.max_show, expire_time=req.expire_time,
    )


def can_act(view: OrderView) -> risk.Refusal | None:
    if view.account.can_trade or view.caller.organization_admin:
        return None
    return risk.Refusal(FailureReason.Unauthorized, "Access is denied")


def _exposure(blotter: Blotter) -> tuple[int, int]:
    buys = sells = 0
    for working in blotter.working.values():
        left = working.version.order_qty - working.cum_qty
        if working.order.action is OrderAction.Buy:
            buys += left
        else:
            sells += left
    return buys, sells


def _refused(refusal: risk.Refusal, order_id: OrderId | None = None) -> PlaceOrderResult:
    return PlaceOrderResult(failure_reason=refusal.reason, failure_text=refusal.text, order_id=order_id)


def _admit(view: OrderView, blotter: Blotter, ticket: Ticket) -> risk.Refusal | None:
    buys, sells = _exposure(blotter)
    return risk.check_order(view, ticket, net_pos=blotter.net_pos, working_buys=buys, working_sells=sells) or \
        _check_margin(view, ticket, net_pos=blotter.net_pos, working_buys=buys, working_sells=sells)


admit = _admit  # a strategy's entry passes the same checks


def _check_margin(view: OrderView, ticket: Ticket, *, net_pos: int, working_buys: int,
                  working_sells: int) -> risk.Refusal | None:
    if view.margin is None:
        return None
    return margins.check(view.margin, view.instrument.contract.id, ticket.action, ticket.qty, net_pos=net_pos,
                         working_buys=working_buys, working_sells=working_sells)


def place(view: OrderView, req: PlaceOrder, now: datetime, ids: Ids) -> Decision[PlaceOrderResult]:
    refusal = can_act(view)
    ticket = to_ticket(req, req.action, req.order_qty, view.instrument.product.tick_size)
    if refusal or isinstance(ticket, risk.Refusal):
        return Decision(result=_refused(refusal or ticket))  # type: ignore[arg-type]
    blotter = Blotter(view, now, ids)
    refusal = _admit(view, blotter, ticket)
    if refusal:
        order_id = blotter.reject_order(ticket, refusal.reason, refusal.text)
        return Decision(result=_refused(refusal, order_id), changes=tuple(blotter.changes))
    working = blotter.open_order(ticket)
    blotter.match(arriving=frozenset({working.order.id}))
    multibracket.follow(blotter)
    return Decision(result=PlaceOrderResult(order_id=working.order.id), changes=tuple(blotter.changes))


def place_oco(view: OrderView, req: PlaceOCO, now: datetime, ids: Ids) -> Decision[PlaceOcoResult]:
    """Two orders, one cancels the other: the second leg takes the first's quantity."""
    tick_size = view.instrument.product.tick_size
    first = to_ticket(req, req.action, req.order_qty, tick_size)
    second = to_ticket(req.other, req.other.action, req.order_qty, tick_size)
    refusal = can_act(view) or next((t for t in (first, second) if isinstance(t, risk.Refusal)), None)
    if refusal or isinstance(first, risk.Refusal) or isinstance(second, risk.Refusal):
        assert refusal is not None
        return Decision(result=PlaceOcoResult(failure_reason=refusal.reason, failure_text=refusal.text))
    blotter = Blotter(view, now, ids)
    refusal = _admit(view, blotter, first) or _admit(view, blotter, second)
    if refusal:
        order_id = blotter.reject_order(first, refusal.reason, refusal.text)
        return Decision(result=PlaceOcoResult(failure_reason=refusal.reason, failure_text=refusal.text,
                                              order_id=order_id), changes=tuple(blotter.changes))
    one = blotter.open_order(first, oco_id=OrderId(ids.next("order")))
    assert one.order.oco_id is not None
    other = blotter.open_order(second, oco_id=one.order.oco_id, order_id=one.order.oco_id)
    blotter.match(arriving=frozenset({one.order.id, other.order.id}))
    multibracket.follow(blotter)
    return Decision(result=PlaceOcoResult(order_id=one.order.id, oco_id=other.order.id),
                    changes=tuple(blotter.changes))


def place_oso(view: OrderView, req: PlaceOSO, now: datetime, ids: Ids) -> Decision[PlaceOsoResult]:
    """An entry with one or two bracket legs that are sent when the entry fills; two legs are OCO-linked."""
    tick_size = view.instrument.product.tick_size
    entry = to_ticket(req, req.action, req.order_qty, tick_size)
    legs = [to_ticket(b, b.action, req.order_qty, tick_size) for b in (req.bracket1, req.bracket2) if b]
    refusal = can_act(view) or next((t for t in (entry, *legs) if isinstance(t, risk.Refusal)), None)
    if refusal is None and any(not isinstance(leg, risk.Refusal) and leg.action is req.action for leg in legs):
        refusal = risk.Refusal(FailureReason.UnknownReason, "bracket legs must be on the opposite side of the entry")
    if refusal or isinstance(entry, risk.Refusal):
        assert refusal is not None
        return Decision(result=PlaceOsoResult(failure_reason=refusal.reason, failure_text=refusal.text))
    blotter = Blotter(view, now, ids)
    refusal = _admit(view, blotter, entry)
    if refusal:
        order_id = blotter.reject_order(entry, refusal.reason, refusal.text)
        return Decision(result=PlaceOsoResult(failure_reason=refusal.reason, failure_text=refusal.text,
                                              order_id=order_id), changes=tuple(blotter.changes))
    parent = blotter.open_order(entry)
    leg_ids: list[OrderId] = []
    oco_id = OrderId(ids.next("order")) if len(legs) == 2 else None
    for index, leg in enumerate(legs):
        assert not isinstance(leg, risk.Refusal)
        leg_order_id = oco_id if (index == 1 and oco_id is not None) else None
        child = blotter.open_order(leg, suspended=True, parent_id=parent.order.id, oco_id=oco_id,
                                   order_id=leg_order_id)
        leg_ids.append(child.order.id)
    blotter.match(arriving=frozenset({parent.order.id}))
    multibracket.follow(blotter)
    return Decision(
        result=PlaceOsoResult(order_id=parent.order.id, oso1_id=leg_ids[0],
                              oso2_id=leg_ids[1] if len(leg_ids) > 1 else None),
        changes=tuple(blotter.changes),
    )


def cancel(view: OrderView, req: CancelOrder, order_id: OrderId, now: datetime,
           ids: Ids) -> Decision[CommandResult]:
    refusal = can_act(view)
    if refusal:
        return Decision(result=CommandResult(failure_reason=refusal.reason, failure_text=refusal.text))
    blotter = Blotter(view, now, ids)
    if order_id not in blotter.working:
        return Decision(result=CommandResult(failure_reason=FailureReason.TooLate,
                                             failure_text=f"Order {order_id} is no longer working"))
    command_id = blotter.cancel(order_id, tags=Tags(cl_ord_id=req.cl_ord_id, custom_tag50=req.custom_tag50,
                                                    is_automated=req.is_automated))
    multibracket.follow(blotter)
    return Decision(result=CommandResult(command_id=command_id), changes=tuple(blotter.changes))


def modify(view: OrderView, req: ModifyOrder, now: datetime, ids: Ids) -> Decision[CommandResult]:
    refusal = can_act(view)
    if refusal:
        return Decision(result=CommandResult(failure_reason=refusal.reason, failure_text=refusal.text))
    blotter = Blotter(view, now, ids)
    working = blotter.working.get(req.order_id)
    if working is None:
        return Decision(result=CommandResult(failure_reason=FailureReason.TooLate,
                                             failure_text=f"Order {req.order_id} is no longer working"))
    action = working.order.action
    ticket = to_ticket(req, action, req.order_qty, view.instrument.product.tick_size)
    if isinstance(ticket, risk.Refusal):
        return Decision(result=CommandResult(failure_reason=ticket.reason, failure_text=ticket.text))
    if req.order_qty <= working.cum_qty:
        return Decision(result=CommandResult(failure_reason=FailureReason.UnknownReason,
                                             failure_text=f"orderQty {req.order_qty} is not above the filled "
                                                          f"quantity {working.cum_qty}"))
    buys, sells = _exposure(blotter)
    if action is OrderAction.Buy:
        buys -= working.version.order_qty - working.cum_qty
    else:
        sells -= working.version.order_qty - working.cum_qty
    remaining = msgspec.structs.replace(ticket, qty=req.order_qty - working.cum_qty)
    refusal = risk.check_order(view, remaining, net_pos=blotter.net_pos, working_buys=buys, working_sells=sells) or \
        _check_margin(view, remaining, net_pos=blotter.net_pos, working_buys=buys, working_sells=sells)
    if refusal:
        command_id = blotter.reject_command(req.order_id, CommandType.Modify, refusal.reason, refusal.text, ticket)
        return Decision(result=CommandResult(failure_reason=refusal.reason, failure_text=refusal.text,
                                             command_id=command_id), changes=tuple(blotter.changes))
    command_id = blotter.replace(req.order_id, ticket)
    if working.order.ord_status is OrdStatus.Working:
        blotter.match(arriving=frozenset({req.order_id}))
    multibracket.follow(blotter)
    return Decision(result=CommandResult(command_id=command_id), changes=tuple(blotter.changes))


def match(view: OrderView, now: datetime, ids: Ids) -> Decision[None]:
    """The market moved: execute what it now lets execute in this book."""
    blotter = Blotter(view, now, ids)
    blotter.match()
    multibracket.follow(blotter)
    return Decision(result=None, changes=tuple(blotter.changes))

