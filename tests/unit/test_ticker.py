"""The timers' loop (service/periodic.py `Ticker`): stopped between two ticks, never in the middle of one; started
and stopped any number of times (a process that stops leading stops its timers, and starts them when it leads
again)."""

import asyncio
import logging

import pytest

from tradovate_sim.service.periodic import Ticker


async def test_a_stop_during_a_tick_waits_for_the_tick_to_finish_and_no_tick_follows() -> None:
    # Arrange: a tick that is under way (it waits for `release`) when the stop comes
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def work() -> None:
        started.set()
        await release.wait()
        finished.append(len(finished))

    ticker = Ticker("test", 0.001, work)
    ticker.start()
    await started.wait()
    # Act
    stopping = asyncio.create_task(ticker.stop())
    await asyncio.sleep(0.01)
    stopped_before_the_tick_ended = stopping.done()
    release.set()
    await stopping
    await asyncio.sleep(0.01)
    # Assert
    assert not stopped_before_the_tick_ended
    assert finished == [0]  # the tick under way finished (not cancelled), and none followed
    assert not ticker.running and ticker.task is None


async def test_start_and_stop_are_idempotent_and_a_stopped_ticker_starts_again() -> None:
    ticks = asyncio.Queue[None]()

    async def work() -> None:
        ticks.put_nowait(None)

    ticker = Ticker("test", 0.001, work)
    await ticker.stop()  # never started: nothing
    ticker.start()
    first = ticker.task
    ticker.start()  # already ticking: the same task
    assert ticker.task is first
    await ticks.get()
    await ticker.stop()
    await ticker.stop()
    assert first is not None and first.done() and not ticker.running
    while not ticks.empty():
        ticks.get_nowait()
    ticker.start()  # leads again: ticks again, in a new task
    await ticks.get()
    assert ticker.running and ticker.task is not first
    await ticker.stop()


async def test_a_stop_that_is_cancelled_leaves_the_tick_to_finish() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def work() -> None:
        started.set()
        await release.wait()
        finished.append(True)

    ticker = Ticker("test", 0.001, work)
    ticker.start()
    await started.wait()
    task = ticker.task
    stopping = asyncio.create_task(ticker.stop())
    await asyncio.sleep(0.01)
    stopping.cancel()  # a shutdown that gives up waiting
    await asyncio.gather(stopping, return_exceptions=True)
    release.set()
    assert task is not None
    await asyncio.wait([task])
    assert finished == [True] and not task.cancelled()


async def test_a_failure_streak_is_logged_at_its_1st_2nd_4th_and_8th_run_and_the_ticks_go_on(
        caplog: pytest.LogCaptureFixture) -> None:
    # Arrange: nine failing runs, then one that succeeds, then one more failure (a new streak)
    outcomes = [False] * 9 + [True, False]
    done = asyncio.Event()

    async def work() -> None:
        ok = outcomes.pop(0)
        if not outcomes:
            done.set()
        if not ok:
            raise RuntimeError("boom")

    ticker = Ticker("test", 0.001, work, failed="failed (%d in a row)")
    # Act
    with caplog.at_level(logging.ERROR):
        ticker.start()
        await done.wait()
        await ticker.stop()
    # Assert
    assert [r.getMessage() for r in caplog.records] == [
        f"failed ({n} in a row)" for n in (1, 2, 4, 8, 1)]
    assert all(r.exc_info is not None for r in caplog.records)
    assert ticker.failures == 1


async def test_a_ticker_without_failed_ends_on_a_failure_and_its_stop_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    # Arrange: a ticker whose work handles nothing
    async def died() -> None:
        raise RuntimeError("died earlier")

    ticker = Ticker("test", 0.001, died, what="test loop")
    ticker.start()
    assert ticker.task is not None
    await asyncio.wait([ticker.task])
    # Act
    with caplog.at_level(logging.ERROR):
        await ticker.stop()
    # Assert
    assert [r.getMessage() for r in caplog.records] == ["test loop had failed"]
