"""Place, modify and cancel orders; match working orders when the market moves.

Each function takes the loaded view, the request, the time and an id source, and returns a `Decision`.
Requests the core cannot act on (not allowed, prices off the grid, unsupported types) answer a failure and
change nothing; orders refused by pre-trade risk are recorded as Rejected orders with the reason on the trail.
"""

from collections.abc import Mapping
from datetime import datetime

import msgspec

from tradovate_sim.core import margins, multibracket, risk, trailing
from tradovate_sim.core.blotter import Blotter, Ids, Tags, Ticket, ticket_of
from tradovate_sim.core.decision import Decision
from tradovate_sim.core.ticks import to_ticks
from tradovate_sim.core.view import OrderView, WorkingOrder
from tradovate_sim.model.enums import CommandType, FailureReason, OrderAction, OrderType, OrdStatus, TimeInForce
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

SUPPORTED = frozenset({OrderType.Market, OrderType.Limit, OrderType.Stop, OrderType.StopLimit, OrderType.MIT,
                       OrderType.LimitIfTouched, OrderType.TrailingStop, OrderType.TrailingStopLimit})
TOUCHED = frozenset({OrderType.MIT, OrderType.LimitIfTouched})  # trigger at limitIfTouchedPrice


def to_ticket(req: PlaceOrder | RestrainedOrderVersion | ModifyOrder, action: OrderAction, qty: int,
              tick_size: float, now: datetime | None = None) -> Ticket | risk.Refusal:
    """Check the order type, its prices against the tick grid and (given `now`) its time in force. Stop accepts its
    level in `price` too; MIT its trigger in `limitIfTouchedPrice`, `stopPrice` or `price`."""
    kind = req.order_type
    if kind not in SUPPORTED:
        return risk.Refusal(FailureReason.Unsupported, f"Order type {kind} is not supported by this server")
    price, stop, touch = req.price, req.stop_price, req.limit_if_touched_price
    peg = req.peg_difference if kind in trailing.TRAILING else None
    if kind is OrderType.Stop and stop is None:
        price, stop = None, price
    if kind is OrderType.MIT:
        touch, price, stop = next((p for p in (touch, stop, price) if p is not None), None), None, None
    if kind is OrderType.LimitIfTouched:
        touch, stop = touch if touch is not None else stop, None
    if kind in (OrderType.Limit, OrderType.StopLimit, OrderType.LimitIfTouched) and price is None:
        return risk.Refusal(FailureReason.InvalidPrice, f"price is required for {kind} orders")
    if kind in (OrderType.Stop, OrderType.StopLimit) and stop is None:
        return risk.Refusal(FailureReason.InvalidPrice, f"stopPrice is required for {kind} orders")
    if kind in TOUCHED and touch is None:
        return risk.Refusal(FailureReason.InvalidPrice, f"limitIfTouchedPrice is required for {kind} orders")
    if kind is OrderType.TrailingStopLimit and price is not None and stop is None:
        return risk.Refusal(FailureReason.InvalidPrice,
                            "stopPrice is required with price for TrailingStopLimit orders (the limit keeps its "
                            "offset from the stop)")
    if kind is OrderType.Market:
        price = stop = None
    if kind in (OrderType.Limit, OrderType.Market):
        stop = None
    if kind in (OrderType.Stop, OrderType.TrailingStop):
        price = None
    if kind not in TOUCHED:
        touch = None
    fields = (("price", price), ("stopPrice", stop), ("limitIfTouchedPrice", touch), ("pegDifference", peg))
    for field, value in fields:
        if value is not None and to_ticks(value, tick_size) is None:
            return risk.Refusal(FailureReason.InvalidPrice,
                                f"{field} {value} is not on the tick grid of {tick_size}")
    if kind in trailing.TRAILING:
        why = trailing.check_peg(action, None if peg is None else to_ticks(peg, tick_size), kind)
        if why is not None:
            return risk.Refusal(FailureReason.InvalidPrice, why)
    tif, expire_time = req.time_in_force, req.expire_time
    if tif is TimeInForce.GTD and expire_time is None:
        return risk.Refusal(FailureReason.UnknownReason, "expireTime is required for GTD orders")
    if tif is TimeInForce.GTD and now is not None and expire_time is not None and expire_time <= now:
        return risk.Refusal(FailureReason.UnknownReason, f"expireTime {expire_time.isoformat()} is not in the future")
    custom_tag50 = req.custom_tag50 if not isinstance(req, RestrainedOrderVersion) else None
    is_automated = req.is_automated if not isinstance(req, RestrainedOrderVersion) else None
    return Ticket(
        action=action, order_type=kind, qty=qty, price=price, stop_price=stop, limit_if_touched_price=touch,
        peg_difference=peg, time_in_force=tif, text=req.text, cl_ord_id=req.cl_ord_id, custom_tag50=custom_tag50,
        is_automated=is_automated, max_show=req.max_show, expire_time=expire_time,
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
    ticket = to_ticket(req, req.action, req.order_qty, view.instrument.product.tick_size, now)
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
    first = to_ticket(req, req.action, req.order_qty, tick_size, now)
    second = to_ticket(req.other, req.other.action, req.order_qty, tick_size, now)
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
    entry = to_ticket(req, req.action, req.order_qty, tick_size, now)
    legs = [to_ticket(b, b.action, req.order_qty, tick_size, now) for b in (req.bracket1, req.bracket2) if b]
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


def _keep_trail(req: ModifyOrder, working: WorkingOrder) -> Ticket | risk.Refusal:
    """A trailing order's stop belongs to the market: a modify may change its quantity (and tags) only."""
    version = working.version
    if req.order_type is not version.order_type or (
            req.peg_difference is not None and req.peg_difference != version.peg_difference):
        return risk.Refusal(FailureReason.TrailingStopNonOrderQtyModify,
                            f"Only orderQty of a {version.order_type} order can be modified")
    return msgspec.structs.replace(ticket_of(version, working.order.action, req.order_qty), cl_ord_id=req.cl_ord_id,
                                   custom_tag50=req.custom_tag50, is_automated=req.is_automated, text=version.text)


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
    if working.version.order_type in trailing.TRAILING:
        ticket = _keep_trail(req, working)
    else:
        ticket = to_ticket(req, action, req.order_qty, view.instrument.product.tick_size, now)
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



def expire(view: OrderView, due: Mapping[OrderId, str], now: datetime, ids: Ids) -> Decision[None]:
    """Time in force ran out for the `due` orders of this book (with the text saying why): each is Expired, then
    whatever that released (bracket legs of a partly filled entry) is matched."""
    blotter = Blotter(view, now, ids)
    for order_id in sorted(due):
        if order_id in blotter.working:
            blotter.expire(order_id, due[order_id])
    if blotter.activated:
        blotter.match()
    multibracket.follow(blotter)
    return Decision(result=None, changes=tuple(blotter.changes))
