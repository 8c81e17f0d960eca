"""The simulator's state that several server processes on one PostgreSQL database share, kept in the database so
that a process that joins them (a restarted worker, a second machine) takes it on: the clock when it is frozen
(`/sim/clock`), the quotes set or released by `/sim/quote` and the request limits set by `/sim/limits`.

It lives in the `meta` table under the keys `sim.clock` (the frozen instant, ISO 8601; absent: real time) and
`sim.quote.<contract id>` (the quote in ticks and whether it is pinned) and `sim.limits` (the limits as
`/sim/limits` answers them), written outside the journal (processes that are running learn of a change by its
control, server/broadcast.py). `/sim/reset` deletes the meta keys but the store's (the quotes go; the reset
writes the clock and the limits again in its transaction: it keeps them).

A move of the clock is decided when its `sim.clock` is written, under the exclusive advisory lock CLOCK_LOCK; a
timer that cannot be undone (order expiry) decides under the same lock shared, after reading `sim.clock`, and
acts only when its process's clock is that one (`confirmed_clock`): from the write on, no process acts on the
clock of before, even while the move's control is still on its way to it.

The state is taken on only while another process that finished starting is alive (each holds the shared lock
READY_KEY for its life): the first process of a deployment starts on the wall clock and the catalogue's quotes,
as on SQLite, and clears what the last deployment left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

import asyncpg
import msgspec

from tradovate_sim.core.view import Quote
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.migrations import SCHEMA

__all__ = ["CLOCK_KEY", "CLOCK_LOCK", "LIMITS_KEY", "READY_KEY", "SharedQuote", "SimulatorState", "clock_value",
           "confirmed_clock"]

READY_KEY = -0x7472_6164_0003  # held shared by every process that finished starting, for its life
CLOCK_LOCK = -0x7472_6164_0004  # exclusive while `sim.clock` is written; shared by a timer until its commit landed
CLOCK_KEY = "sim.clock"
LIMITS_KEY = "sim.limits"
QUOTE_PREFIX = "sim.quote."


class SharedQuote(msgspec.Struct, frozen=True):
    quote: Quote
    pinned: bool


_QUOTE = msgspec.json.Decoder(SharedQuote)


def clock_value(fixed: datetime | None) -> bytes | None:
    """The `sim.clock` value of a clock frozen at `fixed` (None: real time, the key is deleted)."""
    return None if fixed is None else fixed.isoformat().encode()


async def confirmed_clock(conn: asyncpg.pool.PoolConnectionProxy) -> datetime | None:
    """The clock as the database has it (None: real time), read after taking CLOCK_LOCK shared on `conn` (a
    session lock: held until the connection goes back to the pool, after the caller's commit landed). Two
    statements: a statement's snapshot is taken when it starts, before a lock it waits for is granted."""
    await conn.execute("SELECT pg_advisory_lock_shared($1)", CLOCK_LOCK)
    value = await conn.fetchval(f"SELECT value FROM {SCHEMA}.meta WHERE key = $1", CLOCK_KEY)
    return None if value is None else datetime.fromisoformat(bytes(value).decode())


async def _put(conn: asyncpg.pool.PoolConnectionProxy, key: str, value: bytes | None) -> None:
    """Set a meta key (None: delete it)."""
    if value is None:
        await conn.execute(f"DELETE FROM {SCHEMA}.meta WHERE key = $1", key)
    else:
        await conn.execute(f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ($1, $2)"
                           " ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)


Pooled = Callable[[], AbstractAsyncContextManager[asyncpg.pool.PoolConnectionProxy]]


class SimulatorState:
    """Reads and writes the shared simulator state on connections of a pool (`pooled`: one for a block, waiting
    a bounded time for it)."""

    def __init__(self, pooled: Pooled) -> None:
        self.pooled = pooled

    async def others_started(self) -> bool:
        """Whether another process that finished starting is alive (it holds READY_KEY shared)."""
        async with self._connection() as conn:
            return not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", READY_KEY)

    async def load(self) -> tuple[datetime | None, list[SharedQuote], bytes | None]:
        """The frozen clock (None: real time), the quotes set by hand and the limits set (None: the flags')."""
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT key, value FROM {SCHEMA}.meta WHERE key LIKE 'sim.%'")
        clock: datetime | None = None
        quotes: list[SharedQuote] = []
        limits: bytes | None = None
        for row in rows:
            if row["key"] == CLOCK_KEY:
                clock = datetime.fromisoformat(bytes(row["value"]).decode())
            elif row["key"] == LIMITS_KEY:
                limits = bytes(row["value"])
            elif row["key"].startswith(QUOTE_PREFIX):
                quotes.append(_QUOTE.decode(bytes(row["value"])))
        return clock, quotes, limits

    async def clear(self) -> None:
        await self._execute(f"DELETE FROM {SCHEMA}.meta WHERE key LIKE 'sim.%'")

    async def save_clock(self, fixed: datetime | None) -> None:
        """Write the clock under CLOCK_LOCK: a timer deciding on the clock of before (it holds the lock shared)
        lands first; one that decides after this reads the new clock."""
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CLOCK_LOCK)
            await _put(conn, CLOCK_KEY, clock_value(fixed))

    async def save(self, key: str, value: bytes | None) -> None:
        async with self._connection() as conn:
            await _put(conn, key, value)

    async def save_quote(self, quote: Quote, pinned: bool) -> None:
        await self.save(f"{QUOTE_PREFIX}{quote.contract_id}",
                        msgspec.json.encode(SharedQuote(quote=quote, pinned=pinned)))

    async def _execute(self, statement: str, *arguments: object) -> None:
        async with self._connection() as conn:
            await conn.execute(statement, *arguments)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        """A pooled connection; the database away or every connection busy is a StoreError (503 for a request)."""
        try:
            async with self.pooled() as conn:
                yield conn
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(f"the simulator's shared state: {error}") from None
