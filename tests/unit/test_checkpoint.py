"""No commit waits for a checkpoint: the writer connection never checkpoints by itself below the WAL limit; the
checkpointer thread copies committed pages back; past the limit the WAL restarts at a quiet moment (or past the
hard limit whatever waits), so the file stays bounded."""

import os
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

from tradovate_sim.storage.writer import WAL_HARD_LIMIT_FACTOR, Request, Writer


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
        for _ in range(2_000):
            if writer.bound_wal(lambda: False):
                break
            time.sleep(0.001)
        else:
            pytest.fail("the WAL was never restarted at a quiet moment")
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
