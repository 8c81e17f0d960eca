"""The durable SQLite store: one writer thread doing group commit, reads on a second WAL connection.

Every `commit()` queued while the writer is busy lands in the same transaction as the others drained
with it, and is acknowledged only after that transaction is durable. Use one store from one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple, TypeAlias

from tradovate_sim.storage.rows import JournalEntry, Row

__all__ = ["SCHEMA_VERSION", "SqliteStore", "StoreClosedError", "StoreError"]

SCHEMA_VERSION = 1
_SCHEMA_KEY = "schema_version"
_SEQ_FLOOR_KEY = "journal_seq_floor"  # the last seq before a reset, so that seqs are never reused
_RESERVED_KEYS = frozenset({_SCHEMA_KEY, _SEQ_FLOOR_KEY})
_BUSY_TIMEOUT_MS = 5_000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entity (
        entity_type TEXT NOT NULL, id INTEGER NOT NULL, account_id INTEGER, body BLOB NOT NULL,
        PRIMARY KEY (entity_type, id)) STRICT, WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS entity_account ON entity (account_id)",
    """CREATE TABLE IF NOT EXISTS journal (
        seq INTEGER PRIMARY KEY, entity_type TEXT NOT NULL,
        event_type TEXT NOT NULL CHECK (event_type IN ('Created', 'Updated', 'Deleted')),
        entity_id INTEGER NOT NULL, account_id INTEGER, body BLOB NOT NULL) STRICT""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT, WITHOUT ROWID",
)
_INSERT_JOURNAL = "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?)"
_SELECT_JOURNAL = (
    "SELECT seq, entity_type, event_type, entity_id, account_id, body FROM journal WHERE seq > ? ORDER BY seq LIMIT ?"
)
_UPSERT_ENTITY = (
    "INSERT INTO entity VALUES (?, ?, ?, ?) ON CONFLICT (entity_type, id) "
    "DO UPDATE SET account_id = excluded.account_id, body = excluded.body"
)
_DELETE_ENTITY = "DELETE FROM entity WHERE entity_type = ? AND id = ?"
_UPSERT_META = "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
_DELETE_META = "DELETE FROM meta WHERE key = ?"

_Outcome: TypeAlias = int | BaseException


class StoreError(Exception):
    """The store cannot do what was asked (not open, closed, or an incompatible file)."""


class StoreClosedError(StoreError):
    """The store is not open: `open()` was never awaited, or `close()` was."""


class _Job(NamedTuple):
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[int]
    rows: tuple[Row, ...]
    meta: Mapping[str, bytes | None]
    reset: bool


