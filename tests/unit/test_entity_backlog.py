"""Journal-only commits (issue 9): a group's durable transaction holds its journal rows, and the entity table is
brought up to date behind, in batches. Whatever interleaving of commits, batches, deletes, resets, clean closes and
crashes, the current entities (the table with the unapplied journal rows folded over it) equal an independent
fold of every commit since the last reset, and the table itself equals the fold up to its applied seq."""

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradovate_sim.storage import entities
from tradovate_sim.storage.sqlite import SqliteStore
from tradovate_sim.storage.transfer import copy_database
from tradovate_sim.storage.writer import Answer, Request, Writer, frame, frames

Change = tuple[str, int, str]  # entity_type, id, eventType
Model = dict[tuple[str, int], bytes]


class Journal:
    """The independent model: commits as sent, folded by hand (a reset forgets everything before it)."""

    def __init__(self) -> None:
        self.state: Model = {}
        self.counter = 0

    def body(self, changes: list[Change]) -> bytes:
        payloads = []
        for kind, entity_id, event in changes:
            self.counter += 1
            entity = msgspec.json.encode({"id": entity_id, "n": self.counter})
            payloads.append({"entityType": kind, "eventType": event, "entity": msgspec.Raw(entity)})
            if event == "Deleted":
                self.state.pop((kind, entity_id), None)
            else:
                self.state[kind, entity_id] = entity
        return msgspec.json.encode(payloads)

    def request(self, request_id: int, changes: list[Change] | None, *, reset: bool = False) -> Request:
        if reset:
            self.state = {}
        return Request(id=request_id, changes=None if changes is None else self.body(changes), reset=reset)

    def rows(self) -> list[tuple[str, int, bytes]]:
        return sorted((kind, entity_id, body) for (kind, entity_id), body in self.state.items())


def current(path: Path) -> list[tuple[str, int, bytes]]:
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("BEGIN")
        found = sorted(entities.current(conn))
        conn.execute("COMMIT")
    conn.close()
    return found


def table_is_the_fold_through_its_applied_seq(path: Path) -> None:
    """The entity table alone equals the fold of the journal rows up to the applied seq (rows after a reset only:
    the reset emptied the table and the journal together)."""
    with sqlite3.connect(path) as conn:
        applied = entities.applied_through(conn)
        table = sorted(conn.execute("SELECT entity_type, id, body FROM entity"))
        rows = conn.execute("SELECT body FROM journal WHERE seq <= ? ORDER BY seq", (applied,))
        folded = entities.fold({}, (entities.keyed(body) for (body,) in rows))
    conn.close()
    assert table == sorted((kind, entity_id, bytes(body)) for (kind, entity_id), body in folded.items()
                           if body is not None)


def crash(writer: Writer) -> None:
    """What a killed writer leaves: its connection gone without a clean close (no batch, no checkpoint)."""
    writer.checkpointer.close()
    writer.conn.close()
    os.close(writer.lock)


# --- any interleaving, on a Writer ------------------------------------------------------------------------------

changes_ = st.lists(st.tuples(st.sampled_from(["order", "fill"]), st.integers(0, 4),
                              st.sampled_from(["Created", "Updated", "Deleted"])), min_size=1, max_size=4)
