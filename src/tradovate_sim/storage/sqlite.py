"""The durable SQLite store: a writer process doing group commit, reads on a WAL connection of our own.

`commit()` sends the changes to the writer process (`storage/writer.py`) and resolves when the transaction
that holds them is durable; commits sent while the writer is busy land together. Use one store from one
event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

import msgspec

from tradovate_sim.storage import entities
from tradovate_sim.storage.entities import Identified, JournalChange
from tradovate_sim.storage.errors import StoreClosedError, StoreError
from tradovate_sim.storage.rows import JournalEntry
from tradovate_sim.storage.sqlite_schema import RESERVED_KEYS, SCHEMA_VERSION, connect
from tradovate_sim.storage.writer import Answer, Request, frame, frames

__all__ = ["SCHEMA_VERSION", "SqliteStore", "StoreClosedError", "StoreError"]

_SELECT_JOURNAL = "SELECT seq, body FROM journal WHERE seq > ? ORDER BY seq LIMIT ?"
_JOURNAL_DECODER = msgspec.json.Decoder(list[JournalChange])
_ID_DECODER = msgspec.json.Decoder(Identified)
_ANSWER = msgspec.msgpack.Decoder(Answer)


def _checked(meta: Mapping[str, bytes | None] | None) -> dict[str, bytes | None]:
    if not meta:
        return {}
    if not RESERVED_KEYS.isdisjoint(meta):
        raise ValueError(f"meta keys {sorted(RESERVED_KEYS)} belong to the store")
    for key, value in meta.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, bytes)):
            raise TypeError(f"meta {key!r}: keys are str and values bytes or None")
    return dict(meta)


class SqliteStore:
    """Current entities, their journal and meta keys in one SQLite file (WAL)."""

    def __init__(self, path: str, *, synchronous: Literal["NORMAL", "FULL"] = "FULL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self._path = path
        self._synchronous = synchronous
        self._process: asyncio.subprocess.Process | None = None
        self._answers: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._next_id = 0
        self._reader: sqlite3.Connection | None = None
        self._closed = False
        self._failure: str | None = None  # why the writer stopped answering, once it has
        self._sent: dict[int, float] = {}  # when each unanswered request was sent (only while observed)
        self.on_answer: Callable[[float, bool], None] | None = None  # (seconds from send to answer, landed): metrics
        self.on_sync: Callable[[float], None] | None = None  # seconds a group's COMMIT took in the writer: metrics
        self.migrated_from: int | None = None  # the schema version the writer migrated the file from at open, if any

    async def open(self) -> None:
        """Create the file and schema if missing, switch to WAL and start the writer process."""
        if self._process is not None or self._closed:
            raise StoreError("the store was already opened")
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        process = self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tradovate_sim.storage.writer", self._path, self._synchronous,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            start_new_session=True)  # signals meant for the server's terminal or group are not the writer's
        assert process.stdout is not None
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[0] = ready
        self._answers = asyncio.create_task(self._receive(process.stdout))
        try:
            await ready
        except BaseException:
            self._closed = True
            await self._stop()
            raise
        self._reader = connect(self._path)
        self._reader.execute("PRAGMA query_only = ON")

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id while it runs (for operators and tests)."""
        process = self._process
        return process.pid if process is not None and self._failure is None and not self._closed else None

    @property
    def pending(self) -> int:
        """Commits sent to the writer and not yet answered (the writer's queue, for metrics)."""
        return len(self._pending)

    def load(self) -> list[tuple[str, int, bytes]]:
        """Every current entity as `(entity_type, id, body)`: the entity table, which the writer brings up to date
        behind the journal, with the journal rows it has not applied yet folded over it (one snapshot)."""
        conn = self._read()
        conn.execute("BEGIN")
        try:
            return entities.current(conn)
        finally:
            conn.execute("COMMIT")

    async def commit(self, changes: bytes | None, meta: Mapping[str, bytes | None] | None = None) -> int:
        """Journal `changes`, apply them to the entities and set (or with `None` delete) `meta`, durably.

        `changes` is a JSON array of `props` payloads `{"entityType", "eventType", "entity"}` (each entity with
        its `id`), in order; `None` commits only `meta`. Returns the seq of this commit's journal row, or the
        current last seq when there are no changes. Cancelling the caller does not withdraw a sent commit.
        """
        return await self.submit(changes, meta)

    def submit(self, changes: bytes | None, meta: Mapping[str, bytes | None] | None = None) -> asyncio.Future[int]:
        """`commit` as a future, sent at once: futures resolve in the order the commits were submitted."""
        return self._submit(changes, _checked(meta), reset=False)

    def get_meta(self, key: str) -> bytes | None:
        found = self._read().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else bytes(found[0])

    def journal(self, after_seq: int = 0, limit: int = 1000) -> list[JournalEntry]:
        """The changes of up to `limit` commits with `seq > after_seq`, oldest first."""
        if limit < 1:
            raise ValueError(f"limit must be positive, not {limit}")
        found = self._read().execute(_SELECT_JOURNAL, (after_seq, limit))
        return [
            JournalEntry(seq=seq, entity_type=change.entity_type, event_type=change.event_type,
                         entity_id=_ID_DECODER.decode(change.entity).id, body=bytes(change.entity))
            for seq, body in found for change in _JOURNAL_DECODER.decode(body)
        ]

    async def reset(self, changes: bytes | None = None, meta: Mapping[str, bytes | None] | None = None) -> int:
        """Delete every entity, journal entry and meta key, then commit `changes` and `meta`, in one durable
        transaction (a crash leaves the old state or the new one); journal seqs are never reused."""
        return await self._submit(changes, _checked(meta), reset=True)

    async def close(self) -> None:
        """Land every sent commit, stop the writer process and close the read connection."""
        self._closed = True
        await self._stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    async def _stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()  # end of requests: the writer answers what it has and exits
        if self._answers is not None:
            await asyncio.shield(self._answers)
        await process.wait()

    def _submit(self, changes: bytes | None, meta: dict[str, bytes | None], *, reset: bool) -> asyncio.Future[int]:
        if changes is not None and not isinstance(changes, bytes):
            raise TypeError(f"changes must be bytes or None, not {type(changes).__name__}")
        process = self._process
        if self._closed or process is None or process.stdin is None:
            raise StoreClosedError("the store is closed" if self._closed else "the store is not open")
        if self._failure is not None:
            raise StoreError(self._failure)
        if process.stdin.is_closing():  # the writer died and its pipe closed before its answers ran out
            raise StoreError("the store's writer process has stopped")
        self._next_id += 1
        request = frame(Request(id=self._next_id, changes=changes, meta=meta, reset=reset))
        try:
            # Written at once, not gathered per loop iteration: the writer starts on this commit while the loop
            # decides the next requests (gathering them made the two wait for each other in turn: -40 %).
            process.stdin.write(request)
        except (OSError, RuntimeError) as error:  # a broken pipe (uvloop raises where asyncio only logs)
            raise StoreError(f"the store's writer process has stopped ({error})") from None
        future = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        if self.on_answer is not None:
            self._sent[self._next_id] = time.perf_counter()
        return future

    async def _receive(self, stdout: asyncio.StreamReader) -> None:
        """Settle each request's future from the writer's answers; fail what is left when it stops."""
        buffer = bytearray()
        try:
            while data := await stdout.read(1 << 16):
                buffer += data
                for body in frames(buffer):
                    answer = _ANSWER.decode(body)
                    if answer.id == 0:
                        self.migrated_from = answer.migrated_from
                    future = self._pending.pop(answer.id, None)
                    sent = self._sent.pop(answer.id, None)
                    if sent is not None and self.on_answer is not None:
                        self.on_answer(time.perf_counter() - sent, answer.error is None)
                    if answer.sync_seconds and self.on_sync is not None:
                        self.on_sync(answer.sync_seconds)
                    if future is None or future.done():  # cancelled by its caller: the commit still landed
                        continue
                    if answer.error is None:
                        future.set_result(answer.seq)
                    else:
                        future.set_exception(StoreError(answer.error))
        finally:
            self._failure = "the store's writer process has stopped"
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(StoreError(self._failure))
            self._pending.clear()
            self._sent.clear()

    def _read(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StoreClosedError("the store is closed" if self._closed else "the store is not open")
        return self._reader
