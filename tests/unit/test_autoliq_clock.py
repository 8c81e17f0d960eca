"""AutoLiquidation.time_moved: whoever sees a clock move second (the once-a-second tick or /sim/clock) still waits
until what the move set off is carried out, so /sim/clock never answers before the unlocks it caused."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from tradovate_sim.model.ids import AccountId
from tradovate_sim.server.runtime import Runtime


async def test_a_second_caller_for_the_same_clock_move_waits_for_the_evaluations_the_first_one_started(
        make_runtime: Callable[..., Awaitable[Runtime]], monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: one account's evaluation that takes until we let it finish
    runtime = await make_runtime()
    autoliq = runtime.autoliq
    release = asyncio.Event()
    evaluated: list[AccountId] = []

    async def slow_check(account_id: AccountId) -> None:
        await release.wait()
        evaluated.append(account_id)

    monkeypatch.setattr(autoliq, "check", slow_check)
    clock = runtime.platform.clock
    clock.set(clock.now() + timedelta(minutes=1))
    autoliq.dirty[AccountId(7)] = None

    # Act: the tick sees the move first, the clock control second
    tick = asyncio.create_task(autoliq.time_moved())
    await asyncio.sleep(0.01)
    control = asyncio.create_task(autoliq.time_moved())
    await asyncio.sleep(0.01)

    # Assert: neither is done while the evaluation runs; both end once it has
    assert not control.done() and not tick.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(tick, control), 5)
    assert evaluated == [AccountId(7)]
