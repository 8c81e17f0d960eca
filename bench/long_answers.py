"""How long the server's event loop is held while it makes a long answer (issue 9: no pauses under load).

A risk desk lists an organization's orders, or opens its console (`user/syncrequest` of every account), while its
traders trade: every other request waits behind whatever step of the event loop runs. This script provisions
`--accounts` accounts as `bench/liquidation.py` does (each a 1-lot position and 3 working orders), then asks as the
admin, `--rounds` times each, for `position/list`, `order/list`, `executionReport/list` over REST and for the
`user/syncrequest` snapshot over a WebSocket (permessage-deflate on, as clients negotiate it), and reports per
request: its time to the last byte, the size of the answer, and the longest the loop was held meanwhile, twice:

- probe: a separate process sends `GET auth/me` every 2 ms on a connection of its own and records its worst
  answer time during the request (the longest the loop did not answer, plus one request's own time);
- lag: the server's own 10-ms lag probe (`tradovate_sim_event_loop_lag_seconds`, `/metrics`): wakes later than
  10 and 50 ms during the request, and the histogram bucket of the worst.

Run one tree, then another through `PYTHONPATH` (both server and client come from it), on a quiet machine:

    .venv/bin/python bench/long_answers.py [--accounts 5000] [--rounds 3] [--results bench/RESULTS.md]
"""

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

from harness import Connection, Server, machine, replace_block
from liquidation import ADMIN_PASSWORD, Bench, pause_counters, pauses_between, provision, set_up
from websockets.asyncio.client import connect

PROBE_INTERVAL = 0.002
REQUESTS = ("/v1/position/list", "/v1/order/list", "/v1/executionReport/list", "user/syncrequest")
MARK = "<!-- bench/long_answers.py: {} -->"


def probe(port: int, token: str, control: Pipe) -> None:
    """In a process of its own: `auth/me` every 2 ms; on each message, answers the worst time since the last."""
    async def run() -> None:
        connection = await Connection.open("127.0.0.1", port)
        worst = 0.0
        while True:
            if control.poll():
                if control.recv() is None:
                    return
                control.send(worst)
                worst = 0.0
            started = time.perf_counter()
            await connection.request("GET", "/v1/auth/me", None, token)
            worst = max(worst, time.perf_counter() - started)
            await asyncio.sleep(PROBE_INTERVAL)
    asyncio.run(run())


async def snapshot(port: int, token: str) -> int:
    async with connect(f"ws://127.0.0.1:{port}/v1/websocket", max_size=None, ping_interval=None) as socket:
        assert await socket.recv() == "o"
        await socket.send(f"authorize\n0\n\n{token}")
        assert '"s":200' in str(await socket.recv())
        await socket.send('user/syncrequest\n1\n\n{"splitResponses": false}')
        while True:
            frame = str(await socket.recv())
            if frame.startswith('a[{"s":') and '"i":1' in frame[:40]:
                return len(frame)


async def measure(bench: Bench, control: Pipe, what: str) -> tuple[float, int, float, str]:
    """(seconds, answer size, the probe's worst seconds, the server's lag summary) of one request."""
    await asyncio.sleep(0.1)
    control.send("reset")
    await asyncio.to_thread(control.recv)
    before = await pause_counters(bench)
    started = time.perf_counter()
    if what.startswith("/"):
        status, body = await bench.connections[0].request("GET", what, None, bench.admin)
        assert status == 200, (what, status)
        size = len(body)
    else:
        size = await snapshot(bench.server.port, bench.admin)
    seconds = time.perf_counter() - started
    await asyncio.sleep(0.05)
    control.send("read")
    worst = await asyncio.to_thread(control.recv)
    lag = pauses_between(before, await pause_counters(bench)).split(" | ")
    return seconds, size, worst, f"{lag[0]} | {lag[1]}"


async def run(args: argparse.Namespace) -> list[str]:
    directory = Path(tempfile.mkdtemp(prefix="long-answers-"))
    server = Server(directory, db_name="bench.db", admin_password=ADMIN_PASSWORD)
    server.start()
    bench = Bench(server=server, clients=32)
    lines = [f"### Long answers and the event loop: `python bench/long_answers.py {' '.join(sys.argv[1:])}`", "",
             f"- Machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"{args.accounts} accounts (each a position and 3 working orders), asked as the admin.", "",
             "| request | answer MB | time ms (median) | probe worst ms (median, max) | server lag > 10 / 50 ms, "
             "worst bucket (worst round) |", "|---|---:|---:|---:|---|"]
    try:
        await bench.connect()
        await set_up(bench)
        await provision(bench, args.accounts)
        ours, theirs = multiprocessing.Pipe()
        prober = multiprocessing.get_context("spawn").Process(target=probe, args=(server.port, bench.admin, theirs))
        prober.start()
        try:
            for what in REQUESTS:
                rounds = [await measure(bench, ours, what) for _ in range(args.rounds)]
                worst_round = max(rounds, key=lambda r: r[2])
                line = (f"| `{what.removeprefix('/v1/')}` | {rounds[0][1] / 1e6:.1f} | "
                        f"{statistics.median(r[0] for r in rounds) * 1000:.0f} | "
                        f"{statistics.median(r[2] for r in rounds) * 1000:.0f}, {worst_round[2] * 1000:.0f} | "
                        f"{worst_round[3]} |")
                print(line, flush=True)
                lines.append(line)
        finally:
            ours.send(None)
            prober.join(10)
    finally:
        bench.close()
        server.stop()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="", help="a name for this tree in the results (e.g. before / after)")
    parser.add_argument("--results", type=Path, help="write the section into this Markdown file")
    args = parser.parse_args()
    lines = asyncio.run(run(args))
    if args.results:
        label = MARK.format(args.label or "run")
        replace_block(args.results, label + " begin", label + " end", "\n".join([label + " begin", *lines,
                                                                                 label + " end"]))
    print(json.dumps({"accounts": args.accounts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
