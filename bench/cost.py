"""The cost of one request, measured by mechanism rather than wall time (issue 9, point 3).

On a shared machine wall-clock rates are noise; the CPU a request costs is not (much). This script starts one
server per `--src` variant (default: the installed package), provisions accounts as `bench/liquidation.py` does, and
in each round measures, per request, for `GET auth/me`, `POST order/placeorder` (the provisioning: 1 market + 3
resting orders per account) and `POST order/liquidateposition`:

- CPU (user + system, from /proc) of the server process and, separately, of its writer process;
- commits answered by the writer (`/metrics`), garbage collections, voluntary context switches of the server;
- with `--strace`, system calls of the server process per liquidation (strace -c, one extra round);
- with `--callgrind`, instructions executed by the server process per request instead (valgrind's callgrind,
  instrumenting only while each phase runs; the writer process runs natively and its CPU is still reported):
  exact counts that other work on the machine does not change, at 20 to 50 times the CPU;
- with `--cprofile`, the server's event-loop thread under cProfile during one extra liquidation round (switched on
  and off by signal, `bench/profiled.py`), the top functions by own and inclusive time and their call counts.

Variants run in turn inside each round (A, B, A, B ...), so they share the machine's state; the medians over rounds
and the ratios B/A are printed. Run:

    .venv/bin/python bench/cost.py [--rounds 3] [--accounts 1000] [--src /tmp/base/src --src src] [--strace] [--keep]
"""

import argparse
import asyncio
import contextlib
import cProfile  # noqa: F401  (documents the dependency of --cprofile; the server side imports it)
import os
import pstats
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import Server, machine, process_cpu_seconds
from liquidation import (
    ADMIN_PASSWORD,
    Bench,
    Request,
    book_requests,
    create_accounts,
    liquidate,
    require_success,
    set_up,
    verify_flat,
)

PROFILED = Path(__file__).with_name("profiled.py")


@dataclass
class Sample:
    """Counters of the server and its writer at one moment."""

    server_cpu: float
    writer_cpu: float
    switches: int
    metrics: dict[str, float]


async def provision(bench: Bench, count: int) -> list[int]:
    """`liquidation.provision`, with fresh connections after the accounts are made: a slow server (callgrind)
    takes longer than uvicorn's 5-s keep-alive to create them, and the idle connections would be closed."""
    accounts = await create_accounts(bench, count)
    bench.close()
    await bench.connect()
    require_success(await bench.drive([r for a in accounts for r in book_requests(a)], bench.trader), "placeorder")
    return accounts


def proc_cpu(pid: int) -> float:
    return process_cpu_seconds([pid])


