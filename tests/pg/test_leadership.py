"""A runtime on PostgreSQL whose leader's lock connection is killed steps down (its market and timers stopped,
awaited) and leads again only by taking the lock again (server/leader.py)."""

import asyncio
import gc
import io
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tradovate_sim.server import leader
from tradovate_sim.server.runtime import Runtime
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.settings import Settings

EVERYTHING = {"market-loop", "autoliq-clock", "autoliq-water-marks", "margin-watch", "trade-date-roll",
              "order-expiry", "contract-settlement"}


@pytest.fixture
async def runtime(url: str) -> AsyncIterator[Runtime]:
    thresholds = gc.get_threshold()
    started = Runtime(Settings(db=url, quotes="synthetic", tick_seconds=0.05, admin_password="admin-pw", seed="none"),
                      out=io.StringIO(), hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1))
    await started.start()
    try:
        yield started
    finally:
        await started.stop()
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def test_a_killed_lock_connection_stops_everything_the_leader_ran_and_the_lock_is_taken_again(
        url: str, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    leadership, cluster = runtime.leadership, runtime.cluster
    assert cluster is not None and cluster.fence is not None
    monkeypatch.setattr(leader, "TRY_SECONDS", 0.05)
    assert leadership.leading and set(leadership.running()) == EVERYTHING and leadership.terms == 1
    changes: list[bool] = []
    again = asyncio.Event()

    def changed(leading: bool) -> None:
        changes.append(leading)
        if leading:
            again.set()

    leadership.changed.append(changed)

    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", cluster.fence[0])
    finally:
        await conn.close()
    await asyncio.wait_for(again.wait(), 30)  # down, then up again: the lock is free and it takes it

    assert changes == [False, True]
    assert leadership.leading and leadership.terms == 2 and set(leadership.running()) == EVERYTHING
    assert cluster.leading and await cluster.leader_alive()


async def test_stepping_down_stops_the_market_loop_and_every_timer_and_sends_no_quote(runtime: Runtime) -> None:
    leadership = runtime.leadership
    quotes = runtime.platform.quote_listeners
    await leadership.background.stop()  # no election: it would take the lock again
    assert leadership._send in quotes  # the listener that sends quotes to the others

    await leadership._step_down()  # what the election does when the lock is lost
    ticks = runtime.loop.ticks
    await asyncio.sleep(0.2)  # four intervals of the market loop

    assert not leadership.leading and leadership.running() == []
    assert runtime.loop.ticks == ticks and runtime.loop.task is None
    assert leadership._send not in quotes
    assert runtime.cluster is not None and not runtime.cluster.leading
