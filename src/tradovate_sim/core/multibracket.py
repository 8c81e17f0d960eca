"""Running multibracket strategies: what follows, inside one decision, from what the decision did to their orders.

A strategy (`OrderStrategy`, type 2) owns an entry order and, once the entry is done, one target and/or stop per
bracket, each pair OCO-linked (the blotter's OCO rule: a fill of one leg shrinks or cancels its sibling). Every
decision that can fill, cancel or place orders on a book with running strategies ends with `follow`, which:

- places the brackets when the entry is done and filled (for what it filled, brackets in order), priced at their
  signed offsets from the entry's average fill price;
- moves stops for `breakEven` / `autoTrail` as the quote moves in the strategy's favour;
- ends the strategy: ExecutionFinished when its own position is closed (every bracket filled) or the account is flat
  in the contract (its remaining orders are cancelled: a bracket left behind could only open a new position);
  StoppedByUser when its orders were cancelled by their owner; ExecutionFailed / NotEnoughLiquidity when the entry
  is rejected, expires or finds no liquidity without filling.

`interrupt_all` ends every running strategy of the book (liquidations, `interruptOrderStrategy`): its working orders
are cancelled and its status becomes ExecutionInterrupted.
"""

from collections.abc import Iterable

import msgspec

from tradovate_sim.core.blotter import Blotter, Tags, Ticket, opposite, ticket_of
from tradovate_sim.core.decision import created, updated
from tradovate_sim.core.ticks import nearest_ticks, to_price, to_ticks
from tradovate_sim.core.view import RunningStrategy
from tradovate_sim.model.entities import ExecutionReport, Order, OrderStrategy, OrderStrategyLink
from tradovate_sim.model.enums import (
    ExecType,
    OrderAction,
    OrderStrategyStatus,
    OrderType,
    OrdStatus,
    TimeInForce,
)
from tradovate_sim.model.ids import OrderId
from tradovate_sim.model.requests import Bracket, MultiBracketParams

ENTRY = "entry"
TARGET = "profitTarget"  # + the bracket's number, from 1
STOP = "stopLoss"

_PARAMS = msgspec.json.Decoder(MultiBracketParams)


def label_of(kind: str, index: int) -> str:
    return f"{kind}{index + 1}"


def brackets_of(strategy: OrderStrategy) -> list[Bracket]:
    """The brackets of a strategy's params (validated when it started)."""
    return _PARAMS.decode(strategy.params or "{}").brackets


def entry_link(running: RunningStrategy) -> OrderStrategyLink | None:
    return next((link for link in running.links if link.label == ENTRY), None)


def follow(blotter: Blotter, started: Iterable[RunningStrategy] = ()) -> dict[int, OrderStrategy]:
    """Carry every running strategy of the book forward after what this decision did; returns each one's latest
    state by id. `started`: strategies created in this decision (not yet in the view)."""
    latest: dict[int, OrderStrategy] = {}
    for running in (*blotter.view.book.strategies, *started):
        latest[running.strategy.id] = _follow(blotter, running)
    return latest


def interrupt_all(blotter: Blotter, reason: str) -> None:
    """End every running strategy of the book: cancel its working orders, status ExecutionInterrupted."""
    for running in blotter.view.book.strategies:
        end(blotter, running, OrderStrategyStatus.ExecutionInterrupted, reason)


def end(blotter: Blotter, running: RunningStrategy, status: OrderStrategyStatus, message: str | None,
        links: Iterable[OrderStrategyLink] = ()) -> OrderStrategy:
    """Cancel the strategy's working orders and give it its final status."""
    tags = Tags(custom_tag50=running.strategy.custom_tag50)
    for link in (*running.links, *links):
        if link.order_id in blotter.working:
            blotter.cancel(link.order_id, tags=tags, reason_text=message or f"Order strategy {status}")
    strategy = msgspec.structs.replace(running.strategy, status=status, failure_message=message)
    blotter.emit(updated(strategy))
    return strategy


