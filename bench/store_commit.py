"""The SQLite writer's cost per commit, for liquidation-shaped commits, for each `--src` tree in one run.

Each commit is one liquidation's journal body (`bench/liquidation_commit.json`, captured from a running server: 32
changes, 31 entities, 7.3 KB), its ids renumbered per account: the entities a liquidation updates (3 working orders,
the opening fill, the position, the cash balance, the margin snapshot) are created first by one provisioning commit
per account, as placing orders would; those it creates get fresh ids. Per `--src` tree (PYTHONPATH of the writer
process; default: the installed package) and per case (1 committer: the open loop's shape, every commit alone in
its group; 16 committers: group commit), on a fresh file with `--accounts` provisioned accounts:

- the writer process's CPU per commit (user + system from /proc, its checkpointer thread included);
- bytes it wrote per commit (`wchar` from /proc/<pid>/io: WAL frames, checkpoint copies, answers), write calls
  and read calls (`syscr`: the pipe, and pages its cache missed read back from the file);
- commits per second (wall: noisy on a shared machine).

`--rate R` runs the 1-committer case as an open loop instead: one commit sent every 1/R s whatever the answers,
each one's latency measured from its scheduled send (the shape of `bench/liquidation.py --open-loop`, without the
server). `--probe` adds, per tree, the writer's own cost of lone commits measured in a process of its own (no pipe, no
checkpoints): WAL bytes per commit (the WAL's growth) and the main thread's CPU; `--callgrind` counts the
instructions per lone commit instead (valgrind: two runs of N and 2N commits, the difference over N).

    .venv/bin/python bench/store_commit.py --src /tmp/base/src --src src [--rounds 3] [--rate 250 --lone 2500]
        [--probe] [--callgrind]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from tradovate_sim.storage.sqlite import SqliteStore

TEMPLATE = Path(__file__).with_name("liquidation_commit.json")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SETTLE_SECONDS = 3.0


@dataclass
class Bodies:
    provisions: list[bytes]  # one per account: its entities a liquidation later updates, created
    liquidations: list[bytes]  # one per account


def build(accounts: int) -> Bodies:
    template: list[dict[str, Any]] = json.loads(TEMPLATE.read_bytes())
    existing: dict[tuple[str, int], dict[str, Any]] = {}
    created: set[tuple[str, int]] = set()
    for change in template:
        key = (change["entityType"], change["entity"]["id"])
        if key in created or key in existing:
            continue
        if change["eventType"] == "Created":
            created.add(key)
        else:
            existing[key] = change
    next_id: dict[str, int] = defaultdict(lambda: 1)

    def fresh(kind: str) -> int:
        next_id[kind] += 1
        return next_id[kind]

    provisions, liquidations = [], []
    for _ in range(accounts):
        ids = {key: fresh(key[0]) for key in existing}
        provisions.append(msgspec.json.encode([
            {"entityType": kind, "eventType": "Created", "entity": {**change["entity"], "id": ids[kind, old]}}
            for (kind, old), change in existing.items()]))
        ids |= {key: fresh(key[0]) for key in created}
        liquidations.append(msgspec.json.encode([
            {**change, "entity": {**change["entity"], "id": ids[change["entityType"], change["entity"]["id"]]}}
            for change in template]))
    return Bodies(provisions, liquidations)


def proc_counters(pid: int) -> tuple[float, int, int, int]:
    """(CPU seconds, bytes written, write calls, read calls) of process `pid`, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return cpu, int(io["wchar"]), int(io["syscw"]), int(io["syscr"])


@dataclass
class Case:
    commits: int
    wall: float
    cpu: float
    written: int
    writes: int
    reads: int  # read calls: the writer's pipe, and pages read back from the file (its cache missed them)
    latencies: list[float] = field(default_factory=list)  # open loop: seconds from each scheduled send to its answer

    @property
    def cpu_us(self) -> float:
        return self.cpu * 1e6 / self.commits

    @property
    def bytes(self) -> float:
        return self.written / self.commits

    @property
    def rate(self) -> float:
        return self.commits / self.wall


