"""The trade-date sweep (service/rollover.py) in a whole runtime: the real-clock path (the clock passing 17:00 Chicago
without any `/sim/clock` call), batching, accounts busy with a command, idempotence."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

import msgspec
import pytest

from tradovate_sim.core.decision import created
from tradovate_sim.core.positions import empty_position, to_trade_date
from tradovate_sim.model.entities import CashBalance, Contract, Position, User
from tradovate_sim.model.ids import AccountId, ContractId, PositionId
from tradovate_sim.server.runtime import Runtime
from tradovate_sim.service.accounts import new_account
from tradovate_sim.service.rollover import BATCH

BEFORE_ROLL = datetime(2026, 11, 24, 22, 59, 59, tzinfo=UTC)  # Tuesday 16:59:59 in Chicago
TUESDAY, WEDNESDAY = date(2026, 11, 24), date(2026, 11, 25)


@pytest.fixture
async def runtime(make_runtime: Callable[..., Awaitable[Runtime]]) -> Runtime:
    made = await make_runtime(seed="demo", demo_password="demo-pw")
    made.platform.clock.set(BEFORE_ROLL)
    await made.rollover.roll()
    return made


def cash_dates(runtime: Runtime) -> set[date]:
    return {date(c.trade_date.year, c.trade_date.month, c.trade_date.day)
            for c in runtime.platform.state.table(CashBalance).values()}


async def add_accounts(runtime: Runtime, count: int) -> list[AccountId]:
    platform = runtime.platform
    user = next(u for u in platform.state.table(User).values() if u.name == "demo")
    changes, made = [], []
    for number in range(count):
        account, more = new_account(platform, user=user, name=f"SWEEP{number}", balance=10_000.0, now=platform.now())
        made.append(account.id)
        changes += more
    await platform.commit(changes)
    return made


async def test_the_real_clock_passing_the_boundary_rolls_without_a_clock_move(runtime: Runtime) -> None:
    # Arrange: a long position of Tuesday
    platform = runtime.platform
    account = next(iter(platform.state.cash_of))
    contract = ContractId(next(iter(platform.state.table(Contract))))
    held = msgspec.structs.replace(
        empty_position(PositionId(platform.ids.next("position")), account, contract, platform.now(), TUESDAY),
        net_pos=2, bought=2, bought_value=13_600.0, net_price=6800.0)
    await platform.commit([created(held)])
    assert cash_dates(runtime) == {TUESDAY}
    rolled = asyncio.Event()
    platform.fanout.subscribers.append(_Watch(rolled))
    # Act: two seconds pass on the clock; only the rollover's own timer runs
    platform.clock.advance(2)
    await asyncio.wait_for(rolled.wait(), 30)
    # Assert
    assert cash_dates(runtime) == {WEDNESDAY}
    position = platform.state.table(Position)[held.id]
    assert (position.trade_date, position.prev_pos, position.bought, position.net_pos) == \
        (to_trade_date(WEDNESDAY), 2, 0, 2)


async def test_accounts_roll_in_batches_and_a_busy_account_after_its_command(runtime: Runtime) -> None:
    # Arrange: more accounts than a batch holds, one of them busy with a command
    platform = runtime.platform
    made = await add_accounts(runtime, BATCH + 10)
    busy = made[3]
    platform.clock.set(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    commits_before = runtime.rollover.commits
    # Act
    async with platform.account(busy):
        sweep = asyncio.create_task(runtime.rollover.roll())
        await asyncio.sleep(0.05)
        assert not sweep.done()  # waiting for the busy account
        assert platform.state.table(CashBalance)[platform.state.cash_of[busy]].trade_date == to_trade_date(TUESDAY)
    await asyncio.wait_for(sweep, 30)
    # Assert: two batches and the busy account alone; everything on the new date
    assert runtime.rollover.commits - commits_before == 3
    assert cash_dates(runtime) == {WEDNESDAY}


async def test_a_roll_after_the_clock_moved_back_waits_for_the_roll_from_before_and_undoes_it(
        runtime: Runtime) -> None:
    # Arrange: the timer's roll to Wednesday waits for an account busy with a command
    platform = runtime.platform
    busy = (await add_accounts(runtime, 3))[1]
    platform.clock.set(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    async with platform.account(busy):
        timer = asyncio.create_task(runtime.rollover.roll())
        await asyncio.sleep(0.05)
        assert not timer.done()
        # Act: the clock goes back to Tuesday and is rolled to while the first roll still waits
        platform.clock.set(BEFORE_ROLL)
        moved = asyncio.create_task(runtime.rollover.roll(everything=True))
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(timer, moved), 30)
    # Assert: the roll of before the move is undone, the busy account's too
    assert cash_dates(runtime) == {TUESDAY}


async def test_a_second_sweep_on_the_same_trade_date_changes_nothing(runtime: Runtime) -> None:
    platform = runtime.platform
    platform.clock.set(datetime(2026, 11, 25, 15, 0, tzinfo=UTC))
    await runtime.rollover.roll()
    commits = runtime.rollover.commits
    runtime.rollover.forget()
    await runtime.rollover.roll()
    assert runtime.rollover.commits == commits


class _Watch:
    """A fanout subscriber that sets `event` once a cash balance of Wednesday is published."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def publish(self, changes: object, seq: int) -> None:
        del seq
        for change in changes:  # type: ignore[attr-defined]
            if isinstance(change.entity, CashBalance) and change.entity.trade_date == to_trade_date(WEDNESDAY):
                self.event.set()
