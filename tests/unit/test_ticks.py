"""Prices as integer ticks: round trips on every grid we list, off-grid detection, decimals and money."""

import math
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core.ticks import decimals_of, nearest_ticks, to_money, to_price, to_ticks

GRIDS = (0.25, 0.01, 0.1, 1.0, 0.00005)
FAST = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(("tick_size", "decimals"), [(0.25, 2), (0.01, 2), (0.1, 1), (1.0, 0), (0.00005, 5),
                                                     (0.5, 1), (0.03125, 5), (10.0, 0)])
def test_decimals_match_the_grid_when_tick_size_is(tick_size: float, decimals: int) -> None:
    assert decimals_of(tick_size) == decimals


@pytest.mark.parametrize(("price", "tick_size", "ticks"), [
    (6789.25, 0.25, 27_157), (6789.0, 0.25, 27_156), (72.37, 0.01, 7_237), (4321.1, 0.1, 43_211),
    (19_876.0, 1.0, 19_876), (1.08455, 0.00005, 21_691), (0.0, 0.25, 0), (-37.63, 0.01, -3_763),
])
def test_to_ticks_counts_ticks_when_price_is_on_the_grid(price: float, tick_size: float, ticks: int) -> None:
    assert to_ticks(price, tick_size) == ticks
    assert to_price(ticks, tick_size) == price


@pytest.mark.parametrize(("price", "tick_size"), [
    (6789.1, 0.25), (6789.125, 0.25), (72.375, 0.01), (4321.15, 0.1), (19_876.5, 1.0), (1.08457, 0.00005),
    (1.084525, 0.00005), (0.01, 0.25),
])
def test_to_ticks_answers_none_when_price_is_off_the_grid(price: float, tick_size: float) -> None:
    assert to_ticks(price, tick_size) is None


@given(tick_size=st.sampled_from(GRIDS), ticks=st.integers(min_value=-2_000_000, max_value=2_000_000))
@FAST
def test_price_round_trips_when_ticks_go_to_price_and_back(tick_size: float, ticks: int) -> None:
    price = to_price(ticks, tick_size)
    assert to_ticks(price, tick_size) == ticks
    assert nearest_ticks(price, tick_size) == ticks


@given(tick_size=st.sampled_from(GRIDS), ticks=st.integers(min_value=-2_000_000, max_value=2_000_000))
@FAST
def test_price_prints_with_the_grid_decimals_when_converted_from_ticks(tick_size: float, ticks: int) -> None:
    price = to_price(ticks, tick_size)
    assert round(price, decimals_of(tick_size)) == price
    text = f"{price:.{decimals_of(tick_size)}f}"
    assert float(text) == price


@given(tick_size=st.sampled_from(GRIDS), ticks=st.integers(min_value=-1_000_000, max_value=1_000_000),
       fraction=st.sampled_from((0.1, 0.25, 0.5, 0.75, 0.9)))
@FAST
def test_to_ticks_answers_none_when_price_is_between_two_ticks(tick_size: float, ticks: int,
                                                               fraction: float) -> None:
    price = (ticks + fraction) * tick_size
    assert to_ticks(price, tick_size) is None


@given(tick_size=st.sampled_from(GRIDS), ticks=st.integers(min_value=-1_000_000, max_value=1_000_000),
       offset=st.floats(min_value=-0.49, max_value=0.49))
@FAST
def test_nearest_ticks_snaps_to_the_grid_when_price_is_near_a_tick(tick_size: float, ticks: int,
                                                                   offset: float) -> None:
    assert nearest_ticks((ticks + offset) * tick_size, tick_size) == ticks


@pytest.mark.parametrize(("amount", "money"), [(12.345, 12.35), (-0.004, -0.0), (1250.0, 1250.0),
                                               (0.1 + 0.2, 0.3)])
def test_to_money_keeps_cents_when_amount_has_more_decimals(amount: float, money: float) -> None:
    assert to_money(amount) == money


@pytest.mark.parametrize("price", [1e308, -1e308, float("inf"), float("nan")])
def test_to_ticks_is_none_when_the_price_has_no_tick_count(price: float) -> None:
    assert to_ticks(price, 0.25) is None


def _same_double(a: float, b: float) -> bool:
    """Equal bit for bit: the same value and the same sign of zero (NaN equals NaN)."""
    return struct.pack("<d", a) == struct.pack("<d", b)


def _amounts() -> list[float]:
    """Money-like amounts (cents and their halves, fee products, sums of fills), their neighbours one unit in the
    last place away, magnitudes up to 1e15, signed zeros, NaN and the infinities; deterministic."""
    draw = random.Random(9)
    values = [0.0, -0.0, 0.001, -0.001, 0.005, -0.005, 0.015, 2.675, 1.005, 1e15, -1e15, 2.0**45 / 100,
              float("nan"), float("inf"), float("-inf")]
    for _ in range(20_000):
        cents = draw.randint(-10**9, 10**9)
        values += [cents / 100, (cents + 0.5) / 100, cents / 100 + draw.random() / 100, 1.29 * draw.randint(1, 500),
                   draw.uniform(-1e13, 1e13), draw.uniform(-1, 1) * 10.0 ** draw.randint(-6, 15)]
    values += [math.nextafter(v, math.inf) for v in values[:40_000]]
    values += [math.nextafter(v, -math.inf) for v in values[:40_000]]
    return values


def test_to_money_rounds_exactly_as_round_to_two_digits_when_amounts_are_anything() -> None:
    # to_money computes the usual case in binary (core/ticks.py): every result must be round()'s, bit for bit
    mismatches = [v for v in _amounts() if not _same_double(to_money(v), round(v, 2))]
    assert mismatches == []


def test_to_money_changes_nothing_when_the_amount_or_its_negation_is_money_already() -> None:
    # the blotter rounds each fee and P&L once and books the result (and its negation) without rounding it again
    money = [to_money(v) for v in _amounts() if not math.isnan(v)]
    again = [m for m in money if not (_same_double(to_money(m), m) and _same_double(to_money(-m), -m))]
    assert again == []


@pytest.mark.parametrize("tick_size", [*GRIDS, 0.5, 0.03125, 10.0, 0.0001, 1e-9])
def test_to_price_rounds_exactly_as_round_to_the_grid_decimals_when_ticks_are_anything(tick_size: float) -> None:
    draw = random.Random(11)
    ticks = [0, 1, -1, 2**40, -(2**40), 2**53, *(draw.randint(-10**12, 10**12) for _ in range(20_000)),
             *(draw.randint(-10**6, 10**6) for _ in range(20_000))]
    digits = decimals_of(tick_size)
    mismatches = [t for t in ticks if not _same_double(to_price(t, tick_size), round(t * tick_size, digits))]
    assert mismatches == []