async def commit_all(store: SqliteStore, bodies: list[bytes], committers: int, rate: float = 0.0) -> list[float]:
    """Closed loop: `committers` each commit in turn. Open loop (`rate`, commits/s): one commit sent every 1/rate s
    whatever the answers; returns each one's latency from its scheduled send."""
    if rate:
        latencies: list[float] = []
        loop = asyncio.get_running_loop()
        start = loop.time()

        def answered(scheduled: float, _: object) -> None:
            latencies.append(loop.time() - scheduled)

        pending = []
        for index, body in enumerate(bodies):
            scheduled = start + index / rate
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            future = store.submit(body)
            future.add_done_callback(functools.partial(answered, scheduled))
            pending.append(future)
        await asyncio.gather(*pending)
        return latencies
    cursor = iter(bodies)

    async def committer() -> None:
        for body in cursor:
            await store.commit(body)

    await asyncio.gather(*(committer() for _ in range(committers)))
    return []


async def run_tree(src: str | None, directory: Path, bodies: Bodies, cases: list[tuple[int, int]],
                   rate: float = 0.0) -> list[Case]:
    """Provision every account, then each case's liquidations in turn, on one fresh file."""
    if src is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = src
    store = SqliteStore(str(directory / "store.db"))
    await store.open()
    pid = store.writer_pid
    assert pid is not None
    try:
        await asyncio.gather(*(store.submit(body) for body in bodies.provisions))
        # a writer that materializes its entity table behind the journal has the provisions' entities to write
        # still: let it, so that the cases measure their own commits (the same pause for every tree)
        await asyncio.sleep(SETTLE_SECONDS)
        results, start = [], 0
        for committers, count in cases:
            part = bodies.liquidations[start:start + count]
            start += count
            cpu0, written0, writes0, reads0 = proc_counters(pid)
            began = time.perf_counter()
            latencies = await commit_all(store, part, committers, rate if committers == 1 else 0.0)
            wall = time.perf_counter() - began
            cpu1, written1, writes1, reads1 = proc_counters(pid)
            results.append(Case(count, wall, cpu1 - cpu0, written1 - written0, writes1 - writes0, reads1 - reads0,
                                latencies))
    finally:
        await store.close()
        os.environ.pop("PYTHONPATH", None)
    return results


# --- the probe: lone commits straight into a Writer, in a process of its own ----------------------------------------

PROBE_ACCOUNTS = 2_000
PROBE_MOST = 500  # accounts provisioned for the measured commits, however many are measured (same work before)


def probe(commits: int) -> None:
    """Run `commits` lone liquidation commits on a Writer (of whatever tree PYTHONPATH names) and print JSON."""
    from tradovate_sim.storage.writer import Request, Writer

    assert commits <= PROBE_MOST
    bodies = build(PROBE_ACCOUNTS + PROBE_MOST)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "probe.db")
        writer = Writer(path, "FULL")
        writer.checkpointer.poke = lambda: None  # type: ignore[method-assign]  # the WAL only grows
        ids = iter(range(1, 1 << 30))
        group = 100
        for start in range(0, PROBE_ACCOUNTS, group):
            writer.write([Request(id=next(ids), changes=body) for body in bodies.provisions[start:start + group]])
            writer.write([Request(id=next(ids), changes=body) for body in bodies.liquidations[start:start + group]])
        for body in bodies.provisions[PROBE_ACCOUNTS:]:
            writer.write([Request(id=next(ids), changes=body)])
        # a tree with journal-only commits materializes its entity table in batches, as its writer does when idle
        materialize = getattr(writer, "materialize", None)
        batch = int(os.environ.get("PROBE_BATCH", "16"))
        while materialize is not None and writer.backlog:
            materialize(batch)
        writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal_before = os.stat(writer.wal_path).st_size
        began = time.thread_time()
        batches: list[float] = []  # each batch's CPU seconds
        for body in bodies.liquidations[PROBE_ACCOUNTS:PROBE_ACCOUNTS + commits]:
            answer = writer.write([Request(id=next(ids), changes=body)])[0]
            assert answer.error is None, answer.error
            if materialize is not None and len(writer.backlog) >= batch:
                started = time.thread_time()
                materialize(batch)
                batches.append(time.thread_time() - started)
        cpu = time.thread_time() - began
        wal = os.stat(writer.wal_path).st_size - wal_before
        writer.close()
    print(json.dumps({"commits": commits, "cpu_us": cpu * 1e6 / commits, "wal_bytes": wal / commits,
                      "batch_us": statistics.median(batches) * 1e6 if batches else 0.0,
                      "batch_max_us": max(batches) * 1e6 if batches else 0.0}))


