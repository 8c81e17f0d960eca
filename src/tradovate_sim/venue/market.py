"""The simulated market: one quote per contract, moved by a seeded random walk or set by hand.

A quote set by hand is pinned: the walk leaves it alone until it is released, so tests are deterministic.
"""

import random
from datetime import datetime

import msgspec

from tradovate_sim.core.view import Quote

DEPTH_LEVELS = 10


class Market:
    """Current quotes by contract id. Not thread-safe: owned by the event loop."""

    def __init__(self, seed: int = 0) -> None:
        self.quotes: dict[int, Quote] = {}
        self.pinned: set[int] = set()
        self.random = random.Random(seed)

    def seed_quote(self, contract_id: int, reference_ticks: int, size: int, now: datetime) -> None:
        """Give a newly listed contract a one-tick-wide quote around its reference price."""
        if contract_id not in self.quotes:
            self.quotes[contract_id] = Quote(
                contract_id=contract_id, timestamp=now, bid=reference_ticks, ask=reference_ticks + 1,
                bid_size=size, ask_size=size, last=reference_ticks, last_size=1, depth_size=size,
                depth_levels=DEPTH_LEVELS,
            )

    def set(self, quote: Quote) -> None:
        """Set a quote exactly and pin it against the walk."""
        self.quotes[quote.contract_id] = quote
        self.pinned.add(quote.contract_id)

    def release(self, contract_id: int) -> None:
        self.pinned.discard(contract_id)

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
            self.quotes[contract_id] = msgspec.structs.replace(
                quote, timestamp=now, bid=quote.bid + step, ask=quote.ask + step, last=trade,
                last_size=self.random.randint(1, 5),
            )
            moved.append(contract_id)
        return moved
