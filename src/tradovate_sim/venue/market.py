"""The simulated market: one quote per contract, moved by a seeded random walk or set by hand, and the tape of the
trades those moves print.

A quote set by hand is pinned: the walk leaves it alone until it is released, so tests are deterministic. Every
walk step is a trade (at the touch it moves away from); a quote set by hand is a trade when it carries `last`.
"""

import random
from datetime import datetime

import msgspec

from tradovate_sim.core.view import Quote
from tradovate_sim.venue.tape import Tape

DEPTH_LEVELS = 10


class Market:
    """Current quotes by contract id. Not thread-safe: owned by the event loop."""

    def __init__(self, seed: int = 0) -> None:
        self.quotes: dict[int, Quote] = {}
        self.pinned: set[int] = set()
        self.tapes: dict[int, Tape] = {}
        self.random = random.Random(seed)

    def tape(self, contract_id: int) -> Tape:
        tape = self.tapes.get(contract_id)
        if tape is None:
            tape = self.tapes[contract_id] = Tape()
        return tape

    def seed_quote(self, contract_id: int, reference_ticks: int, size: int, now: datetime) -> None:
        """Give a newly listed contract (or one whose quotes were cleared) a one-tick-wide quote around its
        reference price and an empty tape."""
        if contract_id not in self.quotes:
            self.tapes.pop(contract_id, None)
            self.quotes[contract_id] = Quote(
                contract_id=contract_id, timestamp=now, bid=reference_ticks, ask=reference_ticks + 1,
                bid_size=size, ask_size=size, last=reference_ticks, last_size=1, depth_size=size,
                depth_levels=DEPTH_LEVELS,
            )

    def set(self, quote: Quote) -> None:
        """Set a quote exactly and pin it against the walk; its `last`, if any, is a trade."""
        before = self.quotes.get(quote.contract_id)
        self.quotes[quote.contract_id] = quote
        self.tape(quote.contract_id).record(before, quote)
        self.pinned.add(quote.contract_id)

    def release(self, contract_id: int, now: datetime, reference_ticks: int) -> bool:
        """Hand a pinned quote back to the walk. One pinned one-sided gets its missing side one tick away from the
        other, an empty one a one-tick-wide quote at its last trade (else `reference_ticks`), so that the walk can
        move it; returns whether the quote changed (releasing prints no trade)."""
        self.pinned.discard(contract_id)
        quote = self.quotes.get(contract_id)
        if quote is None or (quote.bid is not None and quote.ask is not None):
            return False
        if quote.bid is not None:
            bid, ask, size = quote.bid, quote.bid + 1, quote.bid_size
        elif quote.ask is not None:
            bid, ask, size = quote.ask - 1, quote.ask, quote.ask_size
        else:
            bid = quote.last if quote.last is not None else reference_ticks
            ask, size = bid + 1, max(quote.bid_size, quote.ask_size)
        self.quotes[contract_id] = msgspec.structs.replace(
            quote, timestamp=now, bid=bid, ask=ask, bid_size=quote.bid_size if quote.bid is not None else size,
            ask_size=quote.ask_size if quote.ask is not None else size)
        return True

    def walk(self, now: datetime, probability: float = 0.3) -> list[int]:
        """Move each unpinned quote by one tick up or down with `probability`; returns the ids that moved."""
        moved: list[int] = []
        for contract_id, quote in self.quotes.items():
            if contract_id in self.pinned or quote.bid is None or quote.ask is None:
                continue
            if self.random.random() >= probability:
                continue
            step = 1 if self.random.random() < 0.5 else -1
            trade = quote.ask if step > 0 else quote.bid
            moved_quote = msgspec.structs.replace(
                quote, timestamp=now, bid=quote.bid + step, ask=quote.ask + step, last=trade,
                last_size=self.random.randint(1, 5),
            )
            self.quotes[contract_id] = moved_quote
            self.tape(contract_id).record(quote, moved_quote)
            moved.append(contract_id)
        return moved