def _this_decision(blotter: Blotter, order_ids: set[OrderId]) -> tuple[int, float, dict[OrderId, OrdStatus]]:
    """What this decision did to these orders: quantity and value executed, and each one's last status."""
    qty, value = 0, 0.0
    statuses: dict[OrderId, OrdStatus] = {}
    for change in blotter.changes:
        entity = change.entity
        if isinstance(entity, ExecutionReport) and entity.order_id in order_ids and entity.exec_type is ExecType.Trade:
            qty += entity.last_qty or 0
            value += (entity.last_qty or 0) * (entity.last_px or 0.0)
        elif isinstance(entity, Order) and entity.id in order_ids:
            statuses[entity.id] = entity.ord_status
    return qty, value, statuses


def _follow(blotter: Blotter, running: RunningStrategy) -> OrderStrategy:
    entry = entry_link(running)
    if entry is None:  # a strategy without an entry cannot run
        return end(blotter, running, OrderStrategyStatus.ExecutionFailed, "The strategy has no entry order")
    if entry.order_id in blotter.working:
        return running.strategy
    exits = {link.order_id for link in running.links if link.label != ENTRY}
    entry_qty, entry_value, entry_status = _this_decision(blotter, {entry.order_id})
    entry_qty += running.entry_qty
    entry_value += running.entry_value
    new_links: list[OrderStrategyLink] = []
    if not exits:
        if entry_qty == 0:
            return end(blotter, running, *_unfilled(running, entry_status.get(entry.order_id)))
        new_links = _place_brackets(blotter, running, entry.order_id, entry_qty, entry_value)
        exits = {link.order_id for link in new_links}
        blotter.match(arriving=frozenset(exits))
    ended = _settle(blotter, running, exits, entry_qty, new_links)
    if ended is not None:
        return ended
    if _move_stops(blotter, running, (*running.links, *new_links), entry_qty, entry_value):
        blotter.match()
        ended = _settle(blotter, running, exits, entry_qty, new_links)
    return ended or running.strategy


def _settle(blotter: Blotter, running: RunningStrategy, exits: set[OrderId], entry_qty: int,
            new_links: list[OrderStrategyLink]) -> OrderStrategy | None:
    """End the strategy if its position is closed, the account is flat, or none of its orders works any more."""
    exit_qty, _, _ = _this_decision(blotter, exits)
    if exit_qty + running.exit_qty >= entry_qty or blotter.net_pos == 0:
        return end(blotter, running, OrderStrategyStatus.ExecutionFinished, None, new_links)
    if not any(order_id in blotter.working for order_id in exits):
        return end(blotter, running, OrderStrategyStatus.StoppedByUser, "Its orders were cancelled", new_links)
    return None


def _unfilled(running: RunningStrategy, status: OrdStatus | None) -> tuple[OrderStrategyStatus, str]:
    """How a strategy ends when its entry is done without a fill."""
    if status is OrdStatus.Rejected:
        return OrderStrategyStatus.ExecutionFailed, "The entry order was rejected"
    if status is OrdStatus.Expired:
        return OrderStrategyStatus.ExecutionFailed, "The entry order expired"
    tif = _PARAMS.decode(running.strategy.params or "{}").entry_version.time_in_force
    if tif in (TimeInForce.IOC, TimeInForce.FOK):
        return OrderStrategyStatus.NotEnoughLiquidity, f"The {tif} entry order found no liquidity"
    return OrderStrategyStatus.StoppedByUser, "The entry order was cancelled"


