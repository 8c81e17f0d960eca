"""The durable SQLite store: group commit, journal, meta, reset, close and crash durability."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tradovate_sim.storage.rows import JournalEntry
from tradovate_sim.storage.sqlite import SqliteStore, StoreClosedError, StoreError


def change(entity_id: int = 1, entity_type: str = "order", event_type: str = "Created",
           entity: Any = None) -> dict[str, Any]:
    """One `props` payload as the platform encodes it."""
    return {"entityType": entity_type, "eventType": event_type,
            "entity": {"id": entity_id, "accountId": 7} if entity is None else entity}


def batch(*changes: dict[str, Any]) -> bytes:
    return msgspec.json.encode(list(changes))


async def open_store(path: Path, **options: Any) -> SqliteStore:
    store = SqliteStore(str(path), **options)
    await store.open()
    return store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "sim.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_store(db_path)
    yield store
    await store.close()


def ids_of(entries: list[JournalEntry]) -> list[int]:
    return [entry.entity_id for entry in entries]


async def test_rows_are_loaded_when_store_is_reopened_after_commit(store: SqliteStore, db_path: Path) -> None:
    await store.commit(batch(change(1), change(2, entity_type="position")))
    await store.commit(batch(change(3, entity_type="user", entity={"id": 3})))
    await store.close()

    reopened = await open_store(db_path)
    try:
        loaded = reopened.load()
        assert sorted(loaded) == [
            ("order", 1, b'{"id":1,"accountId":7}'),
            ("position", 2, b'{"id":2,"accountId":7}'),
            ("user", 3, b'{"id":3}'),
        ]
        assert [(entry.seq, entry.entity_id) for entry in reopened.journal()] == [(1, 1), (1, 2), (2, 3)]
    finally:
        await reopened.close()


async def test_body_is_replaced_when_entity_is_updated(store: SqliteStore) -> None:
    await store.commit(batch(change(1)))

    seq = await store.commit(batch(change(1, event_type="Updated", entity={"id": 1, "v": 2})))

    assert seq == 2
    assert store.load() == [("order", 1, b'{"id":1,"v":2}')]


async def test_bodies_are_kept_byte_for_byte_and_ids_read_from_the_top_level_whatever_their_place(
    store: SqliteStore,
) -> None:
    # the writer decodes a commit once and reads each entity's id from its own bytes (storage/writer.py)
    later = b'{ "accountId": 7, "fill": {"id": 99}, "id": 5 }'
    first = b'{"id":6,"price":6800.25}'
    body = (b'[{"entityType":"fill","eventType":"Created","entity":' + later + b'},'
            b' {"eventType":"Created","entity":' + first + b',"entityType":"fill"}]')

    await store.commit(body)

    assert sorted(store.load()) == [("fill", 5, later), ("fill", 6, first)]
    assert [(e.entity_id, e.body) for e in store.journal()] == [(5, later), (6, first)]


async def test_entity_is_removed_but_journal_kept_when_deleted(store: SqliteStore) -> None:
    await store.commit(batch(change(1), change(2)))

    await store.commit(batch(change(1, event_type="Deleted")))

    assert [(kind, entity_id) for kind, entity_id, _ in store.load()] == [("order", 2)]
    journal = store.journal()
    assert [(e.seq, e.event_type, e.entity_id) for e in journal] == [
        (1, "Created", 1),
        (1, "Created", 2),
        (2, "Deleted", 1),
    ]


async def test_last_change_wins_when_one_commit_creates_and_deletes_an_entity(store: SqliteStore) -> None:
    seq = await store.commit(batch(change(1), change(1, event_type="Updated"), change(1, event_type="Deleted")))

    assert seq == 1
    assert store.load() == []
    assert [e.event_type for e in store.journal()] == ["Created", "Updated", "Deleted"]


async def test_seqs_are_unique_and_increasing_in_commit_order_when_200_tasks_commit_concurrently(
    store: SqliteStore, db_path: Path
) -> None:
    async def place(entity_id: int) -> int:
        return await store.commit(batch(change(entity_id), change(entity_id, event_type="Updated")))

    seqs = await asyncio.gather(*(place(entity_id) for entity_id in range(200)))

    assert seqs == [n + 1 for n in range(200)]
    journal = store.journal(limit=1000)
    assert [e.seq for e in journal] == [n // 2 + 1 for n in range(400)]
    assert ids_of(journal) == [n // 2 for n in range(400)]
    await store.close()
    reopened = await open_store(db_path)
    try:
        assert sorted(entity_id for _, entity_id, _ in reopened.load()) == list(range(200))
    finally:
        await reopened.close()


@pytest.mark.parametrize(
    "bad_commit",
    [
        batch(change(5))[:-3],
        batch(change(5), change(6, entity={"accountId": 7})),
        batch(change(5), change(2**63)),
        batch(change(5), change(6, event_type="Moved")),
        b"[1, 2]",
    ],
    ids=["truncated-json", "entity-without-id", "id-overflow", "unknown-event", "not-props"],
)
async def test_only_its_own_commit_fails_when_one_change_cannot_be_stored(
    store: SqliteStore, db_path: Path, bad_commit: bytes
) -> None:
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # hold the writer so the commits below queue into one batch
    tasks = [asyncio.create_task(store.commit(bad_commit if n == 5 else batch(change(n)))) for n in range(10)]
    await asyncio.sleep(0.05)
    blocker.execute("ROLLBACK")
    blocker.close()

    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(outcomes[5], StoreError)
    assert [o for n, o in enumerate(outcomes) if n != 5] == list(range(1, 10))
    assert ids_of(store.journal()) == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert sorted(entity_id for _, entity_id, _ in store.load()) == [0, 1, 2, 3, 4, 6, 7, 8, 9]


async def test_last_seq_is_returned_when_commit_has_no_changes(store: SqliteStore) -> None:
    assert await store.commit(None) == 0
    await store.commit(batch(change(1), change(2)))

    assert await store.commit(None) == 1


async def test_meta_is_set_replaced_and_deleted_when_committed(store: SqliteStore) -> None:
    await store.commit(None, {"clock": b"1", "ids": b"100"})
    await store.commit(batch(change(1)), {"clock": b"2"})
    assert (store.get_meta("clock"), store.get_meta("ids")) == (b"2", b"100")

    await store.commit(None, {"ids": None})

    assert store.get_meta("ids") is None
    assert store.get_meta("never-set") is None


async def test_commit_is_refused_when_it_sets_the_schema_version(store: SqliteStore) -> None:
    with pytest.raises(ValueError, match="schema_version"):
        await store.commit(None, {"schema_version": None})


async def test_journal_pages_when_after_seq_and_limit_are_given(store: SqliteStore) -> None:
    for n in range(10):
        await store.commit(batch(change(n), change(n, event_type="Updated")))

    page = store.journal(after_seq=3, limit=4)

    assert [(e.seq, e.entity_id, e.event_type) for e in page][:3] == [
        (4, 3, "Created"), (4, 3, "Updated"), (5, 4, "Created")]
    assert [e.seq for e in page] == [4, 4, 5, 5, 6, 6, 7, 7]
    assert store.journal(after_seq=10) == []


async def test_everything_is_emptied_and_seqs_continue_when_reset(store: SqliteStore, db_path: Path) -> None:
    await store.commit(batch(change(1)), {"clock": b"1"})
    await store.commit(batch(change(2)))

    await store.reset()

    assert (store.load(), store.journal(), store.get_meta("clock")) == ([], [], None)
    assert await store.commit(batch(change(3))) == 3
    await store.reset()
    await store.close()
    reopened = await open_store(db_path)
    try:
        assert reopened.load() == []
        assert await reopened.commit(batch(change(4))) == 4
    finally:
        await reopened.close()


async def test_queued_commits_land_when_store_is_closed_while_they_are_pending(db_path: Path) -> None:
    store = await open_store(db_path)
    pending = [asyncio.create_task(store.commit(batch(change(n)))) for n in range(50)]
    await asyncio.sleep(0)  # every task has queued its commit

    await store.close()

    assert await asyncio.gather(*pending) == list(range(1, 51))
    reopened = await open_store(db_path)
    try:
        assert len(reopened.load()) == 50
    finally:
        await reopened.close()


async def test_commit_and_reads_raise_when_store_is_closed(store: SqliteStore) -> None:
    await store.close()

    with pytest.raises(StoreClosedError, match="closed"):
        await store.commit(batch(change(1)))
    with pytest.raises(StoreClosedError):
        store.load()
    await store.close()  # closing twice is harmless


async def test_commit_raises_when_store_was_never_opened(db_path: Path) -> None:
    store = SqliteStore(str(db_path))

    with pytest.raises(StoreClosedError, match="not open"):
        await store.commit(batch(change(1)))
    with pytest.raises(StoreClosedError, match="not open"):
        store.get_meta("clock")
    await store.close()  # closing a store that never opened is harmless


async def test_open_fails_when_file_has_another_schema_version(db_path: Path) -> None:
    store = await open_store(db_path)
    await store.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"99",))
    conn.close()

    with pytest.raises(StoreError, match="schema version"):
        await open_store(db_path)


def schema_2_file(db_path: Path) -> None:
    """A file as schema 2 made it: the entity table keyed (entity_type, id); three entities, two journal rows."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        conn.execute("""CREATE TABLE entity (entity_type TEXT NOT NULL, id INTEGER NOT NULL, body BLOB NOT NULL,
                        PRIMARY KEY (entity_type, id)) STRICT""")
        conn.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY, body BLOB NOT NULL) STRICT")
        conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT, WITHOUT ROWID")
        conn.executemany("INSERT INTO entity VALUES (?, ?, ?)",
                         [("order", 1, b'{"id":1}'), ("fill", 1, b'{"id":1,"f":1}'), ("order", 2, b'{"id":2}')])
        conn.executemany("INSERT INTO journal VALUES (?, ?)", [(1, batch(change(1), change(1, "fill"))),
                                                               (2, batch(change(2)))])
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", b"2"), ("seed", b"x")])
    conn.close()


def file_rows(db_path: Path) -> tuple[list[Any], list[Any], list[Any]]:
    with sqlite3.connect(db_path) as conn:
        rows = (sorted(conn.execute("SELECT entity_type, id, body FROM entity")),
                conn.execute("SELECT seq, body FROM journal ORDER BY seq").fetchall(),
                sorted(conn.execute("SELECT key, value FROM meta")))
    conn.close()
    return rows


async def test_a_schema_2_file_is_migrated_to_the_id_first_key_when_opened(db_path: Path) -> None:
    schema_2_file(db_path)

    store = await open_store(db_path)
    try:
        assert store.migrated_from == 2  # the server logs it
        assert sorted(store.load()) == [("fill", 1, b'{"id":1,"f":1}'), ("order", 1, b'{"id":1}'),
                                        ("order", 2, b'{"id":2}')]
        assert [(e.seq, e.entity_type, e.entity_id) for e in store.journal()] == [
            (1, "order", 1), (1, "fill", 1), (2, "order", 2)]
        assert store.get_meta("seed") == b"x"
        # the new key takes upserts and deletes: one kind's change leaves the other kind's same id alone
        assert await store.commit(batch(change(1, event_type="Updated", entity={"id": 1, "v": 2}),
                                        change(2, event_type="Deleted"))) == 3
        assert sorted(store.load()) == [("fill", 1, b'{"id":1,"f":1}'), ("order", 1, b'{"id":1,"v":2}')]
    finally:
        await store.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (b"4",)
        index = conn.execute("SELECT name FROM pragma_index_list('entity') WHERE origin = 'pk'").fetchone()[0]
        assert [row[2] for row in conn.execute(f"PRAGMA index_info('{index}')")] == ["id", "entity_type"]
    conn.close()


def test_a_migration_that_fails_leaves_the_schema_2_file_as_it_was(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tradovate_sim.storage import sqlite_schema, writer

    schema_2_file(db_path)
    before = file_rows(db_path)
    migrate = sqlite_schema.migrate

    def failing(conn: sqlite3.Connection) -> None:
        migrate(conn)  # every step done, then a failure before the commit
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_schema, "migrate", failing)
    with pytest.raises(sqlite3.OperationalError):
        writer.Writer(str(db_path), "FULL", lock_wait=0.5)
    assert file_rows(db_path) == before  # still schema 2, every row
    monkeypatch.setattr(sqlite_schema, "migrate", migrate)
    writer.Writer(str(db_path), "FULL", lock_wait=0.5).close()  # the failed open held neither file nor lock
    assert ("schema_version", b"4") in file_rows(db_path)[2]


async def test_migrate_names_what_it_did_to_a_sqlite_file(db_path: Path) -> None:
    from tradovate_sim.storage.transfer import migrate_database

    schema_2_file(db_path)
    assert await migrate_database(f"sqlite:///{db_path}") == f"{db_path}: SQLite schema version 2 -> 4"
    assert await migrate_database(f"sqlite:///{db_path}") == f"{db_path}: already at SQLite schema version 4"


def schema_3_file(db_path: Path, floor: int | None = None) -> None:
    """A file as schema 3 made it: the entity table keyed (id, entity_type) and always current (no applied seq)."""
    schema_2_file(db_path)
    with sqlite3.connect(db_path, isolation_level=None) as conn:
        rows = conn.execute("SELECT entity_type, id, body FROM entity").fetchall()
        conn.execute("DROP TABLE entity")
        conn.execute("""CREATE TABLE entity (entity_type TEXT NOT NULL, id INTEGER NOT NULL, body BLOB NOT NULL,
                        PRIMARY KEY (id, entity_type)) STRICT""")
        conn.executemany("INSERT INTO entity VALUES (?, ?, ?)", rows)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (b"3",))
        if floor is not None:
            conn.execute("INSERT INTO meta VALUES ('journal_seq_floor', ?)", (str(floor).encode(),))
    conn.close()


@pytest.mark.parametrize("floor", [None, 7])
async def test_a_schema_3_file_is_migrated_with_its_entities_applied_through_its_last_seq(
        db_path: Path, floor: int | None) -> None:
    schema_3_file(db_path, floor)
    before = file_rows(db_path)

    store = await open_store(db_path)
    try:
        assert store.migrated_from == 3
        assert sorted(store.load()) == before[0]
        assert await store.commit(batch(change(2, event_type="Deleted"))) == (floor or 2) + 1
        assert sorted(store.load()) == [("fill", 1, b'{"id":1,"f":1}'), ("order", 1, b'{"id":1}')]
    finally:
        await store.close()
    entities, journal, meta = file_rows(db_path)
    assert entities == [("fill", 1, b'{"id":1,"f":1}'), ("order", 1, b'{"id":1}')]  # a clean close applied all
    assert journal[:2] == before[1]
    assert ("schema_version", b"4") in meta
    assert ("entity_applied_through", str((floor or 2) + 1).encode()) in meta


async def test_file_uses_wal_when_opened(store: SqliteStore, db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()

    assert mode == "wal"


_CRASHING_CHILD = """
import asyncio, sys
from tradovate_sim.storage.sqlite import SqliteStore

