"""Platform.commit: memory follows the durable file, in commit order, even when a caller is cancelled."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tradovate_sim.core.decision import created
from tradovate_sim.model.entities import Currency
from tradovate_sim.model.ids import AccountId
from tradovate_sim.server.runtime import Runtime


@pytest.fixture
async def runtime(make_runtime: Callable[..., Awaitable[Runtime]]) -> Runtime:
    return await make_runtime()


async def test_changes_are_applied_in_order_when_their_callers_are_cancelled_while_committing(
        runtime: Runtime) -> None:
    # Arrange
    platform = runtime.platform
    currencies = [Currency(id=9000 + n, name=f"X{n}") for n in range(20)]
    tasks = [asyncio.create_task(platform.commit([created(c)])) for c in currencies]
    await asyncio.sleep(0)  # every commit is sent
    # Act
    for task in tasks[::2]:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    # Assert
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes[::2])
    seqs = outcomes[1::2]
    assert seqs == sorted(seqs)
    assert all(platform.state.get("currency", c.id) == c for c in currencies)
    stored = {entity_id for kind, entity_id, _ in runtime.store.load() if kind == "currency"}
    assert {c.id for c in currencies} <= stored


async def test_caller_gets_its_seq_and_memory_follows_when_a_subscriber_fails(runtime: Runtime) -> None:
    # Arrange: commit awaits a future of its own, resolved by the landing callback (no asyncio.shield)
    platform = runtime.platform

    class Failing:
        def publish(self, changes: object, seq: int) -> None:
            raise RuntimeError("a subscriber's bug")

    platform.fanout.subscribers.insert(0, Failing())
    currency = Currency(id=9100, name="XF")
    # Act
    seq = await asyncio.wait_for(platform.commit([created(currency)]), timeout=30)
    # Assert
    assert seq > 0
    assert platform.state.get("currency", currency.id) == currency


async def test_account_commands_run_one_at_a_time_and_leave_no_lock_when_some_are_cancelled_or_fail(
        runtime: Runtime) -> None:
    # Arrange
    platform = runtime.platform
    account = AccountId(77)
    inside: list[int] = []
    overlaps: list[int] = []

    async def command(n: int, fail: bool = False) -> None:
        async with platform.account(account):
            if inside:
                overlaps.append(n)
            inside.append(n)
            await asyncio.sleep(0.001)
            inside.remove(n)
            if fail:
                raise ValueError(n)

    tasks = [asyncio.create_task(command(n, fail=n % 3 == 0)) for n in range(9)]
    await asyncio.sleep(0)  # the first holds the lock, the others wait for it
    # Act
    tasks[4].cancel()  # while waiting
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    # Assert
    assert overlaps == []
    assert isinstance(outcomes[4], asyncio.CancelledError)
    assert [type(o) for i, o in enumerate(outcomes) if i != 4] == [
        ValueError if i % 3 == 0 else type(None) for i in range(9) if i != 4]
    assert account not in platform.locks
