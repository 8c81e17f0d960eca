"""The SQLite writer process: owns the file's only write connection and lands commits in groups.

It runs as `python -m tradovate_sim.storage.writer PATH FULL|NORMAL`, started by `SqliteStore.open()`. Requests
arrive on stdin and answers leave on stdout, both as length-prefixed msgpack frames. Every request that is
waiting in the pipe when the previous group finishes joins the next group: one transaction, one fsync, then
one answer per request. A process of its own, not a thread: the writer's work (binding rows, SQLite's
b-tree updates) then never waits for the server's GIL, nor the server for the writer's.

The journal holds one row per commit, its body the commit's changes as a JSON array of `props` payloads
(`{"entityType", "eventType", "entity": {"id", ...}}`); `entity` holds the last state of each entity as of the
seq in the meta key `entity_applied_through` (schema 4).

Journal-only commits. A group's transaction, the one that is fsynced before any of its answers leaves, writes
only its journal rows and meta keys: the journal is the durable record. The entity table is brought up to date
behind it by `materialize`: one transaction that writes the entities of the oldest commits of the backlog (in seq
order, each change overwriting the last: a delete is never undone by an older row) and moves the applied seq with
them. Batches run in this process's loop between groups, only while no request waits in the pipe (looked at
before each batch and after each four commits' entities: a request that arrives meanwhile waits for at most
four commits' rows and the batch's COMMIT), as soon as `BATCH_COMMITS` commits are behind or after
`IDLE_SECONDS` without a request. Past `BACKLOG_BOUND` commits behind, every group is followed by a batch of at
least one commit more than the group brought (16 at most), then on while nothing waits; past `BACKLOG_LIMIT`, by
one that goes back down to `BACKLOG_BOUND` whatever waits: the backlog, its memory and the replay at start-up stay
bounded, and a burst's entities are not written in one long batch unless it passes the limit. A clean close applies
the whole backlog. Readers (`entities.current`: the store's `load`, `copy`) fold the journal rows after the applied
seq over the table, in one read snapshot.

A batch commits with synchronous=NORMAL (FULL again right after), so it writes its WAL frames without an fsync of
its own. Why that is safe, from SQLite's documentation of `PRAGMA synchronous` and of the WAL format: WAL mode with
NORMAL is always consistent (the WAL is synced before a checkpoint copies it, the database file after, and the WAL
header when the WAL restarts); a NORMAL transaction may only roll back after a power loss or an OS crash, never a
process crash. Recovery reads the WAL from its start and stops at the first frame whose cumulative checksum does
not hold, keeping what precedes the last valid commit frame: no later transaction survives without every earlier
one, and the next group's fdatasync of the WAL file makes the batch's frames durable with its own. A lost batch
loses its entity rows and its applied seq together (one transaction), and the journal still holds those commits:
they are folded at the next read and applied again. Nothing an answer depends on skips the fsync.

The cost per commit (bench/store_commit.py; bench/RESULTS.md, sessions 6 and 8). A request's changes are decoded
once (each entity's body kept as a `Raw` view of the request, its id read from those bytes alone), not twice; every
body is bound as a `bytearray` (the one bytes-like type sqlite3 binds without its adapter lookup: `entities.store`).
The pipe is read into one reused buffer (`_read`), and a batch upserts one row a statement, which needs no
statement journal (`entities.store`): at 250 liquidations/s they were, a commit, an mmap, mremap and munmap and 28
of 55 pwrites (a journal spilled to a temporary file every batch; session 9).
Most of what is left is SQLite's and the kernel's: the WAL pages a commit writes (each is a `pwrite` of its header
and one of its page, then written back by the fsync and copied again by the checkpointer) and the b-tree work. The
entity key is (id, entity_type), id first: the kinds a commit creates number their ids at similar rates, so their
new index entries share a few leaves instead of taking one leaf per kind (a liquidation: 22 WAL pages written,
14 now). Measured and not kept: a WITHOUT ROWID `entity` (its interior pages hold whole rows: 33 pages per
commit), other page sizes (1 KiB: fewer bytes, more pages and more CPU; 8 and 16 KiB: more bytes), and, with
batches, one INTEGER PRIMARY KEY from (kind, id) (kind first: as many instructions, 18 % more WAL bytes; id
first: 7 % fewer instructions, 17 % more WAL bytes).

No commit waits for a checkpoint, nor does an answer wait for the WAL's restart: the `Checkpointer` thread copies
the WAL back on a connection of its own, and past a limit the writer restarts the WAL itself at a quiet moment, once
the checkpointer has left it only a few frames to copy (storage/checkpoint.py says how and why).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import select
import signal
import sqlite3
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator

import msgspec

from tradovate_sim.storage import entities, sqlite_schema
from tradovate_sim.storage.checkpoint import (
    CHECKPOINT_INTERVAL,
    FINAL_COPY_FRAMES,
    WAL_HARD_LIMIT_FACTOR,
    WAL_LIMIT_BYTES,
    Checkpointer,
)
from tradovate_sim.storage.entities import APPLIED_KEY
from tradovate_sim.storage.sqlite_schema import UPSERT_META, connect

LOCK_WAIT_SECONDS = 10.0
CACHE_KIB = 16_384  # the page cache of the writer's connection (SQLite's default: 2,000 KiB; see _prepare)

_FRAME = struct.Struct(">I")
_READ_SIZE = 1 << 20
_MAX_GROUP_BYTES = 8 << 20  # stop gathering requests into one group past this
BOUND_CHECK_GROUPS = 32  # the WAL's size is looked at every this many groups
BATCH_COMMITS = 16  # commits whose entities one materialization batch writes, when no request waits
BATCH_FLOOR = 4  # commits a batch applies, folded, between two looks for a waiting request (1 would save no page)
IDLE_SECONDS = 0.05  # a smaller backlog is materialized once no request came for this long
BACKLOG_BOUND = 256  # past this many unapplied commits, every group is followed by a batch of at least 16 more
BACKLOG_LIMIT = 4_096  # past this many (a burst, or groups of more than 16), by one back down to BACKLOG_BOUND


class Request(msgspec.Struct, frozen=True, array_like=True):
    """One commit (or a reset) asked of the writer."""

    id: int
    changes: bytes | None = None
    meta: dict[str, bytes | None] = {}
    reset: bool = False


class Answer(msgspec.Struct, frozen=True, array_like=True):
    """The journal seq the request landed at, or why it did not land. Id 0 answers the start-up (with the schema
    version this start migrated the file from, if it did). The last answer of a group that landed carries how long
    its transaction's COMMIT took (`sync_seconds`, the fsync under FULL: the disk's share of the group's wait)."""

    id: int
    seq: int = 0
    error: str | None = None
    migrated_from: int | None = None
    sync_seconds: float = 0.0


