"""The connections several processes share besides the store's: every use of the pool waits a bounded time for a
connection (while all of them hold busy accounts' locks), then fails as a store failure would."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tradovate_sim.storage import postgres_cluster
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.postgres import PostgresStore
from tradovate_sim.storage.postgres_cluster import PostgresCluster
from tradovate_sim.storage.shared_state import SimulatorState


@pytest.fixture
async def busy(url: str, store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PostgresCluster]:
    """A cluster (on the store's database, its schema made) whose pool of one connection is held, as a command
    holding an account's lock holds it."""
    monkeypatch.setattr(postgres_cluster, "POOL_SIZE", 1)
    monkeypatch.setattr(postgres_cluster, "ACQUIRE_SECONDS", 0.2)
    cluster = PostgresCluster(url, store.snapshot)
    await cluster.open()
    held = await cluster.acquire()
    try:
        yield cluster
    finally:
        await cluster.release(held)
        await cluster.close()


async def outcome(call: Awaitable[object]) -> BaseException | None:
    """What `call` raised; a failure if it was still waiting after 10 s (the old unbounded wait)."""
    task = asyncio.ensure_future(call)
    done, _ = await asyncio.wait({task}, timeout=10)
    if not done:
        task.cancel()
        pytest.fail("waited for ever for a pooled connection")
    return task.exception()


@pytest.mark.parametrize("use", [
    lambda c: c.follow(set()), lambda c: c.xmax(), lambda c: c.read_meta(), lambda c: c.peers(),
    lambda c: c.notify(postgres_cluster.CONTROL_CHANNEL, "{}"), lambda c: c.reserve({"order": 1}, 10),
    lambda c: c.acquire(),
], ids=["follow", "xmax", "read_meta", "peers", "notify", "reserve", "acquire"])
async def test_every_use_of_the_pool_gives_up_after_the_acquire_timeout(
        busy: PostgresCluster, use: Callable[[PostgresCluster], Awaitable[object]]) -> None:
    assert isinstance(await outcome(use(busy)), TimeoutError)  # an OSError: requests answer 503, the follower retries


async def test_the_shared_simulator_state_fails_as_a_store_failure(busy: PostgresCluster) -> None:
    shared = SimulatorState(busy.pooled)
    for call in (shared.load(), shared.save("sim.limits", b"{}"), shared.clear(), shared.others_started()):
        error = await outcome(call)
        assert isinstance(error, StoreError) and "shared state" in str(error)


async def test_a_control_that_cannot_reach_the_other_processes_is_a_store_failure(busy: PostgresCluster) -> None:
    """`/sim/*` on several workers: 503 (a StoreError), not a 500, when the pool has no connection to give."""
    from tradovate_sim.server.broadcast import Broadcast

    error = await outcome(Broadcast(busy, None).everywhere("clock", b"{}"))
    assert isinstance(error, StoreError) and "other processes" in str(error)
