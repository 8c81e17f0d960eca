"""Prices as integer ticks: round trips on every grid we list, off-grid detection, decimals and money."""

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
