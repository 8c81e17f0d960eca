"""Releasing a pinned quote hands it back to the walk, whatever sides it was pinned with."""

from datetime import UTC, datetime

import pytest

from tradovate_sim.core.view import Quote
from tradovate_sim.venue.market import Market

NOW = datetime(2026, 11, 24, 15, tzinfo=UTC)


def pinned(bid: int | None, ask: int | None, last: int | None = None) -> Market:
    market = Market(seed=0)
    market.set(Quote(contract_id=1, timestamp=NOW, bid=bid, ask=ask, bid_size=4, ask_size=6, last=last,
                     last_size=1, depth_size=4, depth_levels=10))
    return market


@pytest.mark.parametrize(("bid", "ask", "last", "released"), [
    (100, None, None, (100, 101, 4, 4)),
    (None, 100, None, (99, 100, 6, 6)),
    (None, None, 250, (250, 251, 6, 6)),
    (None, None, None, (500, 501, 6, 6)),
    (100, 102, None, (100, 102, 4, 6)),
], ids=["bid-only", "ask-only", "empty-with-last", "empty", "two-sided"])
def test_release_gives_the_walk_a_two_sided_quote_when_it_was_pinned_with_a_side_missing(
        bid: int | None, ask: int | None, last: int | None, released: tuple[int, int, int, int]) -> None:
    # Arrange
    market = pinned(bid, ask, last)
    trades = len(market.tape(1).trades)

    # Act
    changed = market.release(1, NOW, reference_ticks=500)
    quote = market.quotes[1]
    printed = len(market.tape(1).trades) - trades
    moved = [market.walk(NOW, probability=1.0) for _ in range(3)]

    # Assert: two-sided, no trade printed by the release, and the walk moves it
    assert changed == (bid is None or ask is None)
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == released
    assert printed == 0
    assert all(m == [1] for m in moved)
