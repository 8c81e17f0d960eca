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
    price = ticks * tick_size
    digits = decimals_of(tick_size)
    if digits < len(_SCALES):  # `round(price, digits)`, the usual case without its decimal strings (see below)
        scale = _SCALES[digits]
        scaled = price * scale
        whole = (scaled + _ROUNDER) - _ROUNDER
        if _NEG_BOUND < scaled < _BOUND and _NEG_MARGIN < scaled - whole < _MARGIN:
            return whole / scale if whole else price * 0.0
    return round(price, digits)


def to_money(amount: float) -> float:
    """Dollar amounts are kept to the cent: `round(amount, 2)`, bit for bit.

    The builtin formats and parses decimal strings (about 3,000 instructions; a liquidation rounds some 35
    amounts), so the usual case is done in binary: `scaled = amount * 100` is within half a unit in its last place
    (at most 2**-9 below `_BOUND`) of the exact product, so when `scaled` is within `_MARGIN` (0.49) of an integer,
    that integer is the exact product's nearest, with no tie, and `whole / 100` (two exact doubles, one correctly
    rounded division) is the double nearest that decimal: what `round` returns. Near a half, beyond the bound, for
    NaN and infinities, the builtin decides. A zero keeps the sign `round` gives it (-0.001 rounds to -0.0)."""
    scaled = amount * 100.0
    whole = (scaled + _ROUNDER) - _ROUNDER
    if _NEG_BOUND < scaled < _BOUND and _NEG_MARGIN < scaled - whole < _MARGIN:
        return whole / 100.0 if whole else amount * 0.0
    return round(amount, 2)


_SCALES = tuple(float(10**digits) for digits in range(16))  # exact: 10**n is a double for every n <= 22
_BOUND = float(2**45)  # below it a double's spacing is at most 2**-8
_MARGIN = 0.49
_NEG_BOUND, _NEG_MARGIN = -_BOUND, -_MARGIN  # negated once, not on every call
_ROUNDER = float(3 * 2**51)  # adding and subtracting it rounds a double below 2**51 to an integer (ties to even)