def voluntary_switches(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^voluntary_ctxt_switches:\s+(\d+)", text, re.M)
    return int(found.group(1)) if found else 0


METRIC = re.compile(r"^(tradovate_sim_(?:commits_total|gc_collections_total)(?:\{[^}]*\})?) ([0-9.e+-]+)$", re.M)


async def sample(variant: "Variant") -> Sample:
    status, raw = await variant.bench.connections[0].request("GET", "/metrics")
    metrics = {m.group(1): float(m.group(2)) for m in METRIC.finditer(raw.decode())} if status == 200 else {}
    server = variant.bench.server
    writers = server.children()
    return Sample(server_cpu=proc_cpu(server.pid), writer_cpu=sum(proc_cpu(p) for p in writers),
                  switches=voluntary_switches(server.pid), metrics=metrics)


@dataclass
class Cost:
    """Per request: CPU µs of the server and of the writer, commits, collections, context switches; instructions
    of the server (callgrind) when counted."""

    server_us: float
    writer_us: float
    commits: float
    collections: float
    switches: float
    instructions: float = 0.0  # net of the idle server's background work
    gross: float = 0.0  # everything counted during the phase


def cost(before: Sample, after: Sample, requests: int) -> Cost:
    def delta(prefix: str) -> float:
        return sum(v - before.metrics.get(k, 0.0) for k, v in after.metrics.items() if k.startswith(prefix))
    return Cost(server_us=(after.server_cpu - before.server_cpu) * 1e6 / requests,
                writer_us=(after.writer_cpu - before.writer_cpu) * 1e6 / requests,
                commits=delta('tradovate_sim_commits_total{outcome="landed"}') / requests,
                collections=delta("tradovate_sim_gc_collections_total") / requests,
                switches=(after.switches - before.switches) / requests)


@dataclass
class Variant:
    name: str
    src: str | None
    bench: Bench
    callgrind: bool = False
    costs: dict[str, list[Cost]] = field(default_factory=dict)
    dumps: int = 0
    background: float = 0.0  # instructions per second of an idle server
    instrumented: float = 0.0  # when counting started
    window: float = 0.0  # seconds counted last

    def instrument(self, on: bool) -> None:
        """callgrind: zero the counters and count from now on; or dump what was counted and stop counting."""
        if not self.callgrind:
            return
        pid = str(self.bench.server.pid)
        if on:
            subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
            self.instrumented = time.perf_counter()
        else:
            self.window = time.perf_counter() - self.instrumented
            subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
            self.dumps += 1

    def counted(self) -> float:
        """Instructions of the last dump."""
        if not self.callgrind:
            return 0.0
        pattern = f"*.cg.{self.bench.server.pid}.{self.dumps}"
        found = sorted(Path(self.bench.server.log_path.parent).glob(pattern))
        for line in found[-1].read_text().splitlines() if found else []:
            if line.startswith(("summary:", "totals:")):
                return float(line.split()[1])
        return 0.0


async def start(name: str, src: str | None, clients: int, directory: Path, *, profiled: bool,
                callgrind: bool) -> Variant:
    server = Server(directory, db_name=f"{name.replace('/', '_')}.db", admin_password=ADMIN_PASSWORD)
    if profiled:
        server.command[1:3] = [str(PROFILED), str(directory / f"{name.replace('/', '_')}.prof")]
    if callgrind:
        server.command[:0] = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                              f"--callgrind-out-file={directory}/{name.replace('/', '_')}.cg.%p"]
    old = os.environ.get("PYTHONPATH")
    if src is not None:
        os.environ["PYTHONPATH"] = src
    try:
        server.start(timeout=900.0 if callgrind else 60.0)
    finally:
        if src is not None:
            os.environ.pop("PYTHONPATH")
            if old is not None:
                os.environ["PYTHONPATH"] = old
    bench = Bench(server=server, clients=clients)
    await bench.connect()
    await set_up(bench)
    warm = await provision(bench, 50 if callgrind else 200)
    await liquidate(bench, warm)
    me = [Request("GET", "/v1/auth/me")] * (200 if callgrind else 2000)
    require_success(await bench.drive(me, bench.trader), "warm-up")
    return Variant(name=name, src=src, bench=bench, callgrind=callgrind)


IDLE = 5.0  # seconds of an idle server measured for its background work (timers: sweeps, probes)


async def measure(variant: Variant, args: argparse.Namespace) -> None:
    bench = variant.bench
    if variant.callgrind:  # the background's instructions per second, to take out of each phase's count
        variant.instrument(True)
        started = time.perf_counter()
        await asyncio.sleep(IDLE)
        variant.instrument(False)
        variant.background = variant.counted() / (time.perf_counter() - started)
        variant.costs.setdefault("idle (background work per second)", []).append(
            Cost(0.0, 0.0, 0.0, 0.0, 0.0, instructions=variant.background))
    bench.close()  # fresh connections: uvicorn closes those idle for 5 s
    await bench.connect()
    me = [Request("GET", "/v1/auth/me")] * args.me_requests
    variant.instrument(True)
    before = await sample(variant)
    require_success(await bench.drive(me, bench.trader), "auth/me")
    after = await sample(variant)
    variant.instrument(False)
    record(variant, "GET auth/me", cost(before, after, len(me) + 1), len(me) + 1)
    variant.instrument(True)
    before = await sample(variant)
    accounts = await provision(bench, args.accounts)
    after = await sample(variant)
    variant.instrument(False)
    # provisioning: createEvaluationAccounts (1 per 100 accounts) and 4 placeorder per account
    count = 4 * len(accounts) + 1
    record(variant, "POST placeorder (and account creation)", cost(before, after, count), count)
    bench.close()
    await bench.connect()
    variant.instrument(True)
    before = await sample(variant)
    await liquidate(bench, accounts)
    after = await sample(variant)
    variant.instrument(False)
    record(variant, "POST liquidateposition", cost(before, after, len(accounts) + 1), len(accounts) + 1)
    await verify_flat(bench, accounts)


