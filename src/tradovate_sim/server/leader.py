"""Which process runs the synthetic market and the timers (auto-liquidation, margins, trade-date rolls, expiry).

On SQLite the only process does. On PostgreSQL one process is the leader: it holds a session-level advisory lock;
the others try to take it every second, so that when the leader dies (its session ends with it) another takes over
within about a second and its market walks on from the last quotes it received. The leader sends every moved quote
on NOTIFY `tradovate_sim_quote` (payloads under PostgreSQL's 8000-byte limit); the others apply them to their
market and tell their market-data subscribers, as the leader does. Quotes set by hand (pinned) are not sent: their
`/sim/quote` control reaches every process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from tradovate_sim.core.view import Quote
from tradovate_sim.model.ids import ContractId
from tradovate_sim.service.background import Background
from tradovate_sim.storage.postgres_cluster import QUOTE_CHANNEL as QUOTE

if TYPE_CHECKING:
    from tradovate_sim.server.runtime import Runtime

__all__ = ["Leadership"]

log = logging.getLogger("tradovate_sim")

TRY_SECONDS = 1.0
_PAYLOAD = 7000  # bytes of quotes per NOTIFY at most
_QUOTES = msgspec.json.Decoder(list[Quote])


class Leadership:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.leading = False
        self.background = Background()  # the wait for the lead, quotes being sent

    async def start(self) -> None:
        cluster = self.runtime.cluster
        if cluster is None:
            await self._lead()
            return
        await cluster.listen(QUOTE, self._received)
        if await cluster.try_lead():
            await self._lead()
        else:
            self.background.spawn(self._wait_for_the_lead(), name="leader-election")

    async def stop(self) -> None:
        await self.background.stop()

    async def _wait_for_the_lead(self) -> None:
        cluster = self.runtime.cluster
        assert cluster is not None
        while True:
            await asyncio.sleep(TRY_SECONDS)
            try:
                if await cluster.try_lead():
                    log.warning("this process leads now: it runs the market and the timers")
                    await self._lead()
                    return
            except Exception as error:  # the database is away: try again
                log.warning("trying to lead: %s", error)

    async def _lead(self) -> None:
        runtime = self.runtime
        self.leading = True
        if runtime.cluster is not None:
            runtime.platform.quote_listeners.append(self._send)
        await runtime.autoliq.drain()  # what was breached while no one led (or the clock moved) acts now
        runtime.autoliq.start()
        if runtime.settings.quotes == "synthetic":
            runtime.loop.start()
        runtime.margins.start()
        runtime.rollover.start()
        runtime.expiry.start()
        runtime.settlement.start()

    # --- quotes between processes ------------------------------------------------------------------------

    def _send(self, contract_ids: Sequence[ContractId]) -> None:
        cluster = self.runtime.cluster
        market = self.runtime.platform.market
        # a quote set by hand (pinned) reaches every process by its /sim/quote control, in the controls' order;
        # sent here too it could arrive after the next one and undo it
        moved = [market.quotes[c] for c in contract_ids if c in market.quotes and c not in market.pinned]
        if cluster is None or not moved:
            return
        payloads: list[str] = []
        chunk: list[str] = []
        size = 0
        for quote in moved:
            encoded = msgspec.json.encode(quote).decode()
            if chunk and size + len(encoded) > _PAYLOAD:
                payloads.append("[" + ",".join(chunk) + "]")
                chunk, size = [], 0
            chunk.append(encoded)
            size += len(encoded) + 1
        payloads.append("[" + ",".join(chunk) + "]")
        self.background.spawn(self._notify(payloads))

    async def _notify(self, payloads: list[str]) -> None:
        cluster = self.runtime.cluster
        assert cluster is not None
        try:
            for payload in payloads:
                await cluster.notify(QUOTE, payload)
        except Exception as error:  # quotes are not durable: the next tick sends them again
            log.warning("sending quotes: %s", error)

    def _received(self, payload: str) -> None:
        if self.leading:
            return
        try:
            quotes = _QUOTES.decode(payload)
        except msgspec.DecodeError:
            log.warning("quotes that cannot be read: %.200s", payload)
            return
        market = self.runtime.platform.market
        moved = [q for q in quotes if q.contract_id not in market.pinned and market.quotes.get(q.contract_id) != q]
        for quote in moved:
            market.quotes[quote.contract_id] = quote
        if moved:
            self.runtime.platform.quotes_changed([ContractId(q.contract_id) for q in moved])
