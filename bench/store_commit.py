"""Durable commits per second of `SqliteStore` with 1, 16 and 64 concurrent committers.

Each commit is one order row (~200-byte body), as a placed order would write. Run:
`.venv/bin/python bench/store_commit.py [seconds-per-case]` (default 0.5 s; six cases).
"""

import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec

from tradovate_sim.storage.rows import Row
from tradovate_sim.storage.sqlite import SqliteStore

COMMITTERS = (1, 16, 64)
MODES: tuple[Literal["NORMAL", "FULL"], ...] = ("NORMAL", "FULL")


def make_body(order_id: int) -> bytes:
    return msgspec.json.encode(
        {
            "id": order_id,
            "accountId": 7,
            "contractId": 3_570_918,
            "timestamp": "2026-08-21T14:30:00.000Z",
            "action": "Buy",
            "ordStatus": "Working",
            "executionProviderId": 1,
            "archived": False,
            "external": False,
            "admin": False,
        }
    )


async def measure(path: Path, mode: Literal["NORMAL", "FULL"], committers: int, seconds: float) -> float:
    store = SqliteStore(str(path), synchronous=mode)
    await store.open()
    deadline = time.perf_counter() + seconds
    done = 0

    async def committer(first: int) -> None:
        nonlocal done
        order_id = first
        while time.perf_counter() < deadline:
            row = Row(
                entity_type="order",
                event_type="Created",
                entity_id=order_id,
                account_id=7,
                body=make_body(order_id),
            )
            await store.commit([row])
            order_id += committers
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(committer(n) for n in range(committers)))
    elapsed = time.perf_counter() - started
    await store.close()
    return done / elapsed


def loop_factory() -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    try:
        import uvloop
    except ImportError:
        return "asyncio", asyncio.new_event_loop
    return "uvloop", uvloop.new_event_loop


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    loop_name, factory = loop_factory()
    print(f"SqliteStore.commit, one row per commit, {seconds} s per case, {loop_name}")
    print(f"{'synchronous':<12}{'committers':>11}{'commits/s':>12}{'µs/commit':>11}")
    with tempfile.TemporaryDirectory() as tmp, asyncio.Runner(loop_factory=factory) as runner:
        for mode in MODES:
            for committers in COMMITTERS:
                path = Path(tmp) / f"{mode}-{committers}.db"
                rate = runner.run(measure(path, mode, committers, seconds))
                print(f"{mode:<12}{committers:>11}{rate:>12,.0f}{1e6 / rate:>11.1f}")


if __name__ == "__main__":
    main()
