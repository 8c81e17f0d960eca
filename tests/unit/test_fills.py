"""How orders meet the simulated book: depth levels, taking liquidity, stop triggers and limit crosses."""

import pytest
from builders import make_quote
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core.fills import (
    is_limit_crossed,
    is_marketable,
    is_stop_triggered,
    is_within,
    levels,
    take,
)
from tradovate_sim.core.view import Quote
from tradovate_sim.model.enums import OrderAction

BUY, SELL = OrderAction.Buy, OrderAction.Sell


# --- levels ---------------------------------------------------------------------------------------


def test_levels_are_the_touch_then_depth_upwards_when_buying() -> None:
    quote = make_quote(bid=100, ask=101, ask_size=3, depth_size=5, depth_levels=2)
    assert levels(quote, BUY) == [(101, 3), (102, 5), (103, 5)]


def test_levels_are_the_touch_then_depth_downwards_when_selling() -> None:
    quote = make_quote(bid=100, ask=101, bid_size=4, depth_size=2, depth_levels=3)
    assert levels(quote, SELL) == [(100, 4), (99, 2), (98, 2), (97, 2)]


def test_levels_are_only_the_touch_when_no_depth_is_shown() -> None:
    assert levels(make_quote(bid=100, ask=101, ask_size=7, depth_levels=5), BUY) == [(101, 7)]


@pytest.mark.parametrize("quote", [make_quote(ask=None), make_quote(ask_size=0, depth_size=5, depth_levels=3)])
def test_levels_are_empty_when_the_offer_is_missing_or_empty(quote: Quote) -> None:
    assert levels(quote, BUY) == []


def test_levels_are_empty_when_the_bid_is_missing() -> None:
    assert levels(make_quote(bid=None), SELL) == []


# --- take -----------------------------------------------------------------------------------------


def test_take_fills_at_the_touch_when_the_touch_is_large_enough() -> None:
    assert take(make_quote(bid=100, ask=101, ask_size=10), BUY, 4) == [(4, 101)]


def test_take_walks_the_depth_when_the_touch_is_too_small() -> None:
    quote = make_quote(bid=100, ask=101, bid_size=2, depth_size=3, depth_levels=4)
    assert take(quote, SELL, 7) == [(2, 100), (3, 99), (2, 98)]


def test_take_leaves_the_remainder_unfilled_when_the_book_runs_out() -> None:
    quote = make_quote(bid=100, ask=101, ask_size=2, depth_size=1, depth_levels=2)
    assert take(quote, BUY, 10) == [(2, 101), (1, 102), (1, 103)]


def test_take_stops_at_the_limit_when_depth_goes_past_it() -> None:
    quote = make_quote(bid=100, ask=101, ask_size=2, depth_size=5, depth_levels=5)
    assert take(quote, BUY, 20, limit=102) == [(2, 101), (5, 102)]


def test_take_fills_nothing_when_the_limit_is_not_marketable() -> None:
    quote = make_quote(bid=100, ask=101, bid_size=5, depth_size=5, depth_levels=5)
    assert take(quote, SELL, 3, limit=101) == []


def test_take_includes_the_level_at_the_limit_when_selling() -> None:
    quote = make_quote(bid=100, ask=101, bid_size=1, depth_size=1, depth_levels=5)
    assert take(quote, SELL, 5, limit=98) == [(1, 100), (1, 99), (1, 98)]


def test_take_fills_nothing_when_there_is_no_offer() -> None:
    assert take(make_quote(ask=None), BUY, 3) == []


