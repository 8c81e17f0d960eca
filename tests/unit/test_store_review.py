"""Review of the durable store (storage/sqlite.py, storage/writer.py) and of how the runtime uses it: group
semantics driven directly through `Writer` (exact group composition), the pipe protocol through `SqliteStore`
(huge and many commits, close, cancel, readers); the bugs it found are fixed."""

import asyncio
import gc
import io
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tradovate_sim.server.runtime import SECRET_KEY, SEED_KEY, Runtime
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.settings import Settings
from tradovate_sim.storage import entities as entity_table
from tradovate_sim.storage.sqlite import SqliteStore, StoreError
from tradovate_sim.storage.sqlite_schema import SEQ_FLOOR_KEY
from tradovate_sim.storage.writer import Answer, Request, Writer


def change(entity_id: int, event_type: str = "Created", entity_type: str = "order", **fields: Any) -> dict[str, Any]:
    return {"entityType": entity_type, "eventType": event_type, "entity": {"id": entity_id, **fields}}


def batch(*changes: dict[str, Any]) -> bytes:
    return msgspec.json.encode(list(changes))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "review.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(str(db_path))
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def writer(db_path: Path) -> Iterator[Writer]:
    made = Writer(str(db_path), "NORMAL")
    yield made
    made.close()


def state_of(path: Path) -> tuple[list[tuple[str, int, bytes]], list[tuple[int, bytes]], dict[str, bytes]]:
    """The current entities (the table and the journal rows the writer has not applied to it yet), the journal
    and the meta keys but the store's schema version and applied seq."""
    with sqlite3.connect(path) as conn:
        entities = sorted(entity_table.current(conn))
        journal = conn.execute("SELECT seq, body FROM journal ORDER BY seq").fetchall()
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key NOT IN (?, ?)",
                                 ("schema_version", entity_table.APPLIED_KEY)).fetchall())
    conn.close()
    return entities, journal, meta


def outcome(answers: list[Answer]) -> list[int | str]:
    return [answer.seq if answer.error is None else "error" for answer in answers]


# --- groups, driven through the writer directly ----------------------------------------------------

GROUP = [
    Request(id=1, changes=batch(change(1), change(2)), meta={"a": b"1"}),
    Request(id=2, changes=batch(change(1, "Deleted"))),                       # deletes what the group created
    Request(id=3, meta={"a": None, "b": b"2"}),                               # meta only
    Request(id=4, changes=batch(change(5), change(5, "Updated", v=2), change(5, "Deleted"))),
    Request(id=5, changes=batch(change(6, entity_type="position", name="é✓\U0001f600"))),
    Request(id=6, changes=batch(change(2, "Deleted"), change(2, "Created", v=3))),  # deleted then created again
]
BAD = Request(id=99, changes=batch(change(7), change(8, "Moved")))


def test_a_group_lands_like_its_commits_one_by_one_when_one_of_them_is_bad(tmp_path: Path) -> None:
    grouped, fallback, single = (Writer(str(tmp_path / f"{name}.db"), "NORMAL") for name in ("g", "f", "s"))
    try:
        in_one = grouped.write(GROUP)
        with_bad = fallback.write([*GROUP[:3], BAD, *GROUP[3:]])
        one_by_one = [answer for request in GROUP for answer in single.write([request])]
    finally:
        for made in (grouped, fallback, single):
            made.close()

    assert outcome(in_one) == outcome(one_by_one) == [1, 2, 2, 3, 4, 5]
    assert outcome(with_bad) == [1, 2, 2, "error", 3, 4, 5]  # the bad one takes no seq: no gap
    assert [a.id for a in with_bad] == [1, 2, 3, 99, 4, 5, 6]
    assert state_of(tmp_path / "g.db") == state_of(tmp_path / "f.db") == state_of(tmp_path / "s.db")
    entities, journal, meta = state_of(tmp_path / "g.db")
    assert [(kind, entity_id) for kind, entity_id, _ in entities] == [("order", 2), ("position", 6)]
    assert [seq for seq, _ in journal] == [1, 2, 3, 4, 5]
    assert meta == {"b": b"2"}


