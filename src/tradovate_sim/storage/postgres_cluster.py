"""What several server processes on one PostgreSQL database share besides the store: account locks, the journal
rows other processes committed, blocks of ids, the leader's lock and the notifications (asyncpg).

- **Account locks** are session-level advisory locks (`lock_account(id)`: the lock, then the account's head seq read
  in a snapshot taken after it was granted, once a commit a dead holder left in flight has ended: `landed_head`),
  held on a pooled connection from before a command decides until its commit has landed; a command's nested locks
  share its connection (taken in account-id order by the callers).
- **Journal rows** are read by transaction id, not by seq: every row whose transaction is below the xmin horizon
  (`pg_snapshot_xmin(pg_current_snapshot())`) is final, so the reader moves its horizon there and never has to come
  back (a seq cursor would skip a lower seq committed after a higher one).
- **Ids** come in blocks from `id_block` (one row per entity type, `next` moved by the block size).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.migrations import CONNECT_SECONDS, SCHEMA, connect
from tradovate_sim.storage.postgres import HOLDS_LEADER_LOCK, JOURNAL_CHANNEL, LEADER_KEY, LEADER_LOCK

__all__ = ["LEADER_KEY", "START_KEY", "JournalRow", "PostgresCluster"]

log = logging.getLogger("tradovate_sim.storage")

START_KEY = -0x7472_6164_0001  # session lock while a process starts (loads, seeds, lists contracts)
LIVENESS_SECONDS = 2.0  # the leader's check of its lock connection waits this long for PostgreSQL's answer
POOL_SIZE = 16
# A pooled connection not free within this (every one holds a busy account's lock): TimeoutError, an OSError, which
# requests answer as 503 and the follower logs and retries. Every use of the pool waits at most this long.
ACQUIRE_SECONDS = 5.0
CONTROL_CHANNEL = "tradovate_sim_control"  # simulator controls (server/broadcast.py)
ACK_CHANNEL = "tradovate_sim_control_ack"
QUOTE_CHANNEL = "tradovate_sim_quote"  # the leader's quotes (server/leader.py)
SOCKET_CHANNEL = "tradovate_sim_socket"  # sockets authorized and closed (server/socket_quota.py)
# Listened to from the first connection on, before the process loads anything: a control sent while it starts
# is kept until its handler is there (a process counts as live, `peers()`, from that moment).
CHANNELS = (JOURNAL_CHANNEL, CONTROL_CHANNEL, ACK_CHANNEL, QUOTE_CHANNEL, SOCKET_CHANNEL)
_KEPT = 1000  # notifications kept for a channel without a listener yet
APPLICATION = "tradovate-sim"  # the listening connection's application_name: "tradovate-sim <process>"
LEADING = "tradovate-sim-leader"  # the leader's lock connection's: "tradovate-sim-leader <process>" (not a peer)

_FOLLOW = f"""
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS h)
SELECT h.h::text AS horizon, j.xid::text AS xid, j.seq, j.body, j.meta, j.accounts
FROM h LEFT JOIN {SCHEMA}.journal j
  ON j.xid >= $1::text::xid8 AND j.xid < h.h AND NOT pg_visible_in_snapshot(j.xid, $2::text::pg_snapshot)
  AND NOT j.xid = ANY($3::text[]::xid8[])
