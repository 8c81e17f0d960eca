"""Trailing stops: where a `TrailingStop` / `TrailingStopLimit` order's stop sits as the market moves.

`pegDifference` is signed like the stop's distance from the market: negative for a Sell (its stop trails below the
highest bid seen since it started working), positive for a Buy (above the lowest offer). The stop only ever moves in
the order's favour; when it does, the order gets a new version carrying the new `stopPrice` (and, for a
`TrailingStopLimit`, a `price` moved by as much, which keeps the limit's offset from the stop).
"""

from tradovate_sim.core.ticks import to_price, to_ticks
from tradovate_sim.core.view import Quote
from tradovate_sim.model.enums import OrderAction, OrderType

TRAILING = frozenset({OrderType.TrailingStop, OrderType.TrailingStopLimit})


def check_peg(action: OrderAction, peg: int | None, kind: OrderType) -> str | None:
    """Why a trailing order's `pegDifference` (in ticks) cannot be used, or None when it can."""
    if peg is None:
        return f"pegDifference is required for {kind} orders"
    if peg == 0:
        return f"pegDifference of a {kind} order must not be zero"
    if action is OrderAction.Sell and peg > 0:
        return f"pegDifference of a Sell {kind} must be negative: its stop trails below the market"
    if action is OrderAction.Buy and peg < 0:
        return f"pegDifference of a Buy {kind} must be positive: its stop trails above the market"
    return None


def reference(action: OrderAction, quote: Quote) -> int | None:
    """The price a trailing stop follows: the bid for a Sell, the offer for a Buy (the last trade when that side
    is empty)."""
    touch = quote.bid if action is OrderAction.Sell else quote.ask
    return touch if touch is not None else quote.last


def trail(action: OrderAction, stop: int | None, peg: int, quote: Quote) -> int | None:
    """The stop the order should now have, in ticks, or None when it stays where it is (no quote to follow, or the
    market has not moved in the order's favour beyond its extreme so far)."""
    followed = reference(action, quote)
    if followed is None:
        return None
    candidate = followed + peg
    if stop is None:
        return candidate
    better = candidate > stop if action is OrderAction.Sell else candidate < stop
    return candidate if better else None


def follow(action: OrderAction, quote: Quote, tick_size: float, *, stop_price: float | None, price: float | None,
           peg_difference: float | None) -> tuple[float, float | None] | None:
    """The (stopPrice, price) a trailing order moves to under `quote`, its limit `price` (if any) moved by as much
    as its stop; None when it stays."""
    peg = None if peg_difference is None else to_ticks(peg_difference, tick_size)
    if peg is None:
        return None
    stop = None if stop_price is None else to_ticks(stop_price, tick_size)
    moved = trail(action, stop, peg, quote)
    if moved is None:
        return None
    limit = None if price is None else to_ticks(price, tick_size)
    if limit is not None and stop is not None:
        price = to_price(limit + moved - stop, tick_size)
    return to_price(moved, tick_size), price