step = st.one_of(
    st.tuples(st.just("group"), st.lists(st.one_of(changes_, st.none()), min_size=1, max_size=5)),
    st.tuples(st.just("reset"), st.one_of(changes_, st.none())),
    st.tuples(st.just("materialize"), st.integers(1, 20), st.one_of(st.none(), st.integers(1, 3)),
              st.integers(1, 3)),
    st.tuples(st.just("crash")),
    st.tuples(st.just("close")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_the_current_entities_are_the_fold_of_the_journal_whatever_the_interleaving(steps: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.db"
        model, ids = Journal(), iter(range(1, 1 << 30))
        writer = Writer(str(path), "NORMAL")
        try:
            for kind, *args in steps:
                if kind == "group":
                    answers = writer.write([model.request(next(ids), changes) for changes in args[0]])
                    assert all(answer.error is None for answer in answers)
                elif kind == "reset":
                    assert writer.write([model.request(next(ids), args[0], reset=True)])[0].error is None
                elif kind == "materialize":
                    most, stop_after, floor = args
                    calls = iter(range(1, 1 << 30))
                    before = len(writer.backlog)
                    done = writer.materialize(most, None if stop_after is None else
                                              lambda: next(calls) >= stop_after, floor)  # noqa: B023
                    assert done == min(most, before, (stop_after or most) * floor)
                else:
                    crash(writer) if kind == "crash" else writer.close()
                    writer = Writer(str(path), "NORMAL")
                    if kind == "close":
                        assert not writer.backlog  # a clean close left the table current
                assert current(path) == model.rows()
                table_is_the_fold_through_its_applied_seq(path)
                with sqlite3.connect(path) as conn:  # the writer's own account of what is applied
                    assert entities.applied_through(conn) == writer.applied
                    assert [seq for seq, _ in writer.backlog] == [seq for (seq,) in conn.execute(
                        "SELECT seq FROM journal WHERE seq > ? ORDER BY seq", (writer.applied,))]
                conn.close()
        finally:
            writer.close()
        assert current(path) == model.rows()


def test_a_deleted_entity_does_not_come_back_from_an_older_row_applied_in_another_batch(tmp_path: Path) -> None:
    path, model = tmp_path / "deleted.db", Journal()
    writer = Writer(str(path), "FULL")
    try:
        writer.write([model.request(1, [("order", 1, "Created"), ("fill", 1, "Created")])])
        writer.write([model.request(2, [("order", 1, "Updated")])])
        writer.write([model.request(3, [("order", 1, "Deleted")])])
        assert writer.materialize(2) == 2  # the create and the update, not the delete
        assert current(path) == model.rows() == [("fill", 1, model.state["fill", 1])]
        crash(writer)
        writer = Writer(str(path), "FULL")
        assert [seq for seq, _ in writer.backlog] == [3]
        assert current(path) == model.rows()
    finally:
        writer.close()
    table_is_the_fold_through_its_applied_seq(path)
    assert current(path) == model.rows()


def test_the_writer_binds_its_bodies_without_sqlites_adapter_lookup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's sqlite3 looks every bound value that is not an int, float, str or bytearray up among its adapters
    (raising and clearing two AttributeErrors when there is none: 11 % of a liquidation commit's instructions).
    An adapter that refuses bytes and `Raw` shows that the writer never binds either, and the rows land as BLOBs."""

    def refuse(value: object) -> object:
        raise AssertionError(f"{type(value).__name__} went through the adapter lookup")

    path, model = tmp_path / "bound.db", Journal()
    writer = Writer(str(path), "FULL")  # (opening a file binds bytes: once)
    monkeypatch.setitem(sqlite3.adapters, (bytes, sqlite3.PrepareProtocol), refuse)
    monkeypatch.setitem(sqlite3.adapters, (msgspec.Raw, sqlite3.PrepareProtocol), refuse)
    try:
        answers = writer.write([model.request(1, [("order", 1, "Created"), ("fill", 1, "Created")]),
                                Request(id=2, changes=model.body([("order", 1, "Updated")]), meta={"seed": b"x"})])
        assert [answer.error for answer in answers] == [None, None]
        assert writer.materialize(2) == 2
    finally:
        writer.close()
    monkeypatch.undo()
    assert current(path) == model.rows()
    with sqlite3.connect(path) as conn:
        assert {row[0] for row in conn.execute("SELECT typeof(body) FROM entity UNION SELECT typeof(body) FROM journal")
                } == {"blob"}
        assert conn.execute("SELECT value FROM meta WHERE key = 'seed'").fetchone() == (b"x",)
    conn.close()


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts the bytes written through /proc/self/io")
def test_a_batch_writes_only_its_wal_frames_not_a_statement_journal_file(tmp_path: Path) -> None:
    """A multi-row upsert keeps a statement journal (the old content of every page it changes), which past 64 KiB
    spilled into a temporary file, written and unlinked every batch (28 of the 55 pwrites a liquidation at 250/s);
    with one row a statement there is none, and a batch writes its WAL frames and nothing else."""
    writer = Writer(str(tmp_path / "journal.db"), "FULL")
    writer.checkpointer.poke = lambda: None  # type: ignore[method-assign]  # nothing copied meanwhile
    try:
        def body(event: str) -> bytes:  # two entities a leaf: a 256-row statement changes 128 pages (512 KiB)
            return msgspec.json.encode([{"entityType": "order", "eventType": event,
                                         "entity": {"id": entity_id, "pad": event * 300}}
                                        for entity_id in range(1, 401)])

        writer.write([Request(id=1, changes=body("Created"))])
        assert writer.materialize(1) == 1
        writer.write([Request(id=2, changes=body("Updated"))])
        wal_before, written_before = os.stat(writer.wal_path).st_size, _written()
        assert writer.materialize(1) == 1
        wal, written = os.stat(writer.wal_path).st_size - wal_before, _written() - written_before
        assert wal > 256 * 4096
        assert written <= wal, f"{written - wal:,} bytes written besides the WAL's {wal:,}"
    finally:
        writer.close()


def _written() -> int:
    return next(int(line.split()[1]) for line in Path("/proc/self/io").read_text().splitlines()
                if line.startswith("wchar:"))


# --- a killed writer process with a backlog ----------------------------------------------------------------------

# The writer as the store starts it, with batches only when the backlog passes 5 (then down to 3): never idle
# batches, so that what is unapplied when it is killed does not depend on timing.
_WRITER = """
import sys
from tradovate_sim.storage import writer
writer.BATCH_COMMITS, writer.BACKLOG_BOUND = 2, 5
writer._waiting = lambda fd, timeout: True
sys.exit(writer.serve(sys.argv[1], "FULL"))
"""


class WriterProcess:
    def __init__(self, path: Path) -> None:
        src = str(Path(__file__).resolve().parents[2] / "src")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        self.buffer = bytearray()
        assert self.answer().id == 0

    def answer(self) -> Answer:
        assert self.process.stdout is not None
        while not (found := list(frames(self.buffer))):
            data = os.read(self.process.stdout.fileno(), 1 << 16)
            assert data, "the writer stopped"
            self.buffer += data
        (body,) = found
        return msgspec.msgpack.decode(body, type=Answer)

    def send(self, request: Request) -> Answer:
        assert self.process.stdin is not None
        self.process.stdin.write(frame(request))
        self.process.stdin.flush()
        answer = self.answer()
        assert (answer.id, answer.error) == (request.id, None)
        return answer

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def killed(tmp_path: Path) -> Iterator[tuple[Path, Journal]]:
    """A file whose writer was killed with four commits (deletes among them) after its entity table's seq, a
    reset earlier."""
    path, model = tmp_path / "killed.db", Journal()
    writer = WriterProcess(path)
    try:
        for n in range(1, 8):
            writer.send(model.request(n, [("order", n, "Created"), ("fill", n % 3, "Created")]))
        writer.send(model.request(8, [("order", 1, "Created")], reset=True))
        for n in range(9, 17):
            writer.send(model.request(n, [("order", n % 4, "Updated"), ("fill", n, "Created")]))
        writer.send(model.request(17, [("order", 2, "Deleted"), ("fill", 16, "Deleted")]))
        writer.send(model.request(18, None))  # a commit of meta only
    finally:
        writer.kill()
    yield path, model


def test_a_killed_writers_file_had_commits_its_entity_table_did_not_hold(killed: tuple[Path, Journal]) -> None:
    path, model = killed
    with sqlite3.connect(path) as conn:
        applied = entities.applied_through(conn)
        last = conn.execute("SELECT max(seq) FROM journal").fetchone()[0]
        table = sorted(conn.execute("SELECT entity_type, id, body FROM entity"))
    conn.close()
    assert (applied, last) == (13, 17)  # a batch whenever 6 are unapplied, down to 3; 4 left
    assert table != model.rows()
    assert current(path) == model.rows()


async def test_a_store_reopened_after_its_writer_was_killed_loads_the_journals_state(
        killed: tuple[Path, Journal]) -> None:
    path, model = killed
    store = SqliteStore(str(path))
    await store.open()
    try:
        assert sorted(store.load()) == model.rows()
        assert [entry.seq for entry in store.journal()][-1] == 17
    finally:
        await store.close()
    table_is_the_fold_through_its_applied_seq(path)
    with sqlite3.connect(path) as conn:
        assert entities.applied_through(conn) == 17  # a clean close applied everything
        assert sorted(conn.execute("SELECT entity_type, id, body FROM entity")) == model.rows()
    conn.close()


async def test_a_copy_of_a_killed_writers_file_holds_the_current_entities(
        killed: tuple[Path, Journal], tmp_path: Path) -> None:
    path, model = killed
    target = tmp_path / "copy.db"

    await copy_database(str(path), str(target))

    with sqlite3.connect(target) as conn:
        assert sorted(conn.execute("SELECT entity_type, id, body FROM entity")) == model.rows()
        assert entities.applied_through(conn) == 17
    conn.close()
    assert current(target) == model.rows()


async def test_a_forced_copy_over_a_killed_writers_file_is_not_overwritten_by_its_old_backlog(
        killed: tuple[Path, Journal], tmp_path: Path) -> None:
    path, _ = killed
    other, fresh = tmp_path / "other.db", Journal()
    writer = Writer(str(other), "FULL")
    writer.write([fresh.request(1, [("position", 1, "Created")])])
    writer.close()

    await copy_database(str(other), str(path), force=True)  # the target's writer found 4 unapplied commits

    assert current(path) == fresh.rows()
    with sqlite3.connect(path) as conn:
        assert sorted(conn.execute("SELECT entity_type, id, body FROM entity")) == fresh.rows()
    conn.close()