@given(
    action=st.sampled_from([BUY, SELL]),
    qty=st.integers(min_value=1, max_value=200),
    top_size=st.integers(min_value=0, max_value=30),
    depth_size=st.integers(min_value=0, max_value=30),
    depth_levels=st.integers(min_value=0, max_value=10),
    limit_offset=st.none() | st.integers(min_value=-3, max_value=12),
)
@settings(max_examples=200, deadline=None)
def test_take_never_overfills_and_never_trades_through_the_limit_when_walking_any_book(
        *, action: OrderAction, qty: int, top_size: int, depth_size: int, depth_levels: int,
        limit_offset: int | None) -> None:
    quote = make_quote(bid=1000, ask=1001, bid_size=top_size, ask_size=top_size, depth_size=depth_size,
                       depth_levels=depth_levels)
    touch = 1001 if action is BUY else 1000
    step = 1 if action is BUY else -1
    limit = None if limit_offset is None else touch + step * limit_offset

    executions = take(quote, action, qty, limit)

    taken = sum(q for q, _ in executions)
    shown = sum(size for price, size in levels(quote, action) if limit is None or is_within(action, price, limit))
    assert taken == min(qty, shown)
    assert all(q > 0 for q, _ in executions)
    prices = [p for _, p in executions]
    assert prices == sorted(prices, reverse=action is SELL)  # best price first
    assert len(set(prices)) == len(prices)
    if limit is not None:
        assert all(is_within(action, p, limit) for p in prices)


# --- stop triggers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ask", "last", "triggered"), [
    (104, None, False), (105, None, True), (106, None, True), (104, 105, True), (103, 104, False),
])
def test_buy_stop_triggers_when_the_offer_or_last_reaches_the_stop(ask: int, last: int | None,
                                                                  triggered: bool) -> None:
    quote = make_quote(bid=ask - 1, ask=ask, last=last)
    assert is_stop_triggered(BUY, 105, quote) is triggered


@pytest.mark.parametrize(("bid", "last", "triggered"), [
    (96, None, False), (95, None, True), (94, None, True), (96, 95, True), (97, 96, False),
])
def test_sell_stop_triggers_when_the_bid_or_last_reaches_the_stop(bid: int, last: int | None,
                                                                  triggered: bool) -> None:
    quote = make_quote(bid=bid, ask=bid + 1, last=last)
    assert is_stop_triggered(SELL, 95, quote) is triggered


def test_buy_stop_does_not_trigger_when_only_the_bid_reaches_the_stop() -> None:
    assert not is_stop_triggered(BUY, 105, make_quote(bid=105, ask=None))


def test_stop_does_not_trigger_when_the_quote_is_empty() -> None:
    empty = make_quote(bid=None, ask=None)
    assert not is_stop_triggered(BUY, 105, empty)
    assert not is_stop_triggered(SELL, 95, empty)


# --- limit crosses --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ask", "last", "crossed"), [
    (101, None, False), (100, None, True), (99, None, True), (101, 100, True), (102, 101, False),
])
def test_resting_buy_limit_crosses_when_the_offer_or_last_reaches_the_limit(ask: int, last: int | None,
                                                                           crossed: bool) -> None:
    quote = make_quote(bid=ask - 1, ask=ask, last=last)
    assert is_limit_crossed(BUY, 100, quote) is crossed


@pytest.mark.parametrize(("bid", "last", "crossed"), [
    (99, None, False), (100, None, True), (101, None, True), (99, 100, True), (98, 99, False),
])
def test_resting_sell_limit_crosses_when_the_bid_or_last_reaches_the_limit(bid: int, last: int | None,
                                                                          crossed: bool) -> None:
    quote = make_quote(bid=bid, ask=bid + 1, last=last)
    assert is_limit_crossed(SELL, 100, quote) is crossed


def test_buy_limit_does_not_cross_when_only_the_bid_reaches_it() -> None:
    assert not is_limit_crossed(BUY, 100, make_quote(bid=100, ask=None))


@pytest.mark.parametrize(("action", "limit", "marketable"), [
    (BUY, 101, True), (BUY, 102, True), (BUY, 100, False), (SELL, 100, True), (SELL, 99, True), (SELL, 101, False),
])
def test_limit_is_marketable_when_it_reaches_the_opposite_touch(action: OrderAction, limit: int,
                                                                marketable: bool) -> None:
    assert is_marketable(action, limit, make_quote(bid=100, ask=101)) is marketable


def test_limit_is_not_marketable_when_the_opposite_side_is_missing() -> None:
    assert not is_marketable(BUY, 200, make_quote(ask=None))
    assert not is_marketable(SELL, 1, make_quote(bid=None))