def run_probe(src: str | None, commits: int, callgrind: bool = False) -> dict[str, float]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if src is not None:
        env["PYTHONPATH"] = src
    command = [sys.executable, __file__, "--probe-child", str(commits)]
    if callgrind:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if callgrind:
        found = re.search(r"Collected : (\d+)", done.stderr)
        assert found is not None, done.stderr[-2000:]
        result["instructions"] = int(found.group(1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", action="append", help="a source tree (PYTHONPATH) for the writer; repeat")
    parser.add_argument("--rounds", type=int, default=3, help="each tree once per round, in turn (default 3)")
    parser.add_argument("--accounts", type=int, default=4_000, help="accounts provisioned first (default 4,000)")
    parser.add_argument("--lone", type=int, default=1_000, help="commits of the 1-committer case (default 1,000)")
    parser.add_argument("--grouped", type=int, default=3_000, help="commits of the 16-committer case (3,000)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="the 1-committer case as an open loop at this many commits/s (latency from schedule)")
    parser.add_argument("--probe", action="store_true", help="also the lone-commit probe (WAL bytes, CPU)")
    parser.add_argument("--callgrind", action="store_true", help="also instructions per lone commit (valgrind)")
    parser.add_argument("--probe-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_child:
        probe(args.probe_child)
        return
    trees: list[str | None] = args.src or [None]
    cases = [(1, args.lone), (16, args.grouped)]
    bodies = build(args.accounts)
    size = len(bodies.liquidations[0])
    print(f"liquidation commits ({size:,} bytes, 32 changes), {args.accounts:,} accounts provisioned first; "
          f"load average {os.getloadavg()[0]:.1f}")
    results: dict[str | None, list[list[Case]]] = {tree: [] for tree in trees}
    for _ in range(args.rounds):
        for tree in trees:
            with tempfile.TemporaryDirectory() as tmp:
                results[tree].append(asyncio.run(run_tree(tree, Path(tmp), bodies, cases, args.rate)))
    print(f"load average {os.getloadavg()[0]:.1f}; medians of {args.rounds} rounds")
    print("| tree | committers | writer CPU µs/commit | bytes written/commit | write calls/commit | read calls/commit "
          "| commits/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for tree in trees:
        for index, (committers, _) in enumerate(cases):
            runs = [r[index] for r in results[tree]]
            print(f"| {tree or 'installed'} | {committers} | {statistics.median(c.cpu_us for c in runs):.0f} | "
                  f"{statistics.median(c.bytes for c in runs):,.0f} | "
                  f"{statistics.median(c.writes / c.commits for c in runs):.1f} | "
                  f"{statistics.median(c.reads / c.commits for c in runs):.1f} | "
                  f"{statistics.median(c.rate for c in runs):,.0f} |")
    if args.rate:
        print(f"\nthe 1-committer case offered at {args.rate:g} commits/s: latency from each scheduled send, ms "
              "(each round's p50 / p99 / max)")
        for tree in trees:
            rounds = [sorted(r[0].latencies) for r in results[tree]]
            print(f"| {tree or 'installed'} | " + " | ".join(
                f"{1e3 * lat[len(lat) // 2]:.2f} / {1e3 * lat[int(len(lat) * 0.99)]:.2f} / {1e3 * lat[-1]:.2f}"
                for lat in rounds) + " |")
    if args.probe:
        print("\nprobe, lone commits on a Writer in a process of its own (no checkpoints):")
        print("| tree | WAL bytes/commit | main-thread CPU µs/commit | one batch's CPU µs (median, max) |")
        print("|---|---:|---:|---:|")
        for tree in trees:
            found = [run_probe(tree, 500) for _ in range(args.rounds)]
            print(f"| {tree or 'installed'} | {statistics.median(f['wal_bytes'] for f in found):,.0f} | "
                  f"{statistics.median(f['cpu_us'] for f in found):.0f} | "
                  f"{statistics.median(f['batch_us'] for f in found):.0f}, "
                  f"{max(f['batch_max_us'] for f in found):.0f} |")
    if args.callgrind:
        print("\ncallgrind, instructions per lone commit ((run of 2N - run of N) / N, N = 200):")
        for tree in trees:
            one, two = run_probe(tree, 200, callgrind=True), run_probe(tree, 400, callgrind=True)
            print(f"| {tree or 'installed'} | {(two['instructions'] - one['instructions']) / 200:,.0f} |")


if __name__ == "__main__":
    main()
