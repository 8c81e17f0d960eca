"""No commit waits for a checkpoint: the writer connection never checkpoints by itself below the WAL limit; the
checkpointer thread copies committed pages back; past the limit the WAL restarts at a quiet moment (or past the
hard limit whatever waits), so the file stays bounded."""

import os
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

from tradovate_sim.storage.checkpoint import WAL_HARD_LIMIT_FACTOR
from tradovate_sim.storage.writer import Request, Writer


def big_commit(request_id: int, entity_id: int, size: int = 16_000) -> Request:
    """One commit of one entity with a body of about `size` bytes (several database pages)."""
    body = [{"entityType": "order", "eventType": "Created", "entity": {"id": entity_id, "text": "x" * size}}]
    return Request(id=request_id, changes=msgspec.json.encode(body))


def page_count(db: Path) -> int:
    """Pages in the main database file itself (what was checkpointed), not counting the WAL."""
    return os.path.getsize(db) // 4096


def test_the_write_connection_never_checkpoints_by_itself(tmp_path: Path) -> None:
    writer = Writer(str(tmp_path / "a.db"), "FULL")
    try:
        assert writer.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    finally:
        writer.close()


def test_the_checkpointer_copies_committed_pages_back_into_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    writer = Writer(str(db), "FULL", checkpoint_interval=0.0)  # a checkpoint after every group
    try:
        before = page_count(db)
        for n in range(1, 41):
            writer.write([big_commit(n, n)])
        writer.checkpointer.wait_idle()
        # Assert: about 40 x 4 pages reached the main file, and only the checkpointer copies below the limit
        assert writer.checkpointer.passes >= 1
        assert page_count(db) - before >= 100
        assert writer.materialize(100) == 40
        rows = sqlite3.connect(db).execute("SELECT count(*) FROM entity").fetchone()[0]
        assert rows == 40
    finally:
        writer.close()


def wal_size(db: Path) -> int:
    return os.path.getsize(str(db) + "-wal")


