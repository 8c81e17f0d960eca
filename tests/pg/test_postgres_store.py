"""The PostgreSQL store in-process, against the tests' cluster: group commit, a bad commit failing alone, resets that
never reuse a seq, and schema versions."""

import asyncio
import json
from collections.abc import Callable, Iterator

import cluster as pg_cluster
import pytest

from tradovate_sim.storage import migrations, postgres
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.postgres import PostgresStore, VersionError


def change(entity_id: int, event: str = "Created", kind: str = "order", **fields: object) -> bytes:
    return json.dumps([{"entityType": kind, "eventType": event, "entity": {"id": entity_id, **fields}}]).encode()


async def test_concurrent_commits_land_in_fewer_transactions_and_answer_in_submit_order(
        store: PostgresStore, pg: pg_cluster.Cluster, url: str) -> None:
    futures = [store.submit(change(i, n=i)) for i in range(1, 201)]
    seqs = await asyncio.gather(*futures)

    assert seqs == sorted(seqs) and len(set(seqs)) == 200
    database = url.rsplit("/", 1)[1]
    transactions = int(pg.psql("SELECT count(DISTINCT xid) FROM tradovate_sim.journal", database))
    assert transactions < 200  # group commit: several commits per transaction
    assert sorted(row[1] for row in store.load()) == []  # load() hands over what open() read (an empty database)
    reopened = PostgresStore(url)
    await reopened.open()
    assert sorted(row[1] for row in reopened.load()) == list(range(1, 201))
    await reopened.close()


async def test_a_commit_that_cannot_be_read_fails_alone(store: PostgresStore) -> None:
    good = [store.submit(change(1)), store.submit(b"[{not json"), store.submit(change(2, "Bogus")),
            store.submit(change(3))]
    answers = await asyncio.gather(*good, return_exceptions=True)

    assert isinstance(answers[0], int) and isinstance(answers[3], int)
    assert isinstance(answers[1], StoreError) and isinstance(answers[2], StoreError)
    assert "unknown eventType" in str(answers[2])


async def test_reset_replaces_everything_in_one_step_and_never_reuses_a_seq(store: PostgresStore, url: str) -> None:
    before = await store.commit(change(1), {"clock": b"x"})
    await store.commit(change(1, "Deleted"))

    after = await store.reset(change(9, kind="user"), {"seed": b"s"})

    assert after > before + 1
    assert store.load() == [("user", 9, json.dumps({"id": 9}).encode())]
    assert (store.get_meta("clock"), store.get_meta("seed")) == (None, b"s")
    reopened = PostgresStore(url)
    await reopened.open()
    assert (reopened.get_meta("seed"), [row[1] for row in reopened.load()]) == (b"s", [9])
    assert await reopened.commit(change(10)) > after
    await reopened.close()


@pytest.fixture
def newer_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Make this tradovate-sim's schema one version newer (a migration adding a table)."""
    def apply() -> None:
        extra = ((f"CREATE TABLE {migrations.SCHEMA}.extra (id bigint)",),)
        monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS + extra)
        monkeypatch.setattr(migrations, "SCHEMA_VERSION", len(migrations.MIGRATIONS))
        monkeypatch.setattr(postgres, "SCHEMA_VERSION", len(migrations.MIGRATIONS))
    yield apply


async def test_an_older_schema_is_refused_until_migrate_upgrades_it(
        url: str, newer_schema: Callable[[], None]) -> None:
    first = PostgresStore(url)
    await first.open()  # creates the current version (n)
    await first.close()
    newer_schema()

    with pytest.raises(VersionError) as refused:
        await PostgresStore(url).open()
    conn = await migrations.connect(url)
    try:
        done = await migrations.migrate(conn)
    finally:
        await conn.close()
    upgraded = PostgresStore(url)
    await upgraded.open()
    await upgraded.close()

    current = migrations.SCHEMA_VERSION
    assert f"schema version {current - 1}" in str(refused.value) and f"uses {current}" in str(refused.value)
    assert "tradovate-sim migrate --db" in str(refused.value) and pg_cluster.PASSWORD not in str(refused.value)
    assert done == (current - 1, current)