ORDER BY j.xid, j.seq
"""
_RESERVE = f"""
INSERT INTO {SCHEMA}.id_block AS b (entity_type, next)
SELECT t, f + $3 FROM unnest($1::text[], $2::bigint[]) AS u(t, f)
ON CONFLICT (entity_type) DO UPDATE SET next = greatest(b.next, excluded.next - $3) + $3
RETURNING entity_type, next - $3 AS start
"""


@dataclass(frozen=True)
class JournalRow:
    seq: int
    body: bytes
    meta: bool
    accounts: tuple[int, ...]


class PostgresCluster:
    """The connections a process keeps besides the store's: a pool for locks and reads, one for LISTEN."""

    def __init__(self, url: str, snapshot: str) -> None:
        self._url = url
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._leader: asyncpg.Connection | None = None
        self._start: asyncpg.Connection | None = None
        self.fence: tuple[int, str] | None = None  # the lock's session (pid, name) while this process leads
        self.leader_lost: Callable[[], None] | None = None  # called when the lock's connection dies (server/leader.py)
        self.snapshot = snapshot  # rows visible in it were loaded with the entities
        self.horizon = int(snapshot.split(":", 1)[0]) if snapshot else 0
        self.listeners: dict[str, list[Callable[[str], None]]] = {}
        self._kept: dict[str, list[str]] = {}
        self._shared: list[int] = []  # advisory locks held shared on the listening connection (taken again with it)
        self.name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # this process, among the database's processes

    async def open(self) -> None:
        self._listener = await self._listening(CONNECT_SECONDS)  # bad configuration: one line, no password
        try:
            self._pool = await asyncpg.create_pool(self._url, min_size=1, max_size=POOL_SIZE)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(str(error).splitlines()[0]) from None

    async def _listening(self, connect_seconds: float) -> asyncpg.Connection:
        """A listening connection: named after this process (it counts among `peers()` from now on), LISTENing on
        every channel and holding the shared locks this process holds for its life."""
        conn = await connect(self._url, timeout=connect_seconds)
        try:
            await conn.execute(f"SET application_name = '{APPLICATION} {self.name}'")
            for channel in CHANNELS:
                await conn.add_listener(channel, self._notified)
            for key in self._shared:
                await conn.execute("SELECT pg_advisory_lock_shared($1)", key)
        except BaseException:
            conn.terminate()
            raise
        return conn

    @property
    def listening(self) -> bool:
        """Whether the listening connection is up: this process is among `peers()` and hears notifications. It
        dies with PostgreSQL's restart; `listen_again` restores it."""
        return self._listener is not None and not self._listener.is_closed()

    async def listen_again(self) -> bool:
        """Restore a lost listening connection (one attempt); True if it is up. Notifications sent while it was
        down are lost: the journal is read by polling all the same."""
        if self.listening:
            return True
        if self._pool is None:  # closed
            return False
        try:
            conn = await self._listening(2.0)
        except (StoreError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("restoring the listening connection: %s", str(error).splitlines()[0] if str(error) else error)
            return False
        if self.listening:  # restored meanwhile by another caller
            conn.terminate()
            return True
        old, self._listener = self._listener, conn
        if old is not None:
            old.terminate()
        log.warning("the listening connection to PostgreSQL is restored (lost with the database)")
        return True

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call `callback(payload)` on every NOTIFY on `channel` (one of CHANNELS), first with those that came
        before anyone listened."""
        if channel not in CHANNELS:
            raise ValueError(f"{channel}: not one of {CHANNELS}")
        self.listeners.setdefault(channel, []).append(callback)
        for payload in self._kept.pop(channel, []):
            callback(payload)

    def _notified(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        callbacks = self.listeners.get(channel)
        if not callbacks:
            kept = self._kept.setdefault(channel, [])
            if len(kept) < _KEPT:
                kept.append(str(payload))
            return
        for callback in callbacks:
            callback(str(payload))

    async def peers(self) -> list[str]:
        """The processes listening on this database now (this one included)."""
        async with self.pooled() as conn:
            rows = await conn.fetch("SELECT substr(application_name, $1) FROM pg_stat_activity"
                                    " WHERE datname = current_database() AND application_name LIKE $2",
                                    len(APPLICATION) + 2, f"{APPLICATION} %")
        return [str(r[0]) for r in rows]

    async def notify(self, channel: str, payload: str) -> None:
        async with self.pooled() as conn:
            await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the cluster connections are not open")
        return self._pool

    async def close(self) -> None:
        self.leader_lost = None  # closed on purpose
        for conn in (self._listener, self._leader, self._start):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
        self._listener = self._leader = self._start = None
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 5)
            self._pool = None

    # --- the start lock and the leader's lock ---------------------------------------------------------

    async def lock_start(self) -> None:
        """Wait until no other process is starting (loading, seeding, listing contracts), then hold that lock."""
        self._start = await connect(self._url)
        await self._start.execute("SELECT pg_advisory_lock($1)", START_KEY)

    async def unlock_start(self) -> None:
        conn, self._start = self._start, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()  # the session ends: the lock is free

    async def hold_shared(self, key: int) -> None:
        """Hold the advisory lock `key` shared for the life of this process (on its listening connection)."""
        if self._listener is not None:
            await self._listener.execute("SELECT pg_advisory_lock_shared($1)", key)
            self._shared.append(key)

    async def try_lead(self) -> bool:
        """Take the leader's lock if it is free; it is held as long as its connection lives (`leading`). When that
        connection dies (PostgreSQL restarted, the session was terminated), `leader_lost` is called at once."""
        if self.leading:
            return True
        self.give_up_lead()  # a dead lock connection: the lock went with it
        conn = await connect(self._url, timeout=5.0)
        try:
            await conn.execute(f"SET application_name = '{LEADING} {self.name}'")
            taken = await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_KEY)
        except BaseException:
            conn.terminate()
            raise
        if not taken:
            await conn.close()
            return False
        conn.add_termination_listener(self._leader_ended)
        self._leader = conn
        self.fence = (conn.get_server_pid(), f"{LEADING} {self.name}")
        return True

    @property
    def leading(self) -> bool:
        """Whether this process holds the leader's lock, as far as its connection tells (`leader_alive` asks)."""
        return self._leader is not None and not self._leader.is_closed()

    def _leader_ended(self, conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> None:
        if conn is self._leader and self.leader_lost is not None:
            self.leader_lost()

    async def leader_alive(self, within: float = LIVENESS_SECONDS) -> bool:
        """Ask PostgreSQL, on the lock's own connection, whether its session still holds the leader's lock. An
        answer that does not come `within` seconds (a connection hung without being closed) counts as no: the
        connection is dropped, so the lock is lost for certain (`give_up_lead`)."""
        conn = self._leader
        if conn is None or conn.is_closed():
            return False
        try:
            held = bool(await asyncio.wait_for(conn.fetchval(HOLDS_LEADER_LOCK, *LEADER_LOCK, None, None), within))
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("the leader's lock connection: %s", str(error).splitlines()[0] if str(error) else error)
            held = False
        if not held:
            self.give_up_lead()
        return held

    def give_up_lead(self) -> None:
        """End the lock's session (the lock is free once PostgreSQL sees it end); `leader_lost` is not called."""
        conn, self._leader = self._leader, None
        self.fence = None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    # --- account locks ---------------------------------------------------------------------------------

    async def acquire(self) -> asyncpg.pool.PoolConnectionProxy:
        """A pooled connection to hold (give it back with `release`), waiting at most `ACQUIRE_SECONDS`."""
        return await self.pool.acquire(timeout=ACQUIRE_SECONDS)

    @contextlib.asynccontextmanager
    async def pooled(self) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        """A pooled connection for the block, waiting at most `ACQUIRE_SECONDS` (asyncpg's own `pool.fetch` and
        the like would wait for ever while every connection holds a busy account's lock). A connection that died
        in the middle of a statement (PostgreSQL restarted) fails its release with the driver's InternalClientError
        ("another operation is in progress"; the pool has dropped it): a StoreError like any lost connection."""
        try:
            async with self.pool.acquire(timeout=ACQUIRE_SECONDS) as conn:
                yield conn
        except asyncpg.exceptions.InternalClientError as error:
            raise StoreError(f"the database connection was lost ({error})") from None

    async def release(self, conn: asyncpg.pool.PoolConnectionProxy) -> None:
        await self.pool.release(conn)

    @staticmethod
    async def lock(conn: asyncpg.pool.PoolConnectionProxy, account_id: int) -> int:
        """Wait for the account's lock on `conn`; returns its head seq (its last commit's) read after the grant."""
        return int(await conn.fetchval(f"SELECT {SCHEMA}.lock_account($1)", account_id))

    @staticmethod
    async def try_lock(conn: asyncpg.pool.PoolConnectionProxy, account_ids: Sequence[int]) -> dict[int, int]:
        """The locks of those of `account_ids` that are free, taken without waiting: {account: head seq}."""
        taken = [int(r[0]) for r in await conn.fetch(
            "SELECT a FROM unnest($1::bigint[]) AS a WHERE pg_try_advisory_lock(a)", list(account_ids))]
        if not taken:
            return {}
        return {int(r[0]): int(r[1]) for r in await conn.fetch(  # read after the grants
            f"SELECT a, {SCHEMA}.landed_head(a) FROM unnest($1::bigint[]) AS a", taken)}

    @staticmethod
    async def unlock(conn: asyncpg.pool.PoolConnectionProxy, account_ids: Sequence[int]) -> None:
        await conn.execute("SELECT pg_advisory_unlock(a) FROM unnest($1::bigint[]) AS a", list(account_ids))

    # --- the journal and ids ---------------------------------------------------------------------------

    async def follow(self, own: set[int]) -> list[JournalRow]:
        """The journal rows of transactions that finished since the last call (in transaction order, then seq),
        but those of the transactions `own` (this process's: their rows are in memory through their commits).
        `own` is read again when the answer is back: a commit of this process may land between the query's
        sending and its snapshot (its xid joined `own` before its COMMIT went out). Applied again, after a later
        commit of this process, it would put older entities back over newer ones."""
        async with self.pooled() as conn:
            rows = await conn.fetch(_FOLLOW, str(self.horizon), self.snapshot or "1:1:", [str(x) for x in own])
        if rows:
            self.horizon = int(rows[0]["horizon"])
        return [JournalRow(seq=r["seq"], body=bytes(r["body"]), meta=r["meta"], accounts=tuple(r["accounts"]))
                for r in rows if r["seq"] is not None and int(r["xid"]) not in own]

    async def xmax(self) -> int:
        """Every transaction that began before this call has an id below this."""
        async with self.pooled() as conn:
            return int(await conn.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"))

    async def read_meta(self) -> dict[str, bytes]:
        async with self.pooled() as conn:
            return {r["key"]: bytes(r["value"]) for r in await conn.fetch(f"SELECT key, value FROM {SCHEMA}.meta")}

    async def reserve(self, floors: dict[str, int], size: int) -> dict[str, int]:
        """A block of `size` ids per entity type, none below its floor: {entity_type: first id of the block}."""
        async with self.pooled() as conn:
            rows = await conn.fetch(_RESERVE, list(floors), list(floors.values()), size)
        return {r["entity_type"]: int(r["start"]) for r in rows}
