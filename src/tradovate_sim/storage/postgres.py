"""The durable PostgreSQL store (asyncpg): the `Store` port over one database, with group commit.

`submit()` queues a commit; one writer task takes every commit queued while the previous group was landing and
lands them in one transaction: one statement inserts their journal rows (`seq` from the sequence, assigned in
submit order), upserts the last state of each touched entity and sets the meta keys, then COMMIT. Futures resolve
after the COMMIT, in submit order. A commit whose changes cannot be read fails alone before the group is written;
a group the database refuses is written again one commit at a time, so that only the bad one fails.

The database down: a group that fails before its COMMIT was sent failed (nothing landed) and its callers get a
`StoreError` (the server answers 503); so does every commit submitted while the store reconnects, with backoff,
in the background (`reconnected()` cuts the wait short: a command coming after the database is back is not
refused). A group whose COMMIT was sent but never answered is *in doubt*: its callers wait until the
store is back and asks PostgreSQL what became of that transaction id (`pg_xact_status`), so that an answer never
says "not written" of a write that landed, nor the other way round. Reads never touch the database: the server
keeps its state in memory; `load()` hands over the entities read by `open()` (or by the last `reset()`).

The leader's fence (several processes, server/leader.py): a commit submitted from the leader's timers carries
`LEADER_FENCE`, the session that holds the leader's lock for this process; its transaction first checks, in
pg_locks, that this session still holds it, and a commit whose leader's session is gone fails alone (a StoreError)
with nothing written. A process that lost the lead cannot land a timer's write after another took the lead (but
in the instant between that check and the COMMIT). Requests carry no fence and pay nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

import asyncpg
import msgspec

from tradovate_sim.storage.entities import Identified, JournalChange
from tradovate_sim.storage.errors import StoreClosedError, StoreError
from tradovate_sim.storage.migrations import SCHEMA, SCHEMA_KEY, SCHEMA_VERSION, connect, found_version, migrate, redact
from tradovate_sim.storage.sqlite_schema import RESERVED_KEYS

__all__ = ["HOLDS_LEADER_LOCK", "LEADER_FENCE", "LEADER_KEY", "LEADER_LOCK", "PostgresStore", "VersionError"]

log = logging.getLogger("tradovate_sim.storage")

_CHANGES = msgspec.json.Decoder(list[JournalChange])
_ID = msgspec.json.Decoder(Identified)
_EVENTS = frozenset({"Created", "Updated", "Deleted"})
_MAX_GROUP = 512  # commits in one transaction at most
BACKOFF_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)  # between reconnection attempts (the last one repeats)

JOURNAL_CHANNEL = "tradovate_sim_journal"  # NOTIFYed by every commit (delivered at its COMMIT)
# The transaction id is taken before the first seq is drawn (the lateral dependency on `x`): a reader that sees a
# transaction finished (below the xmin horizon) knows that every transaction still running got its id earlier or
# later, never that a seq below one it took may still appear from a transaction it judged finished.
_WRITE = f"""
WITH x AS MATERIALIZED (SELECT pg_current_xact_id() AS xid),
s AS MATERIALIZED (SELECT nextval('{SCHEMA}.journal_seq') AS seq
                   FROM x, LATERAL generate_series(1, cardinality($1::bytea[]) + 0 * length(x.xid::text))),
o AS (SELECT seq, row_number() OVER (ORDER BY seq) AS n FROM s),
a AS (SELECT * FROM unnest($10::bigint[], $11::bigint[]) AS a(n, account)),
j AS (INSERT INTO {SCHEMA}.journal (seq, body, meta, accounts)
      SELECT o.seq, b.body, b.meta, coalesce((SELECT array_agg(a.account) FROM a WHERE a.n = o.n), '{{}}')
      FROM o JOIN unnest($1::bytea[], $12::boolean[]) WITH ORDINALITY AS b(body, meta, n) USING (n) RETURNING seq),
h AS (INSERT INTO {SCHEMA}.account_head (account_id, seq)
      SELECT a.account, max(o.seq) FROM a JOIN o USING (n) GROUP BY a.account
      ON CONFLICT (account_id) DO UPDATE SET seq = greatest({SCHEMA}.account_head.seq, excluded.seq)),