async def main(path):
    store = SqliteStore(path)
    await store.open()
    async def committer(first):
        for n in range(first, 10**9, 8):
            await store.commit(b'[{"entityType":"order","eventType":"Created","entity":{"id":%d}}]' % n)
            print("acked", n, flush=True)
    await asyncio.gather(*(committer(k) for k in range(8)))

asyncio.run(main(sys.argv[1]))
"""


def test_every_acked_commit_is_present_when_the_writer_process_is_killed(db_path: Path) -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-c", _CRASHING_CHILD, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None and child.stderr is not None
    acked: set[int] = set()
    while len(acked) < 300 and (line := child.stdout.readline()):
        acked.add(int(line.split()[1]))
    os.kill(child.pid, signal.SIGKILL)
    rest, errors = child.communicate(timeout=30)
    acked.update(int(line.split()[1]) for line in rest.splitlines() if line.startswith("acked "))
    assert child.returncode == -signal.SIGKILL, errors
    assert len(acked) >= 300, errors

    async def load() -> set[int]:
        store = await open_store(db_path)
        try:
            return {entity_id for _, entity_id, _ in store.load()}
        finally:
            await store.close()

    assert acked <= asyncio.run(load())


async def test_commit_still_lands_when_its_caller_is_cancelled(store: SqliteStore, db_path: Path) -> None:
    task = asyncio.create_task(store.commit(batch(change(1))))
    await asyncio.sleep(0)  # the commit is queued

    task.cancel()
    await store.close()

    assert task.cancelled()
    reopened = await open_store(db_path)
    try:
        assert [e.entity_id for e in reopened.journal()] == [1]
    finally:
        await reopened.close()


async def test_commits_fail_instead_of_hanging_when_the_writer_process_dies(store: SqliteStore) -> None:
    assert await store.commit(batch(change(1))) == 1
    pid = store.writer_pid
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    with pytest.raises(StoreError, match="writer process has stopped"):
        for n in range(2, 10_000):  # the ones sent before the death is noticed fail too
            await asyncio.wait_for(store.commit(batch(change(n))), 10)

    assert store.writer_pid is None
    with pytest.raises(StoreError, match="writer process has stopped"):
        await store.commit(batch(change(99)))
    assert [e.entity_id for e in store.journal()] == [1]  # reads still work


async def test_a_commit_fails_as_a_store_error_when_the_pipe_to_the_writer_is_broken(store: SqliteStore) -> None:
    class BrokenPipe:
        """The writer's stdin as uvloop shows it after the writer died: writing raises."""

        def is_closing(self) -> bool:
            return False

        def write(self, data: bytes) -> None:
            raise RuntimeError("unable to perform operation on <WriteUnixTransport closed=True>")

    process = store._process
    assert process is not None
    real, process.stdin = process.stdin, BrokenPipe()  # type: ignore[assignment]
    try:
        with pytest.raises(StoreError, match="writer process has stopped"):
            store.submit(batch(change(1)))
    finally:
        process.stdin = real
    assert await store.commit(batch(change(2))) == 1  # a refused request leaves no pending future behind