def record(variant: Variant, request: str, measured: Cost, requests: int) -> None:
    """Keep a phase's cost (with the instructions counted over it, when callgrind counts; the /metrics scrapes
    around the phase are counted too: one request each)."""
    if variant.callgrind:  # net of the background work (timers) that ran meanwhile
        counted = variant.counted()
        measured.gross = counted / requests
        measured.instructions = (counted - variant.background * variant.window) / requests
    variant.costs.setdefault(request, []).append(measured)


async def strace_round(variant: Variant, accounts_count: int) -> list[str]:
    bench = variant.bench
    bench.close()
    await bench.connect()
    accounts = await provision(bench, accounts_count)
    directory = Path(tempfile.mkdtemp(prefix="cost-strace-"))
    pids = {"server": bench.server.pid} | {f"writer {pid}": pid for pid in bench.server.children()}
    tracers = {}
    for name, pid in pids.items():
        command = ["strace", "-c", "-f", "-o", str(directory / f"{pid}.txt"), "-p", str(pid)]
        tracers[name] = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # noqa: ASYNC220 (a benchmark)
    await asyncio.sleep(1.0)
    await liquidate(bench, accounts)
    for tracer in tracers.values():
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    await verify_flat(bench, accounts)
    lines = [f"strace -c -f over {len(accounts)} liquidations: system calls per liquidation (at least 0.05)", "",
             "| process | syscall | calls per liquidation |", "|---|---|---:|"]
    for name, pid in pids.items():
        for line in (directory / f"{pid}.txt").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                calls = int(parts[3])
                if calls >= len(accounts) / 20:
                    lines.append(f"| {name} | {parts[-1]} | {calls / len(accounts):.2f} |")
    return lines


async def profile_round(variant: Variant, accounts_count: int, top: int) -> list[str]:
    bench = variant.bench
    bench.close()
    await bench.connect()
    accounts = await provision(bench, accounts_count)
    os.kill(bench.server.pid, signal.SIGUSR1)
    await asyncio.sleep(0.2)
    await liquidate(bench, accounts)
    os.kill(bench.server.pid, signal.SIGUSR2)
    path = Path(bench.server.command[2])
    for _ in range(100):
        await asyncio.sleep(0.1)
        if path.exists() and path.stat().st_size:  # noqa: ASYNC240 (a benchmark)
            break
    await asyncio.sleep(0.3)
    await verify_flat(bench, accounts)
    kept = Path(tempfile.gettempdir()) / f"cost-{os.getpid()}-{path.name}"
    shutil.copy(path, kept)
    stats = pstats.Stats(str(kept))
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values())
    n = len(accounts)

    def name(key: tuple[str, int, str]) -> str:
        file, line, function = key
        for marker in ("site-packages/", "lib/python3.11/", "src/"):
            if marker in file:
                file = file.split(marker, 1)[1]
        return f"{function} ({file}:{line})" if file != "~" else function

    lines = [f"cProfile of the server's event-loop thread over {n} liquidations (cProfile inflates call-heavy code: "
             f"read the shares and call counts, not the times; stats kept in {kept})", "",
             "| own % | cumulative % | calls per liquidation | function |", "|---:|---:|---:|---|"]
    for key, (_, calls, own, cumulative, _) in sorted(entries.items(), key=lambda kv: -kv[1][2])[:top]:
        lines.append(f"| {own / total:.1%} | {cumulative / total:.1%} | {calls / n:.1f} | `{name(key)}` |")
    ours = sorted(((k, v) for k, v in entries.items() if "tradovate_sim" in k[0]), key=lambda kv: -kv[1][3])
    lines += ["", "| cumulative % | calls per liquidation | function (ours) |", "|---:|---:|---|"]
    lines += [f"| {v[3] / total:.1%} | {v[1] / n:.1f} | `{name(k)}` |" for k, v in ours[:top]]
    return lines


