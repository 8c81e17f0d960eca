"""Platform.commit: memory follows the durable file, in commit order, even when a caller is cancelled."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tradovate_sim.core.decision import created
from tradovate_sim.model.entities import Currency
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
