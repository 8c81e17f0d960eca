"""The leader's lock (storage/postgres_cluster.py) and the fence on the timers' commits (storage/postgres.py): a
lost lock connection is known at once, a hung one by asking PostgreSQL; a timer's commit from a session that no
longer holds the lock is refused with nothing written, while the commits around it land."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.postgres import LEADER_FENCE, PostgresStore
from tradovate_sim.storage.postgres_cluster import PostgresCluster


@pytest.fixture
async def clusters(url: str, store: PostgresStore) -> AsyncIterator[list[PostgresCluster]]:
    """Two processes' cluster connections on the store's database."""
    found = [PostgresCluster(url, store.snapshot) for _ in range(2)]
    for cluster in found:
        await cluster.open()
    yield found
    for cluster in found:
        await cluster.close()


async def terminate(url: str, pid: int) -> None:
    """End the session `pid` and wait until its backend has exited (until then it still holds its locks)."""
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1, 30000)", pid)
    finally:
        await conn.close()


async def test_a_killed_lock_session_is_known_at_once_and_the_other_takes_the_lock(
        url: str, clusters: list[PostgresCluster]) -> None:
    first, second = clusters
    lost = asyncio.Event()
    first.leader_lost = lost.set
    assert await first.try_lead() and first.leading and await first.leader_alive()
    assert not await second.try_lead()
    assert first.fence is not None

    await terminate(url, first.fence[0])
    await asyncio.wait_for(lost.wait(), 30)  # the termination listener: no query needed

    assert not first.leading and not await first.leader_alive()
    assert await second.try_lead()
    assert not await first.try_lead()  # it leads again only by taking the lock again


async def test_giving_up_the_lead_frees_the_lock_without_calling_leader_lost(
        clusters: list[PostgresCluster]) -> None:
    first, second = clusters
    called: list[bool] = []
    first.leader_lost = lambda: called.append(True)
    assert await first.try_lead()

    first.give_up_lead()

    for _ in range(100):  # PostgreSQL ends the session when it reads the termination
        if await second.try_lead():
            break
        await asyncio.sleep(0.05)
    assert second.leading and not first.leading and first.fence is None
    await asyncio.sleep(0.05)
    assert called == []


async def test_a_fenced_commit_lands_while_the_lock_is_held_and_is_refused_once_the_session_is_gone(
        url: str, store: PostgresStore, clusters: list[PostgresCluster]) -> None:
    first, _ = clusters
    assert await first.try_lead()
    fence = first.fence
    token = LEADER_FENCE.set(fence)
    try:
        held = await store.commit(None, {"fenced.held": b"1"})
    finally:
        LEADER_FENCE.reset(token)
    assert fence is not None
    await terminate(url, fence[0])

    token = LEADER_FENCE.set(fence)
    try:
        refused = store.submit(None, {"fenced.lost": b"1"})  # one group with an unfenced commit on either side
    finally:
        LEADER_FENCE.reset(token)
    others = [store.submit(None, {"unfenced.a": b"1"}), store.submit(None, {"unfenced.b": b"1"})]
    outcomes = await asyncio.gather(refused, *others, return_exceptions=True)

    assert held > 0
    assert isinstance(outcomes[0], StoreError) and "no longer leads" in str(outcomes[0]), outcomes
    assert all(isinstance(seq, int) for seq in outcomes[1:]), outcomes
    conn = await asyncpg.connect(url)
    try:
        keys = {r[0] for r in await conn.fetch("SELECT key FROM tradovate_sim.meta WHERE key LIKE '%fenced.%'")}
    finally:
        await conn.close()
    assert keys == {"fenced.held", "unfenced.a", "unfenced.b"}
