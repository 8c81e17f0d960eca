"""Prices as integer ticks. Every conversion and rounding rule between wire prices and ticks lives here."""

import functools
import math
from decimal import Decimal


@functools.cache
def decimals_of(tick_size: float) -> int:
    """How many decimals a price on this tick grid needs (0.25 -> 2, 0.01 -> 2, 1.0 -> 0, 0.00005 -> 5)."""
    exponent = Decimal(repr(tick_size)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def to_ticks(price: float, tick_size: float) -> int | None:
    """The tick count of a price, or None when the price is not on the grid (beyond float noise) or has no tick
    count (infinite or NaN, or so large that the division overflows)."""
    exact = price / tick_size
    if not math.isfinite(exact):
        return None
    ticks = round(exact)
    if abs(ticks * tick_size - price) > tick_size * 1e-6:
        return None
    return ticks


def nearest_ticks(price: float, tick_size: float) -> int:
    """The tick count of the grid price nearest to `price`."""
    return round(price / tick_size)


def to_price(ticks: int, tick_size: float) -> float:
    """The wire price of a tick count, rounded to the grid's decimals so that 6789.25 prints as 6789.25."""
    return round(ticks * tick_size, decimals_of(tick_size))


def to_money(amount: float) -> float:
    """Dollar amounts are kept to the cent."""
    return round(amount, 2)
