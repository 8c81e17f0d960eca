"""What the PostgreSQL tests share: the session's throw-away cluster, a fresh database per test, a store on it."""

from collections.abc import AsyncIterator

import cluster as pg_cluster
import pytest

from tradovate_sim.storage.postgres import PostgresStore


@pytest.fixture(scope="module")
def pg() -> pg_cluster.Cluster:
    return pg_cluster.shared()


@pytest.fixture
def url(pg: pg_cluster.Cluster, request: pytest.FixtureRequest) -> str:
    return pg.create_database(request.node.name.lower()[:50])


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    opened = PostgresStore(url)
    await opened.open()
    yield opened
    await opened.close()