def test_commits_before_a_reset_in_the_same_group_are_wiped_and_seqs_continue(writer: Writer, db_path: Path) -> None:
    answers = writer.write([
        Request(id=1, changes=batch(change(1), change(2)), meta={"a": b"1"}),
        Request(id=2, reset=True),
        Request(id=3, changes=batch(change(2, "Updated", v=2)), meta={"b": b"2"}),
        Request(id=4, reset=True),
        Request(id=5, changes=batch(change(3))),
        BAD,
    ])

    assert outcome(answers) == [1, 1, 2, 2, 3, "error"]
    entities, journal, meta = state_of(db_path)
    assert (entities, [seq for seq, _ in journal]) == ([("order", 3, b'{"id":3}')], [3])
    assert meta == {SEQ_FLOOR_KEY: b"2"}
    writer.close()
    reopened = Writer(str(db_path), "NORMAL")
    try:
        assert outcome(reopened.write([Request(id=1, reset=True), Request(id=2, changes=batch(change(4)))])) == [3, 4]
    finally:
        reopened.close()
    assert state_of(db_path)[2] == {SEQ_FLOOR_KEY: b"3"}


@pytest.mark.parametrize("count", [1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 255, 256, 257, 341, 512, 600])
def test_every_row_is_written_once_at_the_chunk_size_boundaries(writer: Writer, db_path: Path, count: int) -> None:
    one_commit = writer.write([Request(id=0, changes=batch(*(change(n, v=n) for n in range(count))))])
    many_commits = writer.write([Request(id=n, changes=batch(change(n, entity_type="fill"))) for n in range(count)])

    assert outcome(one_commit) == [1]
    assert outcome(many_commits) == list(range(2, count + 2))
    writer.materialize(len(writer.backlog))  # the entity table's own multi-row statements, in one batch
    with sqlite3.connect(db_path) as conn:
        assert sorted(conn.execute("SELECT entity_type, id, body FROM entity")) == state_of(db_path)[0]
    conn.close()
    entities, journal, _ = state_of(db_path)
    assert [(kind, entity_id) for kind, entity_id, _ in entities] == (
        [("fill", n) for n in range(count)] + [("order", n) for n in range(count)])
    assert all(body == msgspec.json.encode({"id": n, "v": n}) for kind, n, body in entities if kind == "order")
    assert [seq for seq, _ in journal] == list(range(1, count + 2))


# --- the store end to end ------------------------------------------------------------------------


async def test_ids_at_the_int64_limits_and_unicode_bodies_round_trip_when_reopened(
        store: SqliteStore, db_path: Path) -> None:
    bodies = [
        change(2**63 - 1, entity_type="ordér", name="日本語 \U0001f600"),
        change(-(2**63), name="\\u00e9 escaped \"quoted\""),
        change(0, entity_type="order", name="\u2028\u0000nul"),
    ]
    seq = await store.commit(batch(*bodies), {"clé ✓": "välue".encode()})
    await store.close()
    reopened = SqliteStore(str(db_path))
    await reopened.open()
    try:
        loaded = sorted(reopened.load())
        journal = reopened.journal()
        value = reopened.get_meta("clé ✓")
    finally:
        await reopened.close()

    expected = sorted((c["entityType"], c["entity"]["id"], msgspec.json.encode(c["entity"])) for c in bodies)
    assert seq == 1
    assert loaded == expected
    assert [(e.entity_type, e.entity_id, e.body) for e in journal] == [
        (c["entityType"], c["entity"]["id"], msgspec.json.encode(c["entity"])) for c in bodies]
    assert value == "välue".encode()