e AS (INSERT INTO {SCHEMA}.entity (entity_type, id, body) SELECT * FROM unnest($2::text[], $3::bigint[], $4::bytea[])
      ON CONFLICT (entity_type, id) DO UPDATE SET body = excluded.body),
d AS (DELETE FROM {SCHEMA}.entity WHERE (entity_type, id) IN (SELECT * FROM unnest($5::text[], $6::bigint[]))),
m AS (INSERT INTO {SCHEMA}.meta (key, value) SELECT * FROM unnest($7::text[], $8::bytea[])
      ON CONFLICT (key) DO UPDATE SET value = excluded.value),
r AS (DELETE FROM {SCHEMA}.meta WHERE key = ANY($9::text[]))
SELECT (SELECT xid FROM x)::text AS xid, coalesce((SELECT array_agg(seq ORDER BY seq) FROM j), '{{}}') AS seqs,
       pg_notify('{JOURNAL_CHANNEL}', '')::text AS notified
"""
LEADER_KEY = -0x7472_6164_0002  # held by the process that runs the market and the timers
# pg_locks' (classid, objid) of the leader's lock (a bigint key: its high and low 32 bits, objsubid 1)
LEADER_LOCK = ((LEADER_KEY >> 32) & 0xFFFF_FFFF, LEADER_KEY & 0xFFFF_FFFF)
# Does the session ($3 pid, $4 application_name; this session when NULL) hold the leader's lock? Read live, not in
# the transaction's snapshot. The name makes a pid that PostgreSQL gave again to another session no match.
HOLDS_LEADER_LOCK = """SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1
  AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND pid = coalesce($3::int, pg_backend_pid()))
  AND ($4::text IS NULL OR (SELECT application_name FROM pg_stat_get_activity($3::int)) = $4::text)"""
# The leader's lock session (backend pid, application_name) that a commit made in this context depends on: set
# around the start of the leader's timers, which inherit it (server/leader.py); None: no fence.
LEADER_FENCE: ContextVar[tuple[int, str] | None] = ContextVar("leader_fence", default=None)
_LAST_SEQ = f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {SCHEMA}.journal_seq"


class VersionError(StoreError):
    """The database's schema is at another version than this server's (`migrate` upgrades it)."""


def _checked(meta: Mapping[str, bytes | None] | None) -> dict[str, bytes | None]:
    if not meta:
        return {}
    if not RESERVED_KEYS.isdisjoint(meta):
        raise ValueError(f"meta keys {sorted(RESERVED_KEYS)} belong to the store")
    for key, value in meta.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, bytes)):
            raise TypeError(f"meta {key!r}: keys are str and values bytes or None")
    return dict(meta)


def _lost(error: BaseException) -> bool:
    """Did the connection (or the server) go away, rather than the database refuse a statement?"""
    return isinstance(error, (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                              asyncpg.exceptions.OperatorInterventionError, TimeoutError))


@dataclass
class _Commit:
    changes: bytes | None
    meta: dict[str, bytes | None]
    future: asyncio.Future[int]
    sent: float
    reset: bool = False
    accounts: tuple[int, ...] = ()  # the accounts whose locks the command holds (their heads move to its seq)
    entities: dict[tuple[str, int], bytes | None] = field(default_factory=dict)  # None: deleted
    fence: tuple[int, str] | None = None  # LEADER_FENCE when submitted


@dataclass
class _Rows:
    """The statement's arguments for a group."""

    journal: list[bytes] = field(default_factory=list)
    metas: list[bool] = field(default_factory=list)
    accounts: list[tuple[int, int]] = field(default_factory=list)  # (journal row number from 1, account)
    entities: dict[tuple[str, int], bytes | None] = field(default_factory=dict)
    meta: dict[str, bytes | None] = field(default_factory=dict)

    def add(self, commit: _Commit) -> None:
        if commit.changes is not None or commit.meta:
            self.journal.append(b"[]" if commit.changes is None else commit.changes)
            self.metas.append(bool(commit.meta))
            self.accounts += [(len(self.journal), account) for account in commit.accounts]
        self.entities.update(commit.entities)
        self.meta.update(commit.meta)

    def arguments(self) -> tuple[object, ...]:
        upserts = [(kind, id_, body) for (kind, id_), body in self.entities.items() if body is not None]
        deletes = [key for key, body in self.entities.items() if body is None]
        sets = [(k, v) for k, v in self.meta.items() if v is not None]
        return (self.journal, [r[0] for r in upserts], [r[1] for r in upserts], [r[2] for r in upserts],
                [k[0] for k in deletes], [k[1] for k in deletes], [k for k, _ in sets], [v for _, v in sets],
                [k for k, v in self.meta.items() if v is None], [n for n, _ in self.accounts],
                [a for _, a in self.accounts], self.metas)


