"""Copying the SQLite writer's WAL back into the database file off the commit path, and keeping the WAL bounded.

No commit waits for a checkpoint. SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold
and copies the whole WAL back into the database file and fsyncs it: every request waiting for that group waited
for it too, a pause as long as the disk takes. The writer's connection never checkpoints by itself; a
`Checkpointer` thread copies committed pages back on a connection of its own (PASSIVE: it never blocks the writer)
as soon as `PASS_FRAMES` frames wait, or `CHECKPOINT_INTERVAL` after its last pass for fewer. Short passes: a
group's `fdatasync` that lands beside a pass's `fsync` of the database file waits for the disk to write what the pass
copied, so the less each pass copies, the shorter that wait (at 1,000 liquidations/s, a pass every 100 ms copies
about 1,400 frames; bench/RESULTS.md, session 10, has the runs).

Nor does an answer wait for the WAL's restart. SQLite starts the WAL afresh only at a transaction that begins when
every frame is copied back; under steady load a pass never ends before the next group begins, so the WAL grows
until the writer restarts it itself (`Writer.bound_wal`): past `WAL_LIMIT_BYTES` it copies the frames left and
syncs the database file at a moment when no request waits and the last group's answers are out, and the next
transaction restarts the WAL. That copy holds every request that arrives meanwhile, so it must be short: a copy
made right after an ordinary pass had the frames of the whole pass to copy (session 9: passes every 100 ms took
50-90 ms at 1,000 liquidations/s on a slow virtio disk, about 700-1,300 frames) and held requests for 50-100 ms.
So past the limit the writer first hurries the checkpointer, which then runs passes back to back, each copying what
was appended during the one before, until no more than `FINAL_COPY_FRAMES` are left; the writer copies only then
(`WalIndex` reads how many frames are left). Past `WAL_HARD_LIMIT_FACTOR` times the limit (the passes never got
there, or no quiet moment came) the writer waits for the pass in flight and copies whatever waits.
"""

import contextlib
import os
import sqlite3
import struct
import threading

from tradovate_sim.storage.sqlite_schema import connect

__all__ = ["CHECKPOINT_INTERVAL", "FINAL_COPY_FRAMES", "PASS_FRAMES", "WAL_HARD_LIMIT_FACTOR", "WAL_LIMIT_BYTES",
           "Checkpointer", "WalIndex"]

CHECKPOINT_INTERVAL = 0.1  # seconds between two background checkpoints while commits land, at most
PASS_FRAMES = 400  # ... or fewer, a pass as soon as this many frames wait (every ~30 ms at 1,000 liquidations/s)
WAL_LIMIT_BYTES = 64 << 20  # a WAL past this is restarted at the next quiet moment (and truncated to it after)
WAL_HARD_LIMIT_FACTOR = 2  # past this many times the limit, restarted after the next group whatever waits
FINAL_COPY_FRAMES = 128  # the writer makes the restart's copy only when at most this many frames are left


class WalIndex:
    """How many frames of a database's WAL are not yet copied back, read from its WAL index (the `-shm` file, in
    SQLite's documented layout: the header's `mxFrame`, the last valid frame, at byte 16; the checkpoint record's
    `nBackfill`, the last frame copied back, at byte 96; both 32-bit, in the machine's byte order). Read without a
    lock: a count to decide when to copy, never the copy's own bound (the checkpoint reads the index properly)."""

    _COUNTERS = struct.Struct("=16xI76xI")  # mxFrame at 16, nBackfill at 96

    def __init__(self, path: str) -> None:
        self.fd = os.open(path + "-shm", os.O_RDONLY)  # the write connection keeps it (WAL mode, shared memory)

    def left(self) -> int:
        data = os.pread(self.fd, self._COUNTERS.size, 0)
        if len(data) < self._COUNTERS.size:
            return 0
        frames, copied = self._COUNTERS.unpack(data)
        return max(int(frames) - int(copied), 0)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Checkpointer:
    """Copies committed WAL pages back into the database file on its own connection and thread, so that no commit
    waits for a checkpoint: after the writer's pokes (one after each group), a pass once `frames` are waiting, or at
    the end of `interval` for fewer. PASSIVE checkpoints neither take the write lock nor wait for readers. Hurried
    (`hurry()`), it runs passes back to back until a pass leaves at most `final` frames (the writer's short copy
    then restarts the WAL)."""

    def __init__(self, path: str, synchronous: str, *, interval: float = CHECKPOINT_INTERVAL,
                 frames: int = PASS_FRAMES, final: int = FINAL_COPY_FRAMES) -> None:
        self.interval = interval
        self.frames = frames
        self.final = final
        self.conn = connect(path)
        self.conn.execute(f"PRAGMA synchronous = {synchronous}")
        self.index = WalIndex(path)
        self.wanted = threading.Event()  # a group landed since the last pass
        self.early = threading.Event()  # the next pass should not wait for the end of the interval
        self.hurried = threading.Event()  # ... and passes should follow until few frames are left
        self.idle = threading.Event()
        self.idle.set()
        self.stopping = False
        self.passes = 0  # checkpoints run (for tests and operators)
        self.thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self.thread.start()

    def poke(self) -> None:
        """A group landed: a pass at the end of the interval, or as soon as `frames` are waiting (counted only
        between passes: during one, the count still holds the frames it is copying)."""
        self.wanted.set()
        if self.idle.is_set() and not self.early.is_set() and self.index.left() >= self.frames:
            self.early.set()

    def hurry(self) -> None:
        """Passes now and back to back until at most `final` frames are left."""
        self.hurried.set()
        self.early.set()
        self.wanted.set()

    def _run(self) -> None:
        while True:
            self.wanted.wait()
            if self.stopping:
                return
            self.idle.clear()
            self.wanted.clear()
            rushing = self.hurried.is_set()
            self.hurried.clear()
            try:
                # (busy or failing disk: the writer's own checkpoint past the hard limit still bounds the WAL)
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.passes += 1
                # what the pass left may still be too much for the writer's copy: then one more
                again = rushing and self.index.left() > self.final
                if not again:
                    # pokes and hurries during the pass counted the frames it was copying: the next poke counts
                    # again (cleared before `idle` is set, so that a poke made once it is set is not lost)
                    self.hurried.clear()
                    self.early.clear()
            finally:
                self.idle.set()
            if again:
                self.hurry()
                continue
            self.early.wait(self.interval)

    def wait_idle(self) -> None:
        self.idle.wait()

    def close(self) -> None:
        self.stopping = True
        self.wanted.set()
        self.early.set()  # (out of the wait between two passes at once)
        self.thread.join()
        self.conn.close()
        self.index.close()

