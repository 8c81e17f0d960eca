"""The synthetic market survives a tick that fails (and says so in the log); shutdown always closes the store."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest

from tradovate_sim.server.runtime import Runtime


@pytest.fixture
async def runtime(make_runtime: Callable[..., Awaitable[Runtime]]) -> Runtime:
    return await make_runtime(quotes="synthetic", tick_seconds=0.01)


async def test_market_goes_on_and_the_failure_is_logged_when_one_tick_raises(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # Arrange: the first tick's walk raises, later ones work
    walk = runtime.platform.market.walk
    calls: list[datetime] = []
    went_on = asyncio.Event()

    def failing_once(now: datetime) -> list[int]:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("one bad tick")
        if len(calls) >= 3:
            went_on.set()
        return walk(now)

    monkeypatch.setattr(runtime.platform.market, "walk", failing_once)
    caplog.set_level(logging.ERROR, logger="tradovate_sim.market")
    # Act
    await asyncio.wait_for(went_on.wait(), 30)
    # Assert
    assert runtime.loop.task is not None and not runtime.loop.task.done()
    failures = [r for r in caplog.records if r.name == "tradovate_sim.market"]
    assert [r.getMessage() for r in failures] == ["market tick failed (1 in a row); the market goes on"]
    assert failures[0].exc_info is not None and str(failures[0].exc_info[1]) == "one bad tick"


async def test_a_failure_that_repeats_is_logged_at_doubling_intervals(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[datetime] = []
    eight = asyncio.Event()

    def always_failing(now: datetime) -> list[int]:
        calls.append(now)
        if len(calls) == 9:
            eight.set()
        raise RuntimeError("broken")

    monkeypatch.setattr(runtime.platform.market, "walk", always_failing)
    caplog.set_level(logging.ERROR, logger="tradovate_sim.market")
    await asyncio.wait_for(eight.wait(), 30)
    counts = [r.args[0] for r in caplog.records if r.name == "tradovate_sim.market" and isinstance(r.args, tuple)]
    assert counts[:4] == [1, 2, 4, 8]


async def test_shutdown_closes_the_store_even_when_stopping_the_market_loop_fails(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    closed: list[bool] = []
    close = runtime.store.close

    async def failing_stop() -> None:
        raise RuntimeError("the loop would not stop")

    async def recorded_close() -> None:
        closed.append(True)
        await close()

    monkeypatch.setattr(runtime.loop, "stop", failing_stop)
    monkeypatch.setattr(runtime.store, "close", recorded_close)
    # Act
    with pytest.raises(RuntimeError, match="would not stop"):
        await runtime.stop()
    # Assert
    assert closed == [True]