def test_the_wal_stays_bounded_when_the_checkpointer_falls_behind(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    limit = 1 << 20
    writer = Writer(str(db), "NORMAL", wal_limit=limit)
    writer.checkpointer.poke = lambda: None  # type: ignore[method-assign]  # a checkpointer that never keeps up
    writer.checkpointer.hurry = lambda: None  # type: ignore[method-assign]
    try:
        largest = 0
        for n in range(1, 301):  # about 5 MB of commits, five times the limit; never a quiet moment
            writer.write([big_commit(n, n)])
            writer.bound_wal(lambda: True)
            largest = max(largest, wal_size(db))
        # Assert: never more than the hard limit plus the pages of the commits between two looks (32 groups)
        assert writer.restarts >= 2
        assert largest < limit * WAL_HARD_LIMIT_FACTOR + (1 << 20), largest
        assert writer.materialize(1_000) == 300
        assert sqlite3.connect(db).execute("SELECT count(*) FROM entity").fetchone()[0] == 300
    finally:
        writer.close()


def test_past_the_limit_the_wal_restarts_at_a_quiet_moment_and_not_while_a_request_waits(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    limit = 1 << 20
    writer = Writer(str(db), "NORMAL", wal_limit=limit)
    try:
        n = 0
        while wal_size(db) <= limit or not writer.wal_over:  # a request always waiting: past the limit
            n += 1
            writer.write([big_commit(n, n, size=4_000)])
            assert not writer.bound_wal(lambda: True)
        for _ in range(40):  # about 0.3 MB more, below the hard limit: still no copy while a request waits
            n += 1
            writer.write([big_commit(n, n, size=4_000)])
            assert not writer.bound_wal(lambda: True)
        assert writer.wal_over and writer.restarts == 0
        # Act: quiet moments (the checkpointer is hurried, then the writer copies what its pass left)
        deadline = time.monotonic() + 30  # (the hurried passes sync the file: slow on a busy disk)
        while not writer.bound_wal(lambda: False):
            if time.monotonic() > deadline:
                pytest.fail("the WAL was never restarted at a quiet moment")
            time.sleep(0.001)
        n += 1
        writer.write([big_commit(n, n, size=4_000)])
        # Assert: that transaction started the WAL afresh (its frames alone), and the file was truncated to the limit
        frames = writer.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
        assert 0 < frames <= 8, frames
        assert wal_size(db) <= limit
        assert writer.restarts == 1 and not writer.wal_over
        assert writer.materialize(1_000) == n
    finally:
        writer.close()


def test_what_was_committed_survives_a_writer_closed_mid_copy(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    writer = Writer(str(db), "FULL")
    for n in range(1, 21):
        writer.write([big_commit(n, n)])
    writer.close()
    reopened = Writer(str(db), "FULL")
    try:
        assert reopened.seq == 20
        assert reopened.conn.execute("SELECT count(*) FROM entity").fetchone()[0] == 20
    finally:
        reopened.close()


def test_the_wal_index_counts_the_frames_not_yet_copied_back(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    writer = Writer(str(db), "NORMAL")
    writer.checkpointer.poke = lambda: None  # type: ignore[method-assign]  # nothing copied back meanwhile
    try:
        for n in range(1, 21):
            writer.write([big_commit(n, n)])
        # Assert: every frame of this first WAL cycle is left (a frame is a 24-byte header and a 4 KiB page)
        framed = (wal_size(db) - 32) // (24 + 4096)
        assert writer.checkpointer.index.left() == framed > 20 * 4
        # Act: a checkpoint on another connection copies them all
        with sqlite3.connect(db) as other:
            assert other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone() == (0, framed, framed)
        # Assert
        assert writer.checkpointer.index.left() == 0
    finally:
        writer.close()


def test_a_hurried_checkpointer_runs_passes_back_to_back_until_few_frames_are_left(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    writer = Writer(str(db), "NORMAL", checkpoint_interval=30.0, final_copy_frames=128)
    checkpointer = writer.checkpointer
    try:
        checkpointer.wait_idle()
        left = iter([900, 400, 129, 40])  # what each pass leaves (as if commits landed during it), then none
        checkpointer.index.left = lambda: next(left, 0)  # type: ignore[method-assign]
        before = checkpointer.passes
        # Act
        checkpointer.hurry()
        deadline = time.monotonic() + 10
        while checkpointer.passes - before < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.2)  # (a fifth pass would have begun by now: the interval is 30 s)
        checkpointer.wait_idle()
        # Assert: one pass more for each count over 128, then none until the interval is up
        assert checkpointer.passes - before == 4
    finally:
        writer.close()


def test_past_the_limit_the_writer_copies_only_once_the_checkpointer_left_few_frames(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    limit = 1 << 20
    writer = Writer(str(db), "NORMAL", wal_limit=limit, final_copy_frames=16)
    checkpointer = writer.checkpointer
    hurried: list[bool] = []
    hurry = checkpointer.hurry
    checkpointer.poke = lambda: None  # type: ignore[method-assign]  # no pass unless the test runs one
    checkpointer.hurry = lambda: hurried.append(True)  # type: ignore[method-assign]
    try:
        n = 0
        while not writer.wal_over:
            n += 1
            writer.write([big_commit(n, n, size=4_000)])
            writer.bound_wal(lambda: True)
        # Act: a quiet moment with every frame of the WAL left to copy
        copied = writer.bound_wal(lambda: False)
        # Assert: no copy (it would hold every request arriving meanwhile); the checkpointer was hurried instead
        assert not copied and hurried and writer.restarts == 0
        assert checkpointer.index.left() > 16
        # Act: the hurried passes leave nothing; a quiet moment follows
        hurry()
        deadline = time.monotonic() + 10
        while checkpointer.index.left() > 16 and time.monotonic() < deadline:
            time.sleep(0.005)
        checkpointer.wait_idle()
        copied = writer.bound_wal(lambda: False)
        n += 1
        writer.write([big_commit(n, n, size=4_000)])
        # Assert: the writer made the restart's copy, and the next transaction started the WAL afresh
        assert copied and writer.restarts == 1 and not writer.wal_over
        assert 0 < checkpointer.index.left() <= 8
        assert writer.materialize(1_000) == n
    finally:
        writer.close()


def test_a_pass_runs_as_soon_as_enough_frames_wait_and_not_before_the_interval_for_fewer(tmp_path: Path) -> None:
    db = tmp_path / "i.db"
    writer = Writer(str(db), "NORMAL", checkpoint_interval=30.0)
    checkpointer = writer.checkpointer
    checkpointer.frames = 40
    try:
        writer.write([big_commit(1, 1)])  # the first pass (the interval has not begun): then 30 s to the next
        deadline = time.monotonic() + 10
        while checkpointer.passes < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        checkpointer.wait_idle()
        # Act: fewer frames than `frames` (a commit is about 5 pages)
        for n in range(2, 5):
            writer.write([big_commit(n, n)])
        time.sleep(0.2)
        # Assert: no pass for them before the interval is up
        assert checkpointer.passes == 1 and 0 < checkpointer.index.left() < 40
        # Act: enough frames, in one group (commits landing during a pass are counted at the next group's poke)
        writer.write([big_commit(n, n) for n in range(5, 15)])
        deadline = time.monotonic() + 10
        while checkpointer.index.left() and time.monotonic() < deadline:
            time.sleep(0.005)
        # Assert: a pass came at once and copied them
        assert checkpointer.passes >= 2 and checkpointer.index.left() == 0
    finally:
        writer.close()