class _RequestId(msgspec.Struct, frozen=True, array_like=True):
    id: int


_REQUEST = msgspec.msgpack.Decoder(Request)
_REQUEST_ID = msgspec.msgpack.Decoder(_RequestId)
_ENCODE = msgspec.msgpack.Encoder().encode


def frame(message: Request | Answer) -> bytes:
    body = _ENCODE(message)
    return _FRAME.pack(len(body)) + body


def frames(buffer: bytearray) -> Iterator[bytes]:
    """Take every complete frame off the front of `buffer`."""
    start = 0
    while len(buffer) - start >= 4:
        (size,) = _FRAME.unpack_from(buffer, start)
        if len(buffer) - start - 4 < size:
            break
        yield bytes(buffer[start + 4:start + 4 + size])
        start += 4 + size
    del buffer[:start]


class Writer:
    """The group-commit loop over one write connection."""

    def __init__(self, path: str, synchronous: str, *, lock_wait: float = LOCK_WAIT_SECONDS,
                 wal_limit: int = WAL_LIMIT_BYTES, checkpoint_interval: float = CHECKPOINT_INTERVAL,
                 final_copy_frames: int = FINAL_COPY_FRAMES) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.lock = _exclusive(path + ".writer.lock", lock_wait)  # held for the life of this process
        self.wal_path = path + "-wal"
        self.wal_limit = wal_limit
        self.wal_over = False  # past the limit when last looked at: restarted at the next quiet moment
        self.restarts = 0  # WAL restarts the writer made (for tests and operators)
        self.groups = 0
        self.seq = 0
        self.synchronous = synchronous
        self.applied = 0  # the last seq whose changes are in `entity` (meta APPLIED_KEY)
        # the commits after it, oldest first: (seq, each change's entity key and body); the journal holds them too
        self.backlog: deque[tuple[int, list[tuple[entities.Key, msgspec.Raw | None]]]] = deque()
        self.migrated_from: int | None = None  # the schema version this open migrated the file from, if any
        try:
            self.conn = connect(path)
            try:
                self._prepare(path, synchronous)
            except BaseException:
                self.conn.close()
                raise
        except BaseException:  # a writer that could not open the file holds neither it nor its lock
            os.close(self.lock)
            raise
        self.checkpointer = Checkpointer(path, synchronous, interval=checkpoint_interval, final=final_copy_frames)

    def _prepare(self, path: str, synchronous: str) -> None:
        conn = self.conn
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            raise RuntimeError(f"{path}: cannot switch to WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the Checkpointer's job, off the commit path
        conn.execute(f"PRAGMA journal_size_limit = {self.wal_limit}")
        # the b-tree pages a commit touches stay in memory: with the default 2 MB cache a liquidation read 8 to 9
        # pages back from the file (pread64, strace) once the tables outgrew it. Not much more: a transaction whose
        # b-tree balancing renumbered a page (it moves one through the page number of the lock byte, 262,145)
        # ends with SQLite walking every page of the cache (pcache1TruncateUnsafe: ~20 instructions and a likely
        # cache miss a page), and at 1,000 commits/s most batches are cut at 4 commits by a waiting request: with
        # 64 MB a 4-commit batch's liquidation took 872,000 instructions, with 16 MB 841,000, for 0.6 more reads
        # a commit (bench/RESULTS.md, session 8)
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            self.migrated_from = sqlite_schema.create(conn, path)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.reload()

    def reload(self) -> None:
        """Read the last seq, the applied seq and the backlog from the file (at open, and after someone else's
        transaction on `conn`: `copy` into this file)."""
        conn = self.conn
        self.seq = sqlite_schema.last_seq(conn)
        self.applied = entities.applied_through(conn)
        self.backlog = deque(entities.unapplied(conn))

    def close(self) -> None:
        self.checkpointer.close()
        with contextlib.suppress(sqlite3.Error):  # a clean stop leaves `entity` current (the next start loads fast)
            while self.backlog:
                self.materialize(BACKLOG_BOUND)
        with contextlib.suppress(sqlite3.Error):  # leave a short WAL behind (the next start reads it back)
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()
        if self.lock >= 0:
            os.close(self.lock)  # releases the lock
            self.lock = -1

    def write(self, requests: list[Request]) -> list[Answer]:
        """Land `requests` in one transaction, then let the checkpointer copy it back. If the transaction fails,
        land them one by one so a bad one fails alone. The caller bounds the WAL (`bound_wal`) once the answers are
        out."""
        answers = self._write(requests)
        self.groups += 1
        self.checkpointer.poke()
        return answers

    def bound_wal(self, waiting: Callable[[], bool]) -> bool:
        """Past the WAL limit, copy the frames the checkpointer left and sync the database file, so that the next
        transaction restarts the WAL (and the journal size limit truncates the file): only once the checkpointer's
        passes have left few frames (it is hurried until they have), while it is idle and no request is `waiting`,
        unless the WAL is past the hard limit. Looks at the file's size every `BOUND_CHECK_GROUPS` groups; returns
        whether it copied."""
        if not self.wal_over and self.groups % BOUND_CHECK_GROUPS:
            return False
        try:
            size = os.stat(self.wal_path).st_size
        except OSError:
            return False
        self.wal_over = size > self.wal_limit
        if not self.wal_over:
            return False
        checkpointer = self.checkpointer
        if size <= self.wal_limit * WAL_HARD_LIMIT_FACTOR:
            if checkpointer.index.left() > checkpointer.final:
                checkpointer.hurry()
                return False
            if not checkpointer.idle.is_set() or waiting():
                return False
        else:
            checkpointer.wait_idle()
        try:
            busy, _, _ = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:
            return False
        if not busy:  # (a pass of the checkpointer's that began meanwhile: try again later)
            self.restarts += 1
            self.wal_over = False
        return not busy

    def _write(self, requests: list[Request]) -> list[Answer]:
        conn, last_seq = self.conn, self.seq
        try:
            conn.execute("BEGIN IMMEDIATE")
            answers, reset_at, landed = self._apply(requests)
            started = time.perf_counter()
            conn.execute("COMMIT")
            answers[-1] = msgspec.structs.replace(answers[-1], sync_seconds=time.perf_counter() - started)
            if reset_at is not None:  # the entity table and the journal were emptied: nothing older to apply
                self.backlog.clear()
                self.applied = reset_at
            self.backlog.extend(landed)
            return answers
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.seq = last_seq
            if len(requests) > 1:
                return [answer for request in requests for answer in self._write([request])]
            return [Answer(id=requests[0].id, error=f"{type(exc).__name__}: {exc}")]

    def _apply(self, requests: list[Request]) -> tuple[list[Answer], int | None, list[_Landed]]:
        """The group's journal rows and meta keys, in the open transaction; the entities wait for `materialize`.
        Each commit's changes are decoded here all the same (a commit the entity table could not take fails now,
        alone, not later); returns the answers, the seq of the group's last reset if any, and the commits
        landed after it."""
        conn, seq = self.conn, self.seq
        journal: list[object] = []  # seq, body, seq, body...: the rows of one multi-row INSERT, flat
        meta: dict[str, bytes | None] = {}
        answers: list[Answer] = []
        landed: list[_Landed] = []
        reset_at: int | None = None
        for request in requests:
            if request.reset:  # what this group gathered before is wiped with the rest
                journal, meta, landed, reset_at = [], {}, [], seq
                sqlite_schema.reset(conn, seq)
            if request.changes is not None:
                seq += 1
                journal += (seq, bytearray(request.changes))  # bound as it is (entities.store says why)
                landed.append((seq, entities.keyed(request.changes)))
            meta.update(request.meta)
            answers.append(Answer(id=request.id, seq=seq))
        sqlite_schema.flush(conn, journal, meta)
        self.seq = seq
        return answers, reset_at, landed

    def materialize(self, most: int, stop: Callable[[], bool] | None = None, floor: int = 1, least: int = 0) -> int:
        """Bring `entity` up to date with the oldest `most` commits of the backlog, in one transaction that also
        moves the applied seq; returns how many it applied. After each `floor` commits' entities (and once `least`
        are), `stop()` may end the batch early (a request is waiting): it then commits what it applied. Not synced on
        its own (synchronous NORMAL for it alone: see the module's docstring); the journal rows it applies are
        durable already."""
        count = min(most, len(self.backlog))
        if not count:
            return 0
        conn, backlog = self.conn, self.backlog
        relaxed = self.synchronous != "NORMAL"
        if relaxed:
            conn.execute("PRAGMA synchronous = NORMAL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                done, step = 0, max(floor, 1)
                while done < count:  # `step` commits at a time, folded (fewer rows and statements), in seq order
                    upto = min(done + step, count)
                    entities.store(conn, entities.fold({}, (backlog[index][1] for index in range(done, upto))))
                    done = upto
                    if stop is not None and done >= least and stop():
                        break
                applied = backlog[done - 1][0]
                conn.execute(UPSERT_META, (APPLIED_KEY, bytearray(b"%d" % applied)))  # as entities.store binds
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            if relaxed:
                conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        for _ in range(done):
            backlog.popleft()
        self.applied = applied
        return done


_Landed = tuple[int, list[tuple["entities.Key", "msgspec.Raw | None"]]]  # a commit's seq and its keyed changes


def _exclusive(lock_path: str, wait: float) -> int:
    """Hold an exclusive lock on `lock_path`: one writer per file. A writer left by a killed server still lands
    what was already in its pipe and then exits; the new one waits for that (up to `wait` seconds) before it
    reads the last seq, instead of both writing at once."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise RuntimeError(f"another writer process holds {lock_path} (another server on the same "
                                   f"database?); waited {wait:g} s") from None
            time.sleep(0.02)


def _decode(body: bytes) -> Request | Answer:
    """A request, or (when it cannot be read) the answer that says so to its sender, if its id can be read."""
    try:
        return _REQUEST.decode(body)
    except msgspec.DecodeError as exc:
        return Answer(id=_REQUEST_ID.decode(body).id, error=f"malformed request: {exc}")


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read(fd: int, chunk: memoryview, buffer: bytearray) -> bool:
    """Append what one read of `fd` brings to `buffer`, through `chunk`; False at the end of the file. Not
    `os.read`: its fresh 1 MiB object was an mmap, an mremap to the size read and an munmap every read (glibc
    serves an allocation that large from mmap), and the first touch of its pages faulted them in."""
    size = os.readv(fd, [chunk])
    buffer += chunk[:size]
    return size > 0


def _waiting(fd: int, timeout: float) -> bool:
    """Whether a request (or the end of requests) is readable on `fd` within `timeout` seconds."""
    return bool(select.select([fd], [], [], timeout)[0])


def serve(path: str, synchronous: str, stdin: int = 0, stdout: int = 1) -> int:
    """Answer the start-up (id 0), then land requests until stdin closes; every received request is answered."""
    try:
        writer = Writer(path, synchronous)
    except Exception as exc:
        _send(stdout, frame(Answer(id=0, error=f"{type(exc).__name__}: {exc}")))
        return 1
    with contextlib.suppress(OSError):  # a bigger pipe lets more requests join one group
        fcntl.fcntl(stdin, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    _send(stdout, frame(Answer(id=0, seq=writer.seq, migrated_from=writer.migrated_from)))
    buffer = bytearray()
    chunk = memoryview(bytearray(_READ_SIZE))  # each read lands here, then only what came is copied to `buffer`
    open_ = True
    while open_:
        if writer.backlog and not _waiting(stdin, 0 if len(writer.backlog) >= BATCH_COMMITS else IDLE_SECONDS):
            try:  # nothing waits: the entity table catches up, a batch at a time, until a request comes
                writer.materialize(BATCH_COMMITS, stop=functools.partial(_waiting, stdin, 0), floor=BATCH_FLOOR)
                continue
            except sqlite3.Error:
                pass  # tried again after the next group (the journal holds these commits): wait for one now
        open_ = _read(stdin, chunk, buffer)
        while open_ and len(buffer) < _MAX_GROUP_BYTES and select.select([stdin], [], [], 0)[0]:
            open_ = _read(stdin, chunk, buffer)
        decoded = [_decode(body) for body in frames(buffer)]
        requests = [r for r in decoded if isinstance(r, Request)]
        answers = {a.id: a for a in writer.write(requests)} if requests else {}
        if decoded:
            _send(stdout, b"".join(frame(answers[r.id] if isinstance(r, Request) else r) for r in decoded))
        writer.bound_wal(functools.partial(_waiting, stdin, 0))
        if (behind := len(writer.backlog)) > BACKLOG_BOUND:  # never idle for long enough: catch up after a group
            least = behind - BACKLOG_BOUND if behind > BACKLOG_LIMIT else min(len(requests) + 1, BATCH_COMMITS)
            with contextlib.suppress(sqlite3.Error):  # (a batch that fails is tried again; the journal holds it)
                writer.materialize(behind - BACKLOG_BOUND + BATCH_COMMITS, stop=functools.partial(_waiting, stdin, 0),
                                   floor=BATCH_FLOOR, least=least)
    writer.close()
    return 0


if __name__ == "__main__":
    # Ctrl-C and the like are for the server: it closes our stdin when it is done, and we finish then.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(serve(sys.argv[1], sys.argv[2]))
