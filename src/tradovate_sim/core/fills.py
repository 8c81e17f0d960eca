"""How an order meets the simulated book: which prices and sizes it takes, when stops trigger, when limits cross.

A market order takes the touch and walks the displayed depth; what the book does not show stays unfilled.
A resting limit fills at its own price once the opposite side trades through or touches it.
"""

from tradovate_sim.core.view import Quote
from tradovate_sim.model.enums import OrderAction

_BUY = OrderAction.Buy  # read once: a member read off its enum class is slow (Python 3.11)


def levels(quote: Quote, action: OrderAction) -> list[tuple[int, int]]:
    """The (price in ticks, size) levels an order with this action can take, best first."""
    if action is _BUY:
        if quote.ask is None or quote.ask_size <= 0:
            return []
        top, size, step = quote.ask, quote.ask_size, 1
    else:
        if quote.bid is None or quote.bid_size <= 0:
            return []
        top, size, step = quote.bid, quote.bid_size, -1
    book = [(top, size)]
    if quote.depth_size > 0:
        book.extend((top + step * k, quote.depth_size) for k in range(1, quote.depth_levels + 1))
    return book


def take(quote: Quote, action: OrderAction, qty: int, limit: int | None = None) -> list[tuple[int, int]]:
    """Executions (qty, price in ticks) for `qty` taken from the book, not past `limit` when given."""
    if action is _BUY:
        top, size, step = quote.ask, quote.ask_size, 1
    else:
        top, size, step = quote.bid, quote.bid_size, -1
    executions: list[tuple[int, int]] = []
    if top is None or size <= 0:
        return executions
    remaining, price, level = qty, top, 0
    while remaining > 0:
        if limit is not None and not is_within(action, price, limit):
            break
        lot = min(size, remaining)
        executions.append((lot, price))
        remaining -= lot
        level += 1
        if level > quote.depth_levels or quote.depth_size <= 0:
            break
        price, size = top + step * level, quote.depth_size
    return executions


def is_within(action: OrderAction, price: int, limit: int) -> bool:
    """Whether `price` is at or better than `limit` for this side."""
    return price <= limit if action is OrderAction.Buy else price >= limit


def is_marketable(action: OrderAction, limit: int, quote: Quote) -> bool:
    """Whether a limit order would execute on arrival against the opposite touch."""
    touch = quote.ask if action is OrderAction.Buy else quote.bid
    return touch is not None and is_within(action, touch, limit)


def is_stop_triggered(action: OrderAction, stop: int, quote: Quote) -> bool:
    """A buy stop triggers when the offer or last trade reaches it from below; a sell stop mirrors it."""
    if action is _BUY:
        return any(p is not None and p >= stop for p in (quote.ask, quote.last))
    return any(p is not None and p <= stop for p in (quote.bid, quote.last))


def is_limit_crossed(action: OrderAction, limit: int, quote: Quote) -> bool:
    """A resting limit fills once the opposite touch or the last trade reaches its price."""
    if action is _BUY:
        return any(p is not None and p <= limit for p in (quote.ask, quote.last))
    return any(p is not None and p >= limit for p in (quote.bid, quote.last))
