"""Platform.commit: memory follows the durable file, in commit order, even when a caller is cancelled."""

import asyncio
import gc
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tradovate_sim.core.decision import created
from tradovate_sim.model.entities import Currency
from tradovate_sim.server.runtime import Runtime
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.settings import Settings


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    thresholds = gc.get_threshold()
    settings = Settings(db=f"sqlite:///{tmp_path / 'commit.db'}", quotes="manual", admin_password="admin-pw",
                        seed="none")
    made = Runtime(settings, out=io.StringIO(), hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1))
    await made.start()
    try:
        yield made
    finally:
        await made.stop()
        gc.unfreeze()  # Runtime.start freezes the heap and raises the thresholds
        gc.set_threshold(*thresholds)


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
