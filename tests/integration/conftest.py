"""Fixtures of the HTTP integration suite.

One server process serves the whole session; before each test that asks for `desk` the clock is set to an
open ES session (2026-11-24 15:00 UTC) and `POST /sim/reset` brings the database back to the freshly seeded
state, so tests never depend on the real date or on each other. Durability tests start their own servers.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    OPEN_TIME,
    TEST_DB,
    TEST_WORKERS,
    Api,
    Desk,
    ServerProcess,
    Tokens,
    running,
)
from ws_client import Opener, WsClient, authorized


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL (TRADOVATE_SIM_TEST_DB=postgres) the tests of the SQLite store itself are deselected (and
    counted as such in pytest's summary); with several workers (TRADOVATE_SIM_TEST_WORKERS=2) the tests marked
    `single_process` are skipped with their reason."""
    if TEST_DB != "postgres":
        return
    if TEST_WORKERS > 1:
        for item in items:
            marker = item.get_closest_marker("single_process")
            if marker is not None:
                item.add_marker(pytest.mark.skip(reason=f"one process only: {marker.args[0]}"))
    kept = [item for item in items if item.get_closest_marker("sqlite_only") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory: Path = tmp_path_factory.mktemp("server")
    with running(ServerProcess(directory / "sim.db", directory / "server.log")) as process:
        yield process


@pytest.fixture(scope="session")
def api(server: ServerProcess) -> Iterator[Api]:
    client = Api(server.base_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def tokens(api: Api) -> Tokens:
    return Tokens(api)


@pytest.fixture
def desk(api: Api, tokens: Tokens) -> Desk:
    admin = tokens.of(ADMIN, ADMIN_PASSWORD)
    api.set_clock(OPEN_TIME, admin)  # before the reset, so that the contracts are listed for this date
    api.reset(admin)
    admin = tokens.of(ADMIN, ADMIN_PASSWORD)
    demo = tokens.of(DEMO, DEMO_PASSWORD)
    accounts = {a["name"]: a for a in api.entities("account", admin)}
    return Desk(
        api=api, admin=admin, demo=demo, demo1=accounts["DEMO1"]["id"], demo2=accounts["DEMO2"]["id"],
        template=accounts["TEMPLATE"]["id"], demo_user=accounts["DEMO1"]["userId"],
        admin_user=accounts["TEMPLATE"]["userId"], front=api.find("contract", FRONT, admin)["id"],
    )


@pytest.fixture
async def ws(server: ServerProcess) -> AsyncIterator[Opener]:
    """Opens authorized sockets on the session's server; closes them after the test."""
    opened: list[WsClient] = []

    async def open_socket(token: str) -> WsClient:
        client = await authorized(server.base_url, token)
        opened.append(client)
        return client

    yield open_socket
    await asyncio.gather(*(client.close() for client in opened))