class PostgresStore:
    """Current entities, their journal and meta keys in one PostgreSQL database (`url`)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self._url = url
        self.label = redact(url)
        self._create = create  # an empty database gets the schema at open (else: VersionError)
        self._conn: asyncpg.Connection | None = None
        self._queue: list[_Commit] = []
        self._wanted = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._opened = False
        self._down: str | None = None  # why writes fail now (the connection is lost and being restored)
        self._retry = asyncio.Event()  # cuts the reconnection's backoff short (`reconnected`)
        self._tried = asyncio.Event()  # set after each reconnection attempt (then replaced)
        self._seq = 0
        self._meta: dict[str, bytes] = {}
        self._loaded: list[tuple[str, int, bytes]] | None = None
        self._in_flight = 0
        self.reconnects = 0  # connections restored after a loss (for tests and operators)
        self.on_answer: Callable[[float, bool], None] | None = None  # (seconds from submit to answer, landed)
        # For a process that follows the journal (several processes on one database): the transaction ids this
        # store wrote (a follower skips their rows: memory has them through their futures), the snapshot open()
        # read entities in (`xmin:xmax:xip`: the follower starts there) and each account's last seq in it.
        self.own: set[int] = set()
        self.snapshot = ""
        self.heads: dict[int, int] = {}

    # --- the Store port ----------------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check (or on an empty database create) the schema, and read entities and meta."""
        if self._opened or self._closed:
            raise StoreError("the store was already opened")
        conn = await connect(self._url)
        try:
            version = await found_version(conn)
            if version == 0 and self._create:
                await migrate(conn)
            elif version != SCHEMA_VERSION:
                url = self.label
                raise VersionError(
                    f"the database is at schema version {version}, this tradovate-sim uses {SCHEMA_VERSION}: "
                    + (f"run `tradovate-sim migrate --db {url}`" if version < SCHEMA_VERSION
                       else "run a newer tradovate-sim"))
            await self._read_all(conn)
        except asyncpg.PostgresError as error:  # e.g. no right to create the schema: one line, not a traceback
            await conn.close()
            raise StoreError(str(error).splitlines()[0]) from None
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._opened = True
        self._writer = asyncio.create_task(self._write_loop(), name="postgres-writer")

    def load(self) -> list[tuple[str, int, bytes]]:
        """Every current entity as `(entity_type, id, body)`, as read by `open()` or the last `reset()`; handed
        over once (a second call without a reset in between raises)."""
        if self._loaded is None:
            raise StoreError("load(): the entities read at open() or reset() were handed over already"
                             if self._opened else "the store is not open")
        rows, self._loaded = self._loaded, None  # handed over once: not kept twice in memory
        return rows

    def get_meta(self, key: str) -> bytes | None:
        if not self._opened:
            raise StoreClosedError("the store is closed" if self._closed else "the store is not open")
        return self._meta.get(key)

    @property
    def pending(self) -> int:
        """Commits submitted and not yet answered."""
        return len(self._queue) + self._in_flight

    @property
    def down(self) -> str | None:
        """Why writes fail at the moment, or None while the database takes them."""
        return self._down

    async def reconnected(self) -> None:
        """While the store reconnects (writes fail): try at once rather than at the end of the backoff, and wait for
        that attempt, so that a command arriving after the database came back is not refused for up to 2 s."""
        if self._down is None or self._closed:
            return
        tried = self._tried
        self._retry.set()
        await tried.wait()

    async def commit(self, changes: bytes | None, meta: Mapping[str, bytes | None] | None = None) -> int:
        return await self.submit(changes, meta)

    def submit(self, changes: bytes | None, meta: Mapping[str, bytes | None] | None = None,
               accounts: tuple[int, ...] = ()) -> asyncio.Future[int]:
        """Queue a commit; its future resolves to its journal seq once it is committed (in submit order). The heads
        of `accounts` (see `account_head`) move to its seq."""
        return self._submit(changes, _checked(meta), reset=False, accounts=accounts)

    async def reset(self, changes: bytes | None = None, meta: Mapping[str, bytes | None] | None = None) -> int:
        """Delete every entity, journal row and meta key, then commit `changes` and `meta`, in one transaction;
        journal seqs are never reused (the sequence goes on)."""
        return await self._submit(changes, _checked(meta), reset=True)

    async def close(self) -> None:
        """Land every queued commit (unless the database is down), then disconnect."""
        if self._closed:
            return
        self._closed = True
        self._wanted.set()
        self._retry.set()
        self._attempted()  # no more attempts: nobody waits for one
        if self._writer is not None:
            await asyncio.shield(self._writer)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 5)
            self._conn = None
        self._fail(self._queue, "the store is closed")
        self._queue = []

    # --- submitting ---------------------------------------------------------------------------------------

    def _submit(self, changes: bytes | None, meta: dict[str, bytes | None], *, reset: bool,
                accounts: tuple[int, ...] = ()) -> asyncio.Future[int]:
        if changes is not None and not isinstance(changes, bytes):
            raise TypeError(f"changes must be bytes or None, not {type(changes).__name__}")
        if self._closed or not self._opened:
            raise StoreClosedError("the store is closed" if self._closed else "the store is not open")
        if self._down is not None:
            raise StoreError(self._down)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        commit = _Commit(changes=changes, meta=meta, future=future, sent=time.perf_counter(), reset=reset,
                         accounts=accounts, fence=LEADER_FENCE.get())
        try:
            commit.entities = _entities(changes)
        except (msgspec.DecodeError, ValueError) as error:
            future.set_exception(StoreError(f"{type(error).__name__}: {error}"))  # fails alone, nothing sent
            return future
        self._queue.append(commit)
        self._wanted.set()
        return future

    # --- the writer ---------------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            if self._conn is None and not self._closed:
                await self._reconnect()  # submits fail meanwhile (see `_down`)
            if not self._queue:
                if self._closed:
                    return
                await self._wanted.wait()
                self._wanted.clear()
                continue
            if self._conn is None:  # closed while the database was away
                self._fail(self._queue, "the store is closed")
                self._queue = []
                return
            group = self._take()
            self._in_flight = len(group)
            try:
                await self._land(group)
            except Exception as error:  # a bug, not the database: fail this group, keep the writer alive
                log.exception("PostgreSQL store: a group of %d commits failed", len(group))
                self._answer([c for c in group if not c.future.done()], None, f"{type(error).__name__}: {error}")
            finally:
                self._in_flight = 0

    def _take(self) -> list[_Commit]:
        """The next group: queued commits up to a reset (a reset lands alone)."""
        queue = self._queue
        if queue[0].reset:
            group = queue[:1]
        else:
            end = next((i for i, c in enumerate(queue[:_MAX_GROUP]) if c.reset), min(len(queue), _MAX_GROUP))
            group = queue[:end]
        del queue[:len(group)]
        return group

    async def _land(self, group: list[_Commit], *, retried: bool = False) -> None:
        try:
            seqs, _xid = await self._transaction(group)
        except _InDoubtError as doubt:
            await self._resolve(group, doubt)
            return
        except _FencedError as fenced:  # nothing landed: the fenced commits fail, the others are written again
            self._answer([c for c in group if c.fence == fenced.fence], None,
                         "this process no longer leads (its leader's lock is lost): the timer's write is refused")
            rest = [c for c in group if c.fence != fenced.fence]
            if rest:
                await self._land(rest, retried=retried)
            return
        except Exception as error:
            if _lost(error):
                # Nothing of the group landed (its COMMIT was never sent). A connection that died while idle (the
                # database restarted meanwhile) is found only now: one immediate reconnection, and the group again.
                if not retried and await self._reconnect_once():
                    await self._land(group, retried=True)
                else:
                    self._lose(error, group)
            elif not isinstance(error, asyncpg.PostgresError):
                raise
            elif len(group) > 1:
                for commit in group:  # the database refused the group: one by one, so the bad one fails alone
                    await self._land([commit])
            else:
                self._answer(group, None, f"{type(error).__name__}: {str(error).splitlines()[0]}")
            return
        self._answer(group, seqs, None)

    async def _reconnect_once(self) -> bool:
        self._drop_connection()
        try:
            self._conn = await connect(self._url, timeout=2.0)
        except StoreError:
            return False
        self.reconnects += 1
        log.warning("PostgreSQL %s: connection lost while idle and restored", self.label)
        return True

    async def _transaction(self, group: list[_Commit]) -> tuple[list[int], str]:
        conn = self._conn
        assert conn is not None
        rows = _Rows()
        for commit in group:
            rows.add(commit)
        fences = {c.fence for c in group if c.fence is not None}
        transaction = conn.transaction()
        await transaction.start()
        try:
            for fence in fences:
                if not await conn.fetchval(HOLDS_LEADER_LOCK, *LEADER_LOCK, *fence):
                    raise _FencedError(fence)
            if group[0].reset:
                await conn.execute(f"TRUNCATE {SCHEMA}.entity, {SCHEMA}.journal, {SCHEMA}.account_head")
                await conn.execute(f"DELETE FROM {SCHEMA}.meta WHERE key <> $1", SCHEMA_KEY)
            found = await conn.fetchrow(_WRITE, *rows.arguments())
            assert found is not None
            self.own.add(int(found["xid"]))
            loaded = await self._entity_rows(conn) if group[0].reset else None
        except BaseException:
            with contextlib.suppress(Exception):
                if not conn.is_closed():
                    await transaction.rollback()
            raise
        xid: str = found["xid"]
        try:
            await transaction.commit()
        except Exception as error:
            if _lost(error):
                raise _InDoubtError(xid, list(found["seqs"]), error) from None
            raise
        if loaded is not None:
            self._loaded = loaded
            self._meta = {SCHEMA_KEY: str(SCHEMA_VERSION).encode()}
            self.heads = {}
        return list(found["seqs"]), xid

    def _answer(self, group: list[_Commit], seqs: list[int] | None, error: str | None) -> None:
        """Resolve the group's futures in submit order: journal seqs for the commits with changes (the last seq
        for the others), or the error."""
        now = time.perf_counter()
        given = iter(seqs or ())
        for commit in group:
            if error is None:
                if commit.changes is not None or commit.meta:
                    self._seq = max(self._seq, next(given))
                for key, value in commit.meta.items():
                    if value is None:
                        self._meta.pop(key, None)
                    else:
                        self._meta[key] = value
            if self.on_answer is not None:
                self.on_answer(now - commit.sent, error is None)
            if commit.future.done():
                continue  # cancelled by its caller: it landed (or not) all the same
            if error is None:
                commit.future.set_result(self._seq)
            else:
                commit.future.set_exception(StoreError(error))

    def _fail(self, group: list[_Commit], reason: str) -> None:
        for commit in group:
            if not commit.future.done():
                commit.future.set_exception(StoreError(reason))

    def _lose(self, error: BaseException, group: list[_Commit]) -> None:
        """The connection is gone before the group's COMMIT: nothing of it landed. Fail it and what is queued."""
        self._down = f"the database is unreachable ({_reason(error)}); reconnecting"
        log.error("PostgreSQL %s: connection lost (%s); writes fail until it is back", self.label, _reason(error))
        self._drop_connection()
        self._answer(group, None, self._down)
        queued, self._queue = self._queue, []
        self._answer(queued, None, self._down)
        if not self._closed:
            self._wanted.set()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()

    async def _reconnect(self) -> None:
        """Connect again, with backoff, until it works or the store is closed; submits fail meanwhile."""
        attempt = 0
        while not self._closed:
            self._retry.clear()
            try:
                conn = await connect(self._url, timeout=5.0)
            except StoreError as error:
                self._down = f"the database is unreachable ({error}); reconnecting"
                self._attempted()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry.wait(), BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
                attempt += 1
                continue
            self._conn = conn
            self._down = None
            self._attempted()
            self.reconnects += 1
            log.warning("PostgreSQL %s: connection restored", self.label)
            return

    def _attempted(self) -> None:
        tried, self._tried = self._tried, asyncio.Event()
        tried.set()

    async def _resolve(self, group: list[_Commit], doubt: _InDoubtError) -> None:
        """The COMMIT went out and no answer came back: ask, once connected again, what became of it; the group's
        callers (and every later commit) wait for the answer."""
        self._down = f"the database is unreachable ({_reason(doubt.error)}); reconnecting"
        log.error("PostgreSQL %s: connection lost during COMMIT of transaction %s; resolving it when back",
                  self.label, doubt.xid)
        self._drop_connection()
        queued, self._queue = self._queue, []
        self._answer(queued, None, self._down)
        while not self._closed:
            await self._reconnect()
            conn = self._conn
            if conn is None:
                break
            try:
                status = await conn.fetchval("SELECT pg_xact_status($1::text::xid8)", doubt.xid)
            except Exception as error:
                if not _lost(error):
                    raise
                self._drop_connection()
                continue
            if status == "in progress":
                await asyncio.sleep(0.1)
                continue
            if status == "committed":
                self._answer(group, doubt.seqs, None)
            else:
                self._answer(group, None, f"the database went away during the commit; it did not land ({status})")
            return
        self._fail(group, "the store is closed (a commit's fate is unknown)")

    async def _read_all(self, conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> None:
        async with conn.transaction(isolation="repeatable_read", readonly=True):  # one snapshot for all of it
            self.snapshot = str(await conn.fetchval("SELECT pg_current_snapshot()::text"))
            self._loaded = await self._entity_rows(conn)
            self._meta = await self.read_meta(conn)
            self._seq = int(await conn.fetchval(_LAST_SEQ))
            self.heads = {int(r[0]): int(r[1])
                          for r in await conn.fetch(f"SELECT account_id, seq FROM {SCHEMA}.account_head")}

    async def reread(self, conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> None:
        """Read entities, meta and heads again (another process reset the database): `load()` hands them over."""
        await self._read_all(conn)

    async def read_meta(self, conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> dict[str, bytes]:
        return {r["key"]: bytes(r["value"]) for r in await conn.fetch(f"SELECT key, value FROM {SCHEMA}.meta")}

    def followed_meta(self, meta: dict[str, bytes]) -> None:
        """Meta keys as another process left them (the follower read them after a journal row that set some)."""
        self._meta = meta

    @staticmethod
    async def _entity_rows(conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> list[tuple[str, int, bytes]]:
        return [(r[0], r[1], r[2]) for r in await conn.fetch(f"SELECT entity_type, id, body FROM {SCHEMA}.entity")]


class _FencedError(Exception):
    """A commit's leader's lock session no longer holds the lock (see LEADER_FENCE)."""

    def __init__(self, fence: tuple[int, str]) -> None:
        super().__init__(fence)
        self.fence = fence


class _InDoubtError(Exception):
    def __init__(self, xid: str, seqs: list[int], error: BaseException) -> None:
        super().__init__(xid)
        self.xid, self.seqs, self.error = xid, seqs, error


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _entities(changes: bytes | None) -> dict[tuple[str, int], bytes | None]:
    """The last state of each entity `changes` touches (None: deleted); raises on changes it cannot read."""
    found: dict[tuple[str, int], bytes | None] = {}
    if changes is None:
        return found
    for change in _CHANGES.decode(changes):
        entity_id = _ID.decode(change.entity).id
        if change.event_type not in _EVENTS:
            raise ValueError(f"{change.entity_type} {entity_id}: unknown eventType {change.event_type!r}")
        found[(change.entity_type, entity_id)] = None if change.event_type == "Deleted" else bytes(change.entity)
    return found
