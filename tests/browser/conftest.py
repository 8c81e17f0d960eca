"""Fixtures of the console's browser tests: one `tradovate-sim serve` (the integration harness's) and one headless
Debian chromium driven by Playwright for the whole session; a fresh page per test. Chromium is installed by the
Makefile (`make test` depends on it); a missing browser is an error, never a skip.

Screenshots of the main pages go to `tests/browser/artifacts/` (git-ignored)."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from console_page import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, PageErrors
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    OPEN_TIME,
    Api,
    Desk,
    ServerProcess,
    Tokens,
    running,
)


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory: Path = tmp_path_factory.mktemp("console")
    # `--clock`: a restarted server (the reconnection test) is back in the ES session with ESZ6 trading, whatever the
    # real date; every test's reset pins OPEN_TIME anyway
    with running(ServerProcess(directory / "sim.db", directory / "server.log", clock=OPEN_TIME)) as process:
        yield process


@pytest.fixture(scope="module")
def console_api(console_server: ServerProcess) -> Iterator[Api]:
    client = Api(console_server.base_url)
    try:
        yield client
    finally:
        client.close()


# Module scope, not session: the sync driver keeps an event loop running in this thread until it stops, and the
# asynchronous tests collected after this module need the thread free of one.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (or: apt-get install chromium)")
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def desk(console_api: Api) -> Desk:
    """The seeded state at an open ES session (as the integration suite's `desk`)."""
    tokens = Tokens(console_api)
    admin = tokens.of(ADMIN, ADMIN_PASSWORD)
    console_api.set_clock(OPEN_TIME, admin)
    console_api.reset(admin)
    admin = tokens.of(ADMIN, ADMIN_PASSWORD)
    demo = tokens.of(DEMO, DEMO_PASSWORD)
    accounts = {a["name"]: a for a in console_api.entities("account", admin)}
    return Desk(
        api=console_api, admin=admin, demo=demo, demo1=accounts["DEMO1"]["id"], demo2=accounts["DEMO2"]["id"],
        template=accounts["TEMPLATE"]["id"], demo_user=accounts["DEMO1"]["userId"],
        admin_user=accounts["TEMPLATE"]["userId"], front=console_api.find("contract", FRONT, admin)["id"],
    )


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(browser: Browser, console_server: ServerProcess, page_errors: PageErrors) -> Iterator[Page]:
    context = browser.new_context(base_url=console_server.base_url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    opened.on("pageerror", lambda error: page_errors.add(str(error)))
    opened.on("console", lambda message: page_errors.add(message.text) if message.type == "error" else None)
    try:
        yield opened
    finally:
        context.close()
    assert not page_errors.unexpected(), f"errors in the page: {page_errors.unexpected()}"
