"""Trailing stops: where a `TrailingStop` / `TrailingStopLimit` order's stop sits as the market moves.

`pegDifference` is signed like the stop's distance from the market: negative for a Sell (its stop trails below the
highest bid seen since it started working), positive for a Buy (above the lowest offer). The stop only ever moves in
the order's favour; when it does, the order gets a new version carrying the new `stopPrice` (and, for a
`TrailingStopLimit`, a `price` moved by as much, which keeps the limit's offset from the stop).
"""

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
