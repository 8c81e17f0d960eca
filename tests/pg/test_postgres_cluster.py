"""The connections several processes share besides the store's: every use of the pool waits a bounded time for a
connection (while all of them hold busy accounts' locks), then fails as a store failure would."""

import asyncio
import contextlib
import json
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


class _HeldCommit:
    """Holds the store's next COMMIT back (sent, not answered) until `release`: a process killed in that moment."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import asyncpg.transaction

        self.sent, self.released = asyncio.Event(), asyncio.Event()
        original = asyncpg.transaction.Transaction.commit

        async def commit(transaction: asyncpg.transaction.Transaction) -> None:
            self.sent.set()
            await self.released.wait()
            await original(transaction)

        monkeypatch.setattr(asyncpg.transaction.Transaction, "commit", commit)


@pytest.mark.parametrize("take", ["lock", "try_lock"])
@pytest.mark.parametrize("earlier", [True, False], ids=["after-a-commit", "first-commit"])
async def test_a_lock_its_dead_holder_left_waits_for_the_holders_commit_in_flight(
        store: PostgresStore, url: str, monkeypatch: pytest.MonkeyPatch, take: str, earlier: bool) -> None:
    """A process killed after its commit's write, before COMMIT's answer: its lock's session ends, the lock is free,
    and the COMMIT lands all the same a moment later. The next holder's head must be that commit's seq (memory
    caught up to it), not the one before: deciding without it, both decisions land and a follower's memory holds
    the one's position with the other's fills (`open lots must add up to the net position`)."""
    from tradovate_sim.storage import migrations

    account = 7
    before = await store.submit(_order(1), accounts=(account,)) if earlier else 0
    dying, taker, observer = [await migrations.connect(url) for _ in range(3)]
    try:
        assert await PostgresCluster.lock(dying, account) == before
        held = _HeldCommit(monkeypatch)
        landing = store.submit(_order(2), accounts=(account,))
        await held.sent.wait()
        dying.terminate()  # SIGKILL: the lock's session ends with the process; the store's COMMIT is on its way
        for _ in range(1000):  # until the dead session's lock is gone
            if not await observer.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", account):
                break
            await asyncio.sleep(0.01)
        taking = asyncio.ensure_future(
            PostgresCluster.lock(taker, account) if take == "lock" else PostgresCluster.try_lock(taker, [account]))
        taker_pid = taker.get_server_pid()
        for _ in range(1000):  # until the taker answered (wrongly) or waits for the commit in flight
            if taking.done() or await observer.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", taker_pid):
                break
            await asyncio.sleep(0.01)
        held.released.set()
        seq = await landing
        head = await taking
    finally:
        for conn in (dying, taker, observer):
            conn.terminate()

    assert seq > before
    assert head == (seq if take == "lock" else {account: seq})


def _order(entity_id: int) -> bytes:
    return json.dumps([{"entityType": "order", "eventType": "Created", "entity": {"id": entity_id}}]).encode()


async def test_the_follower_skips_a_commit_of_its_own_that_landed_while_its_query_was_on_the_way(
        store: PostgresStore, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The follower names this process's transactions (`own`) when it sends its query; a commit of this process that
    lands before the query's snapshot is taken (a slow backend, a busy machine) is below the new horizon and was not
    named. Applied again after a later commit of its own, it put back an older position over newer fills: `open lots
    must add up to the net position` on the next fill."""
    follower = PostgresCluster(url, store.snapshot)
    await follower.open()
    pooled = follower.pooled
    landed: list[int] = []

    class Late:
        """The pooled connection, with this process's commit landing after the query's arguments were built."""

        def __init__(self, conn: object) -> None:
            self.conn = conn

        async def fetch(self, *args: object) -> object:
            landed.append(await store.submit(_order(1)))  # its xid joins `own` before its COMMIT is sent
            return await self.conn.fetch(*args)  # type: ignore[attr-defined]

    @contextlib.asynccontextmanager
    async def late() -> AsyncIterator[object]:
        async with pooled() as conn:
            yield Late(conn)

    try:
        monkeypatch.setattr(follower, "pooled", late)
        followed = await follower.follow(store.own)
        monkeypatch.setattr(follower, "pooled", pooled)
        followed += await follower.follow(store.own)
    finally:
        await follower.close()

    assert landed and [row.seq for row in followed] == []