class _CommitFault:
    """Makes the next COMMIT of the store's connection look lost: after it landed (`land=True`) or instead of it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, land: bool) -> None:
        import asyncpg.transaction

        original = asyncpg.transaction.Transaction.commit
        fired: list[bool] = []

        async def commit(transaction: asyncpg.transaction.Transaction) -> None:
            if fired:
                await original(transaction)
                return
            fired.append(True)
            if land:
                await original(transaction)
            transaction._connection.terminate()  # the connection dies with the answer unread
            raise ConnectionResetError("connection reset by peer")

        monkeypatch.setattr(asyncpg.transaction.Transaction, "commit", commit)


@pytest.mark.parametrize("landed", [True, False])
async def test_a_commit_whose_answer_was_lost_answers_as_it_really_went(
        store: PostgresStore, url: str, monkeypatch: pytest.MonkeyPatch, landed: bool) -> None:
    _CommitFault(monkeypatch, land=landed)

    outcome = await asyncio.gather(store.submit(change(1)), return_exceptions=True)
    later = await store.commit(change(2))  # the store is back by itself

    reopened = PostgresStore(url)
    await reopened.open()
    ids = sorted(row[1] for row in reopened.load())
    await reopened.close()
    if landed:
        assert isinstance(outcome[0], int) and later > outcome[0]
        assert ids == [1, 2]
    else:
        assert isinstance(outcome[0], StoreError) and "did not land" in str(outcome[0])
        assert ids == [2]
    assert store.reconnects == 1


async def test_the_follower_gets_every_row_once_even_when_a_lower_seq_commits_after_a_higher_one(
        store: PostgresStore, url: str) -> None:
    """The xmin rule by seq would skip seq 5 here (committed after 6 was taken); following by xid does not."""
    from tradovate_sim.storage.postgres_cluster import PostgresCluster

    follower = PostgresCluster(url, store.snapshot)
    await follower.open()
    first, second = await migrations.connect(url), await migrations.connect(url)
    try:
        older, younger = first.transaction(), second.transaction()
        await older.start()
        await first.fetchval("SELECT pg_current_xact_id()")  # the older transaction id
        await younger.start()
        await second.fetchval("SELECT pg_current_xact_id()")
        await second.execute(f"INSERT INTO {migrations.SCHEMA}.journal (seq, body) VALUES (5, '[]')")
        await first.execute(f"INSERT INTO {migrations.SCHEMA}.journal (seq, body) VALUES (6, '[]')")
        await older.commit()
        seen = [row.seq for row in await follower.follow(set())]
        await younger.commit()
        seen += [row.seq for row in await follower.follow(set())]
        seen += [row.seq for row in await follower.follow(set())]
    finally:
        await first.close()
        await second.close()
        await follower.close()

    assert seen == [6, 5]


async def test_a_store_waiting_out_its_backoff_tries_at_once_when_asked_and_takes_writes_again(
        store: PostgresStore, pg: pg_cluster.Cluster, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = postgres.connect
    attempts: list[bool] = []
    reachable = False
    waiting_long = asyncio.Event()  # five attempts failed: the backoff between attempts has grown to 2 s

    async def connect(address: str, timeout: float = migrations.CONNECT_SECONDS) -> object:  # noqa: ASYNC109
        attempts.append(reachable)
        if len(attempts) == 5:
            waiting_long.set()
        if not reachable:
            raise StoreError("cannot reach the database (the test's)")
        return await real_connect(address, timeout)

    monkeypatch.setattr(postgres, "connect", connect)
    database = url.rsplit("/", 1)[1]
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()", database)  # the store's connection dies while idle
    lost = await asyncio.gather(store.submit(change(1)), return_exceptions=True)
    await waiting_long.wait()
    reachable = True  # the database is back

    await store.reconnected()
    answered_down = store.down
    landed = await store.commit(change(2))

    assert isinstance(lost[0], StoreError)
    assert answered_down is None
    assert attempts[-1] is True and attempts.count(True) == 1  # the attempt asked for, not one at the end of the wait
    assert landed > 0
