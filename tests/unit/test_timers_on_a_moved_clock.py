"""Timers that cannot be undone (order expiry, contract settlement) act only on the clock as it is when they decide:
a sweep finds what is due, then waits for each account's lock; a clock moved back meanwhile (a `/sim/clock`)
leaves what was due only on the clock of before."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from test_expiry_queue import OPEN, demo, demo_at_open, place, status

from tradovate_sim.model.enums import OrdStatus, TimeInForce
from tradovate_sim.server.runtime import Runtime
from tradovate_sim.service.expiry import Expiry
from tradovate_sim.service.settlement import Settlement

AFTER_CLOSE = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # 16:30 CT: the session of OPEN closed
AFTER_ESZ6_EXPIRY = datetime(2026, 12, 21, 15, 0, tzinfo=UTC)


@pytest.fixture
async def runtime(make_runtime: Callable[..., Awaitable[Runtime]]) -> Runtime:
    return await demo_at_open(make_runtime)


async def sweep_while_the_clock_moves_back(runtime: Runtime, timer: Expiry | Settlement, later: datetime) -> None:
    """The clock at `later`; `timer`'s sweep finds the demo account's order due and waits for its lock, held by
    another command, while the clock moves back to OPEN."""
    _, account = demo(runtime)
    platform = runtime.platform
    platform.clock.set(later)
    held, release = asyncio.Event(), asyncio.Event()

    async def command() -> None:
        async with platform.account(account.id):
            held.set()
            await release.wait()

    holder = asyncio.create_task(command())
    await held.wait()
    sweep = asyncio.create_task(timer.sweep())
    await asyncio.sleep(0)  # the sweep runs up to the account's lock
    platform.clock.set(OPEN)
    release.set()
    await holder
    await sweep


@pytest.mark.parametrize("tif", [TimeInForce.Day, TimeInForce.GTC])
async def test_a_sweep_that_waited_for_the_account_while_the_clock_moved_back_expires_nothing(
        runtime: Runtime, tif: TimeInForce) -> None:
    # Arrange: a Day order (expiry's) or a GTC one (settlement's, in the contract that expires)
    order_id = await place(runtime, tif, 6790.0)
    timer: Expiry | Settlement = runtime.expiry if tif is TimeInForce.Day else runtime.settlement
    # Act
    await sweep_while_the_clock_moves_back(runtime, timer, AFTER_CLOSE if tif is TimeInForce.Day
                                           else AFTER_ESZ6_EXPIRY)
    # Assert: not expired, and nothing due on the clock as it is
    assert status(runtime, order_id) is OrdStatus.Working
    assert await timer.sweep() == 0
    assert status(runtime, order_id) is OrdStatus.Working