def table(variants: list[Variant]) -> list[str]:
    def med(v: Variant, request: str, attribute: str) -> float:
        return statistics.median(getattr(c, attribute) for c in v.costs[request])

    lines = ["| variant | request | server CPU µs | writer CPU µs | commits | GC collections | voluntary switches | "
             "server instructions (callgrind: net, gross) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for variant in variants:
        for request, costs in variant.costs.items():
            spread = f" ({min(c.server_us for c in costs):.0f}-{max(c.server_us for c in costs):.0f})"
            lines.append(f"| {variant.name} | {request} | {med(variant, request, 'server_us'):.0f}{spread} | "
                         f"{med(variant, request, 'writer_us'):.0f} | {med(variant, request, 'commits'):.3f} | "
                         f"{med(variant, request, 'collections'):.4f} | {med(variant, request, 'switches'):.2f} | "
                         f"{med(variant, request, 'instructions') / 1e6:.3f} M, "
                         f"{med(variant, request, 'gross') / 1e6:.3f} M |")
    if len(variants) > 1:
        base = variants[0]
        lines += ["", f"| ratio to {base.name} | request | server CPU | writer CPU | server + writer | "
                  "server instructions (net, gross) |", "|---|---|---:|---:|---:|---:|"]
        for variant in variants[1:]:
            for request in variant.costs:
                s0, w0 = med(base, request, "server_us"), med(base, request, "writer_us")
                s1, w1 = med(variant, request, "server_us"), med(variant, request, "writer_us")
                i0, i1 = med(base, request, "instructions"), med(variant, request, "instructions")
                g0, g1 = med(base, request, "gross"), med(variant, request, "gross")
                lines.append(f"| {variant.name} | {request} | {s1 / s0 if s0 else 0:.2f} | "
                             f"{w1 / w0 if w0 else 0:.2f} | {(s1 + w1) / (s0 + w0) if s0 + w0 else 0:.2f} | "
                             f"{i1 / i0 if i0 else 0:.3f}, {g1 / g0 if g0 else 0:.3f} |")
    return lines


async def run(args: argparse.Namespace) -> list[str]:
    directory = Path(tempfile.mkdtemp(prefix="cost-bench-"))
    sources = args.src or [None]
    variants: list[Variant] = []
    try:
        for index, src in enumerate(sources):
            label = src or "installed"
            variants.append(await start(f"{index}:{label}", src, args.clients, directory, profiled=args.cprofile,
                                        callgrind=args.callgrind))
        for round_number in range(1, args.rounds + 1):
            for variant in variants:
                await measure(variant, args)
            print(f"round {round_number} done ({os.getloadavg()[0]:.1f} load)", flush=True)
        report = [f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f}; "
                  f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.rounds} rounds of "
                  f"{args.me_requests} auth/me, {args.accounts} accounts provisioned and liquidated from "
                  f"{args.clients} clients; median per request (server CPU: min-max over rounds).", "",
                  *table(variants)]
        print("\n".join(report), flush=True)
        if args.strace and shutil.which("strace"):
            for variant in variants:
                report += ["", f"{variant.name}: ", *await strace_round(variant, args.accounts)]
        if args.cprofile:
            for variant in variants:
                report += ["", f"{variant.name}: ", *await profile_round(variant, args.accounts, args.top)]
        return report
    finally:
        for variant in variants:
            variant.bench.close()
            variant.bench.server.stop()
        if args.keep:
            print(f"kept {directory} (server logs, callgrind dumps: callgrind_annotate <dump>)", flush=True)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--me-requests", type=int, default=5000)
    parser.add_argument("--src", action="append", help="a source tree (PYTHONPATH) to run the server from; repeat")
    parser.add_argument("--strace", action="store_true", help="one more round under strace -c (syscalls)")
    parser.add_argument("--callgrind", action="store_true", help="count the server's instructions (valgrind)")
    parser.add_argument("--cprofile", action="store_true", help="one more round under cProfile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the working directory (callgrind's dumps)")
    args = parser.parse_args()
    runner = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        runner = uvloop.run
    report = runner(run(args))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
