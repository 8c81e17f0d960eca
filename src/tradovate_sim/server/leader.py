"""Which process runs the synthetic market and the timers (auto-liquidation, margins, trade-date rolls, expiry).

On SQLite the only process does. On PostgreSQL one process is the leader: it holds a session-level advisory lock
on a connection of its own; the others try to take it every second, so that when the leader dies (its session ends
with it) another takes over within about a second and its market walks on from the last quotes it received. The
leader sends every moved quote on NOTIFY `tradovate_sim_quote` (payloads under PostgreSQL's 8000-byte limit); the
others apply them to their market and tell their market-data subscribers, as the leader does. Quotes set by hand
(pinned) are not sent: their `/sim/quote` control reaches every process.

The lock goes with its connection (PostgreSQL restarted, the session terminated, the network cut): the leader
steps down as soon as it knows — at once when the connection closes (asyncpg's termination listener), else when
PostgreSQL does not confirm the lock within `WATCH_SECONDS` + `LIVENESS_SECONDS` (a connection hung open). It stops
sending quotes and stops the market loop and every timer, each after the tick under way (service/periodic.py), and
goes back to the election: it leads again only by taking the lock again. The timers' commits carry the lock's
session as a fence (storage/postgres.py `LEADER_FENCE`): one that reaches the database after the session ended is
refused with nothing written, whoever leads by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import msgspec

from tradovate_sim.core.view import Quote
from tradovate_sim.model.ids import ContractId
from tradovate_sim.service.background import Background
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.postgres import LEADER_FENCE
from tradovate_sim.storage.postgres_cluster import QUOTE_CHANNEL as QUOTE

if TYPE_CHECKING:
    from tradovate_sim.server.runtime import Runtime

__all__ = ["Leadership"]

log = logging.getLogger("tradovate_sim")

TRY_SECONDS = 1.0
WATCH_SECONDS = 1.0  # the leader asks PostgreSQL this often whether its lock is still held
_PAYLOAD = 7000  # bytes of quotes per NOTIFY at most
_QUOTES = msgspec.json.Decoder(list[Quote])


class Leadership:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.leading = False
        self.terms = 0  # how many times this process took the lead
        self.background = Background()  # the election, for the life of the process
        self.sending = Background()  # quotes being sent, while leading
        self._lost = asyncio.Event()  # the lock's connection closed (set by the cluster's termination listener)
        self._fence: tuple[int, str] | None = None  # the lock's session, while leading
        self.changed: list[Callable[[bool], None]] = []  # told when this process takes the lead or steps down

    async def start(self) -> None:
        cluster = self.runtime.cluster
        if cluster is None:
            await self._lead()
            return
        await cluster.listen(QUOTE, self._received)
        cluster.leader_lost = self._lost.set
        self._lost.clear()
        if await cluster.try_lead():
            await self._lead()
        self.background.spawn(self._elect(), name="leader-election")

    async def stop(self) -> None:
        await self.background.stop()
        await self.sending.stop()

    def running(self) -> list[str]:
        """The names of the market's and the timers' tasks that run in this process now."""
        runtime = self.runtime
        tickers = [runtime.loop.ticker, runtime.autoliq.timer, runtime.autoliq.flusher, runtime.margins.ticker,
                   runtime.rollover.ticker, runtime.expiry.ticker, runtime.settlement.ticker]
        return [t.name for t in tickers if t is not None and t.running]

    async def _elect(self) -> None:
        """For the life of the process: while leading, watch the lock and step down when it is lost; else try to
        take it every `TRY_SECONDS`."""
        cluster = self.runtime.cluster
        assert cluster is not None
        while True:
            if self.leading:
                reason = await self._watch()
                log.warning("this process no longer leads (%s): it stops the market and the timers", reason)
                await self._step_down()
                continue
            await asyncio.sleep(TRY_SECONDS)
            try:
                self._lost.clear()
                if await cluster.try_lead():
                    await self._lead()
            except Exception as error:  # the database is away: try again
                log.warning("trying to lead: %s", str(error).splitlines()[0] if str(error) else repr(error))

    async def _watch(self) -> str:
        """Wait until the lock is lost; returns how."""
        cluster = self.runtime.cluster
        assert cluster is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), WATCH_SECONDS)
            if self._lost.is_set() or not cluster.leading:
                return "its lock's connection to PostgreSQL was lost"
            if not await cluster.leader_alive():
                return "PostgreSQL did not confirm its lock"

    async def _lead(self) -> None:
        runtime = self.runtime
        if runtime.cluster is not None:  # at start too: which of the database's processes leads is in its log
            log.warning("this process leads now: it runs the market and the timers")
            self._fence = runtime.cluster.fence
        self.leading = True
        self.terms += 1
        self._tell()
        # every task started from here on (and the drain's) commits behind the fence of this term's lock
        token = LEADER_FENCE.set(self._fence)
        try:
            if runtime.cluster is not None and self._send not in runtime.platform.quote_listeners:
                runtime.platform.quote_listeners.append(self._send)
            await runtime.autoliq.drain()  # what was breached while no one led (or the clock moved) acts now
            runtime.autoliq.start()
            if runtime.settings.quotes == "synthetic":
                runtime.loop.start()
            runtime.margins.start()
            runtime.rollover.start()
            runtime.expiry.start()
            runtime.settlement.start()
        finally:
            LEADER_FENCE.reset(token)

    async def _step_down(self) -> None:
        """Stop leading: no quote sent from now on; the market and every timer stopped, each after its tick under
        way (a commit of theirs that reaches the database now is refused by the fence); then the lock's connection
        dropped if it was still open."""
        runtime = self.runtime
        self.leading = False
        self._tell()
        if self._send in runtime.platform.quote_listeners:
            runtime.platform.quote_listeners.remove(self._send)
        await self.sending.stop()
        token = LEADER_FENCE.set(self._fence)  # auto-liquidation's last flush of water marks too
        try:
            for part in (runtime.loop, runtime.autoliq, runtime.margins, runtime.rollover, runtime.expiry,
                         runtime.settlement):
                try:
                    await part.stop()
                except StoreError as error:  # auto-liquidation's last flush, refused by the fence or the database
                    log.warning("stepping down: %s", error)
                except Exception:  # a bug: logged; the others stop all the same and the election goes on
                    log.exception("stepping down: stopping %s failed", type(part).__name__)
        finally:
            LEADER_FENCE.reset(token)
        self._fence = None
        if runtime.cluster is not None:
            runtime.cluster.give_up_lead()

    def _tell(self) -> None:
        for listener in self.changed:
            try:
                listener(self.leading)
            except Exception:  # a listener's failure is not the leadership's
                log.exception("a leadership listener failed")

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
        self.sending.spawn(self._notify(payloads))

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