class SqliteStore:
    """Current entities, their journal and meta keys in one SQLite file (WAL)."""

    def __init__(self, path: str, *, synchronous: Literal["NORMAL", "FULL"] = "FULL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self._path = path
        self._synchronous = synchronous
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._closed = False
        self._seq = 0  # last journal seq; owned by the writer thread once it runs

    async def open(self) -> None:
        """Create the file and schema if missing, switch to WAL and start the writer thread."""
        if self._thread is not None or self._closed:
            raise StoreError("the store was already opened")
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[int] = loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(_Job(loop, ready, (), {}, False),), name="sqlite-writer", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._closed = True
            self._queue.put(None)  # stops the writer if it did start
            raise
        self._reader = self._connect()
        self._reader.execute("PRAGMA query_only = ON")

    def load(self) -> list[tuple[str, int, int | None, bytes]]:
        """Every current entity as `(entity_type, id, account_id, body)`."""
        return self._read().execute("SELECT entity_type, id, account_id, body FROM entity").fetchall()

    async def commit(self, rows: Sequence[Row], meta: Mapping[str, bytes | None] | None = None) -> int:
        """Apply `rows` to the entities, journal them, set (or with `None` delete) `meta`, durably.

        Returns the journal seq of the last row, or the current last seq when `rows` is empty.
        Cancelling the caller does not withdraw a commit that is already queued.
        """
        if meta and not _RESERVED_KEYS.isdisjoint(meta):
            raise ValueError(f"meta keys {sorted(_RESERVED_KEYS)} belong to the store")
        return await self._submit(tuple(rows), dict(meta) if meta else {}, reset=False)

    def get_meta(self, key: str) -> bytes | None:
        found = self._read().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else bytes(found[0])

    def journal(self, after_seq: int = 0, limit: int = 1000) -> list[JournalEntry]:
        """Up to `limit` journal entries with `seq > after_seq`, oldest first."""
        if limit < 1:
            raise ValueError(f"limit must be positive, not {limit}")
        found = self._read().execute(_SELECT_JOURNAL, (after_seq, limit))
        return [
            JournalEntry(seq=s, entity_type=t, event_type=e, entity_id=i, account_id=a, body=b)
            for s, t, e, i, a, b in found
        ]

    async def reset(self) -> None:
        """Delete every entity, journal entry and meta key, durably; journal seqs are never reused."""
        await self._submit((), {}, reset=True)

    async def close(self) -> None:
        """Land every queued commit, stop the writer thread and close both connections."""
        self._closed = True
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            await asyncio.to_thread(self._thread.join)
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _submit(self, rows: tuple[Row, ...], meta: Mapping[str, bytes | None], *, reset: bool) -> asyncio.Future[int]:
        if self._closed or self._thread is None:
            raise StoreClosedError("the store is closed" if self._closed else "the store is not open")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(loop, future, rows, meta, reset))
        return future

    def _read(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StoreClosedError("the store is closed" if self._closed else "the store is not open")
        return self._reader

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        return conn

    # --- the writer thread -------------------------------------------------------------------------

    def _run(self, ready: _Job) -> None:
        conn = None
        try:
            conn = self._connect()
            self._prepare(conn)
        except Exception as exc:
            if conn is not None:
                conn.close()
            _resolve([ready], [exc])
            return
        _resolve([ready], [self._seq])
        jobs: list[_Job] = []
        try:
            stop = False
            while not stop:
                batch = [self._queue.get()]
                with contextlib.suppress(queue.Empty):
                    while True:
                        batch.append(self._queue.get_nowait())
                stop = None in batch
                jobs = [job for job in batch if job is not None]
                self._write(conn, jobs)
        except BaseException as exc:  # a bug or a dead connection: fail what is left, then surface it
            self._closed = True
            with contextlib.suppress(queue.Empty):
                while True:
                    if (job := self._queue.get_nowait()) is not None:
                        jobs.append(job)
            _resolve(jobs, [exc] * len(jobs))
            raise
        finally:
            conn.close()

    def _prepare(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise StoreError(f"{self._path}: cannot switch to WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA:
                conn.execute(statement)
            version = str(SCHEMA_VERSION).encode()
            conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (_SCHEMA_KEY, version))
            found = conn.execute("SELECT value FROM meta WHERE key = ?", (_SCHEMA_KEY,)).fetchone()[0]
            if found != version:
                raise StoreError(f"{self._path}: schema version {found!r}, this store reads {version!r}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        last = conn.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()[0]
        floor = conn.execute("SELECT value FROM meta WHERE key = ?", (_SEQ_FLOOR_KEY,)).fetchone()
        self._seq = max(int(last), int(floor[0]) if floor else 0)

    def _write(self, conn: sqlite3.Connection, jobs: list[_Job]) -> None:
        """Land `jobs` in one transaction; if it fails, land them one by one so a bad one fails alone."""
        if not jobs:
            return
        last_seq = self._seq
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes: list[_Outcome] = list(self._apply(conn, jobs))
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._seq = last_seq
            if len(jobs) > 1:
                for job in jobs:
                    self._write(conn, [job])
                return
            outcomes = [exc]
        _resolve(jobs, outcomes)

    def _apply(self, conn: sqlite3.Connection, jobs: list[_Job]) -> list[int]:
        """Write `jobs` in order into the open transaction; the seq each one answers with."""
        seq = self._seq
        journal: list[tuple[int, str, str, int, int | None, bytes]] = []
        entities: dict[tuple[str, int], tuple[str, int, int | None, bytes] | None] = {}
        meta: dict[str, bytes | None] = {}
        answers: list[int] = []
        for job in jobs:
            if job.reset:
                _flush(conn, journal, entities, meta)
                journal, entities, meta = [], {}, {}
                conn.execute("DELETE FROM entity")
                conn.execute("DELETE FROM journal")
                conn.execute("DELETE FROM meta WHERE key <> ?", (_SCHEMA_KEY,))
                conn.execute("INSERT INTO meta VALUES (?, ?)", (_SEQ_FLOOR_KEY, str(seq).encode()))
            for row in job.rows:
                seq += 1
                state = (row.entity_type, row.entity_id, row.account_id, row.body)
                journal.append((seq, row.entity_type, row.event_type, *state[1:]))
                entities[state[:2]] = None if row.event_type == "Deleted" else state
            meta.update(job.meta)
            answers.append(seq)
        _flush(conn, journal, entities, meta)
        self._seq = seq
        return answers


def _flush(
    conn: sqlite3.Connection,
    journal: list[tuple[int, str, str, int, int | None, bytes]],
    entities: dict[tuple[str, int], tuple[str, int, int | None, bytes] | None],
    meta: dict[str, bytes | None],
) -> None:
    """Write the batched journal rows and the last state of each touched entity and meta key."""
    upserts = [state for state in entities.values() if state is not None]
    deletes = [key for key, state in entities.items() if state is None]
    for statement, params in (
        (_INSERT_JOURNAL, journal),
        (_UPSERT_ENTITY, upserts),
        (_DELETE_ENTITY, deletes),
        (_UPSERT_META, [(k, v) for k, v in meta.items() if v is not None]),
        (_DELETE_META, [(k,) for k, v in meta.items() if v is None]),
    ):
        if params:  # an empty executemany still costs a statement lookup
            conn.executemany(statement, params)


def _resolve(jobs: Sequence[_Job], outcomes: Sequence[_Outcome]) -> None:
    """Settle each job's future on its own loop: one thread-safe call per loop, not per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], _Outcome]]] = {}
    for job, outcome in zip(jobs, outcomes, strict=True):
        by_loop.setdefault(job.loop, []).append((job.future, outcome))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[int], _Outcome]]) -> None:
    for future, outcome in settled:
        if future.done():  # cancelled by its caller, or already failed
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