async def test_commits_of_10_mib_land_in_order_among_small_ones(store: SqliteStore) -> None:
    blobs = [chr(0x4E00 + n) * ((10 << 20) // 3 + 1) for n in range(3)]  # 3 UTF-8 bytes each: > 10 MiB
    big = [batch(change(n, blob=blob)) for n, blob in enumerate(blobs)]
    assert all(len(body) > 10 << 20 for body in big)
    commits = [store.commit(big[n // 2]) if n % 2 == 0 else store.commit(batch(change(100 + n))) for n in range(6)]
    commits.append(store.commit(None, {"huge": b"\xff" * (9 << 20)}))

    seqs = await asyncio.gather(*commits)

    assert seqs == [1, 2, 3, 4, 5, 6, 6]
    loaded = {entity_id: body for _, entity_id, body in store.load()}
    assert [loaded[n] for n in range(3)] == [msgspec.json.encode({"id": n, "blob": b}) for n, b in enumerate(blobs)]
    assert store.get_meta("huge") == b"\xff" * (9 << 20)


async def test_10000_concurrent_commits_get_consecutive_seqs_in_call_order(store: SqliteStore) -> None:
    seqs = await asyncio.gather(*(store.commit(batch(change(n))) for n in range(10_000)))

    assert seqs == list(range(1, 10_001))
    assert sorted(entity_id for _, entity_id, _ in store.load()) == list(range(10_000))
    assert [e.entity_id for e in store.journal(after_seq=9_990)] == list(range(9_990, 10_000))


async def test_every_buffered_commit_lands_when_the_store_is_closed_right_after_sending(db_path: Path) -> None:
    store = SqliteStore(str(db_path))
    await store.open()
    blob = "x" * (12 << 20)  # more than the pipe holds: most of it waits in asyncio's buffer
    tasks = [asyncio.create_task(store.commit(batch(change(n, blob=blob) if n % 50 == 0 else change(n))))
             for n in range(200)]
    await asyncio.sleep(0)  # every task has sent its request

    await store.close()

    assert await asyncio.gather(*tasks) == list(range(1, 201))
    entities, journal, _ = state_of(db_path)
    assert [seq for seq, _ in journal] == list(range(1, 201))
    assert [entity_id for _, entity_id, _ in entities] == list(range(200))


async def test_cancelled_commits_land_exactly_once_and_the_others_get_their_own_seqs(store: SqliteStore) -> None:
    tasks = [asyncio.create_task(store.commit(batch(change(n)))) for n in range(300)]
    await asyncio.sleep(0)
    for task in tasks[::3]:
        task.cancel()

    done = await asyncio.gather(*tasks, return_exceptions=True)

    assert all(isinstance(d, asyncio.CancelledError) for d in done[::3])
    assert [d for n, d in enumerate(done) if n % 3] == [n + 1 for n in range(300) if n % 3]
    assert [(e.seq, e.entity_id) for e in store.journal(limit=1000)] == [(n + 1, n) for n in range(300)]


async def test_reads_see_every_acknowledged_commit_while_the_writer_is_busy(store: SqliteStore) -> None:
    padding = "p" * 4_000
    seen_counts: list[int] = []

    async def commit_then_read(n: int) -> None:
        seq = await store.commit(batch(change(n, pad=padding)), {f"k{n}": str(n).encode()})
        assert store.get_meta(f"k{n}") == str(n).encode()
        assert [e.entity_id for e in store.journal(after_seq=seq - 1, limit=1)] == [n]
        seen_counts.append(len(store.load()))  # a full read while other commits are in flight

    await asyncio.gather(*(commit_then_read(n) for n in range(1_000)))

    assert seen_counts == sorted(seen_counts)  # what later acks see never shrinks
    assert len(store.load()) == 1_000


async def test_no_writer_process_or_descriptor_is_left_when_stores_are_opened_and_closed(db_path: Path) -> None:
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    writers: list[int] = []
    for n in range(8):
        store = SqliteStore(str(db_path))
        await store.open()
        assert store.writer_pid is not None
        writers.append(store.writer_pid)
        await store.commit(batch(change(n)))
        await store.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"99",))  # a newer file
    conn.close()
    for _ in range(3):
        with pytest.raises(StoreError, match="schema version"):
            await SqliteStore(str(db_path)).open()
    gc.collect()

    assert len(os.listdir("/proc/self/fd")) <= before
    for pid in writers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with sqlite3.connect(db_path) as conn:  # the refused opens changed nothing
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (b"99",)
        assert conn.execute("SELECT count(*) FROM entity").fetchone() == (8,)
    conn.close()


# --- bugs ------------------------------------------------------------------------------------------


async def test_a_second_store_on_the_same_file_is_refused_or_keeps_working(db_path: Path) -> None:
    first = SqliteStore(str(db_path))
    await first.open()
    second = SqliteStore(str(db_path))
    try:
        try:
            await second.open()
        except StoreError:
            return  # refusing the second writer is a fix
        await first.commit(batch(change(1)))
        outcome_of_second: object
        try:
            outcome_of_second = await second.commit(batch(change(2)))
        except StoreError as error:
            outcome_of_second = error
        assert outcome_of_second == 2
    finally:
        await second.close()
        await first.close()


async def test_a_malformed_commit_fails_alone(store: SqliteStore) -> None:
    with pytest.raises((StoreError, TypeError, ValueError)):
        await store.commit(None, {"k": "text"})  # type: ignore[dict-item]

    assert await store.commit(batch(change(1))) == 1


@pytest.fixture
def restore_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()  # Runtime.start freezes the heap and raises the thresholds for the server's lifetime
    gc.set_threshold(*thresholds)


async def test_a_crash_during_reset_keeps_the_seed_and_token_secret(tmp_path: Path, restore_gc: None) -> None:
    settings = Settings(db=f"sqlite:///{tmp_path / 'reset.db'}", quotes="manual", admin_password="admin-pw",
                        demo_password="demo-pw")
    hashing = PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)
    runtime = Runtime(settings, out=io.StringIO(), hashing=hashing)
    await runtime.start()
    secret = runtime.store.get_meta(SECRET_KEY)
    reset = runtime.store.reset

    async def reset_then_crash(*args: Any, **kwargs: Any) -> int:
        seq = await reset(*args, **kwargs)
        pid = runtime.store.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the server dies here: nothing more reaches the file
        return seq

    runtime.store.reset = reset_then_crash  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        await runtime.reset()
    await runtime.stop()

    store = SqliteStore(str(settings.sqlite_path))
    await store.open()
    try:
        assert store.get_meta(SECRET_KEY) == secret
        assert store.get_meta(SEED_KEY) is not None
    finally:
        await store.close()


def test_buffered_and_cancelled_commits_land_once_under_uvloop(db_path: Path) -> None:
    """The server runs on uvloop (uvicorn picks it), where the writer's stdin and stdout are socket pairs."""
    uvloop = pytest.importorskip("uvloop")

    async def main() -> tuple[list[int | BaseException], list[tuple[int, int]]]:
        store = SqliteStore(str(db_path))
        await store.open()
        blob = "u" * (12 << 20)
        tasks = [asyncio.create_task(store.commit(batch(change(n, blob=blob) if n % 40 == 0 else change(n))))
                 for n in range(120)]
        await asyncio.sleep(0)
        for task in tasks[1::7]:
            task.cancel()
        await store.close()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        reopened = SqliteStore(str(db_path))
        await reopened.open()
        try:
            return done, [(e.seq, e.entity_id) for e in reopened.journal(limit=1000)]
        finally:
            await reopened.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        done, journal = runner.run(main())

    assert all(isinstance(d, asyncio.CancelledError) for d in done[1::7])
    assert [d for n, d in enumerate(done) if n % 7 != 1] == [n + 1 for n in range(120) if n % 7 != 1]
    assert journal == [(n + 1, n) for n in range(120)]