async def test_one_group_lands_many_commits_sent_together(store: SqliteStore) -> None:
    seqs = await asyncio.gather(*(store.commit(batch(change(n))) for n in range(500)))

    assert seqs == list(range(1, 501))
    assert len(store.load()) == 500


async def test_each_landed_group_reports_its_commits_time_once(store: SqliteStore) -> None:
    syncs: list[float] = []
    store.on_sync = syncs.append

    for n in range(5):  # one at a time: each commit is a group of its own
        await store.commit(batch(change(n)))
    alone = list(syncs)
    await asyncio.gather(*(store.commit(batch(change(n))) for n in range(100, 400)))
    with pytest.raises(StoreError):  # a commit that fails alone reports no COMMIT of its own
        await store.commit(batch(change(2**63)))

    assert len(alone) == 5 and all(0 < seconds < 60 for seconds in alone)
    assert 1 <= len(syncs) - 5 < 300  # several commits to a group
    assert all(0 < seconds < 60 for seconds in syncs)


async def test_the_writer_process_ignores_interrupts_meant_for_the_server(store: SqliteStore) -> None:
    pid = store.writer_pid
    assert pid is not None

    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    await asyncio.sleep(0.1)

    assert await store.commit(batch(change(1))) == 1
    assert store.writer_pid == pid


async def test_migrate_sets_a_schema_3_files_applied_seq_to_its_last_seq(db_path: Path) -> None:
    from tradovate_sim.storage.transfer import migrate_database

    schema_3_file(db_path, floor=7)
    assert await migrate_database(f"sqlite:///{db_path}") == f"{db_path}: SQLite schema version 3 -> 4"
    assert ("entity_applied_through", b"7") in file_rows(db_path)[2]
