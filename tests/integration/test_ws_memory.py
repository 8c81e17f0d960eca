"""Closed WebSocket connections are freed: the server's memory plateaus over thousands of connect/close cycles.

A reference cycle per connection (connection <-> protocol <-> parser) used to keep ~18 KB of every closed socket
alive: with the server's GC tuning (gc.freeze and raised thresholds) it grew without bound. Measured from outside
as the server process's resident set size, with a bound such a leak clearly exceeds."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from server import DEMO, DEMO_PASSWORD, Api, ServerProcess, running
from websockets.asyncio.client import connect
from ws_client import ws_url

WARM_UP = 500
CYCLES = 3_000  # at 18 KB a connection, the old leak grew the server by ~54 MB over these
BOUND_KB = 15 * 1024


def resident_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def memory_server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running(ServerProcess(tmp_path / "memory.db", tmp_path / "server.log")) as process:
        yield process


async def connect_and_close(base_url: str, token: str, count: int, at_once: int = 40) -> None:
    """Open and close `count` sockets, `at_once` open together (so that the garbage collector runs while they are
    open, as under real load); each authorizes, every third also syncs."""
    async def one(i: int) -> None:
        async with connect(ws_url(base_url), ping_interval=None, open_timeout=10) as socket:
            assert await socket.recv() == "o"
            await socket.send(f"authorize\n0\n\n{token}")
            assert '"s":200' in str(await socket.recv())
            if i % 3 == 0:
                await socket.send('user/syncrequest\n1\n\n{"splitResponses": false}')
                assert '"i":1' in str(await socket.recv())

    for start in range(0, count, at_once):
        await asyncio.gather(*(one(i) for i in range(start, min(count, start + at_once))))


async def test_memory_plateaus_over_thousands_of_websocket_connect_close_cycles(memory_server: ServerProcess) -> None:
    with Api(memory_server.base_url) as api:
        token = api.token(DEMO, DEMO_PASSWORD)
    assert memory_server.process is not None
    # the server's processes: itself, or (several workers) every worker, whose sockets the kernel spreads
    pids = memory_server.children() if memory_server.workers > 1 else [memory_server.process.pid]

    await connect_and_close(memory_server.base_url, token, WARM_UP)  # pools, caches and arenas reach their size
    await asyncio.sleep(0.5)
    before = sum(resident_kb(pid) for pid in pids)
    await connect_and_close(memory_server.base_url, token, CYCLES)
    await asyncio.sleep(0.5)
    grown = sum(resident_kb(pid) for pid in pids) - before

    assert grown < BOUND_KB, f"server grew by {grown} KB over {CYCLES} connect/close cycles"
    assert "Traceback" not in memory_server.log()