def _place_brackets(blotter: Blotter, running: RunningStrategy, entry_id: OrderId, qty: int,
                    value: float) -> list[OrderStrategyLink]:
    """Send each bracket's target and stop (OCO-linked when both) for the `qty` the entry filled."""
    strategy = running.strategy
    tick = blotter.tick_size
    entry_ticks = nearest_ticks(value / qty, tick)
    action = opposite(strategy.action)
    links: list[OrderStrategyLink] = []
    left = qty
    for index, bracket in enumerate(brackets_of(strategy)):
        size = min(bracket.qty, left)
        if size <= 0:
            break
        left -= size
        legs: list[tuple[str, Ticket]] = []
        if bracket.profit_target is not None:
            price = to_price(entry_ticks + nearest_ticks(bracket.profit_target, tick), tick)
            legs.append((TARGET, Ticket(action=action, order_type=OrderType.Limit, qty=size, price=price,
                                        time_in_force=TimeInForce.GTC, custom_tag50=strategy.custom_tag50)))
        if bracket.stop_loss is not None:  # `trailingStop`: a TrailingStop whose pegDifference is the offset
            stop = to_price(entry_ticks + nearest_ticks(bracket.stop_loss, tick), tick)
            stop_type = OrderType.TrailingStop if bracket.trailing_stop else OrderType.Stop
            peg = to_price(nearest_ticks(bracket.stop_loss, tick), tick) if bracket.trailing_stop else None
            legs.append((STOP, Ticket(action=action, order_type=stop_type, qty=size, stop_price=stop,
                                      peg_difference=peg, time_in_force=TimeInForce.GTC,
                                      custom_tag50=strategy.custom_tag50)))
        oco_id = OrderId(blotter.ids.next("order")) if len(legs) == 2 else None
        for position, (kind, ticket) in enumerate(legs):
            leg = blotter.open_order(ticket, oco_id=oco_id, parent_id=entry_id,
                                     order_id=oco_id if position == 1 else None)
            link = OrderStrategyLink(id=blotter.ids.next("orderStrategyLink"), order_strategy_id=strategy.id,
                                     order_id=leg.order.id, label=label_of(kind, index))
            blotter.emit(created(link))
            links.append(link)
    return links


def _move_stops(blotter: Blotter, running: RunningStrategy, links: Iterable[OrderStrategyLink], entry_qty: int,
                entry_value: float) -> bool:
    """Move each working, untriggered stop for its bracket's `breakEven` / `autoTrail` once the quote has moved
    far enough in the strategy's favour; a stop only ever moves towards the market. True when one moved."""
    quote = blotter.view.quote
    if quote is None or entry_qty <= 0:
        return False
    strategy = running.strategy
    long = strategy.action is OrderAction.Buy
    market = quote.bid if long else quote.ask
    if market is None:
        return False
    tick = blotter.tick_size
    entry_ticks = nearest_ticks(entry_value / entry_qty, tick)
    sign = 1 if long else -1
    profit = (market - entry_ticks) * sign  # ticks in the strategy's favour
    stops = {link.label: link.order_id for link in links if link.label.startswith(STOP)}
    moved = False
    for index, bracket in enumerate(brackets_of(strategy)):
        order_id = stops.get(label_of(STOP, index))
        working = blotter.working.get(order_id) if order_id is not None else None
        if working is None or working.has_triggered or working.version.stop_price is None:
            continue
        current = to_ticks(working.version.stop_price, tick)
        if current is None:
            continue
        best = current
        if bracket.break_even is not None and profit >= abs(nearest_ticks(bracket.break_even, tick)):
            level = entry_ticks + sign * abs(nearest_ticks(bracket.break_even_plus or 0.0, tick))
            best = max(best * sign, level * sign) * sign
        trail = bracket.auto_trail
        if trail is not None and profit >= abs(nearest_ticks(trail.trigger, tick)):
            level = market - sign * abs(nearest_ticks(trail.stop_loss, tick))
            step = max(1, abs(nearest_ticks(trail.freq or 0.0, tick)))
            if (level - best) * sign >= step:
                best = level
        if best != current:
            version = working.version
            ticket = ticket_of(version, working.order.action, version.order_qty)
            blotter.replace(working.order.id, msgspec.structs.replace(ticket, stop_price=to_price(best, tick)),
                            command_ticket=Ticket(action=working.order.action, order_type=version.order_type,
                                                  qty=version.order_qty, custom_tag50=strategy.custom_tag50,
                                                  text="Order strategy stop moved"))
            moved = True
    return moved
