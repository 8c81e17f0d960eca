"""The client under Tradovate's request limits, against a server of its own with `--rate-limits on`: a penalty
ticket is waited out (`p-time`) and the request sent again with it; `p-captcha` raises at once; the user-level 429
raises `RateLimitedError`. Each test sets its numbers with `POST /sim/limits` (which starts every count afresh)."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli
from client_support import MODES, Driver
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, Api, ServerProcess, running

from tradovate_sim.client import AsyncTradovate, PenaltyCaptchaError, RateLimitedError, Tradovate, TradovateSocket
from tradovate_sim.model.requests import SyncRequest
from tradovate_sim.model.simulator import EndpointRule, LimitsUpdate, Window

LOGIN = "/v1/auth/accesstokenrequest"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory: Path = tmp_path_factory.mktemp("client-limited")
    with running(ServerProcess(directory / "sim.db", directory / "server.log", rate_limits="on")) as process:
        yield process


@pytest.fixture(scope="module")
def raw(limited: ServerProcess) -> Iterator[Api]:
    with Api(limited.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def operator(limited: ServerProcess) -> Iterator[Tradovate]:
    """The admin's client, logged in before any flood (a login flood penalizes the whole client address)."""
    with Tradovate(limited.base_url, ADMIN, ADMIN_PASSWORD) as client:
        client.login()
        yield client


@pytest.fixture(autouse=True)
def fresh(operator: Tradovate) -> Iterator[None]:
    first = operator.sim.limits()
    yield
    operator.sim.configure_limits(LimitsUpdate(enabled=first.enabled, user=first.user, anonymous=first.anonymous,
                                               endpoints=first.endpoints, captcha_after=first.captcha_after,
                                               penalty_max_seconds=first.penalty_max_seconds))


def login_rule(limit: int) -> dict[str, EndpointRule]:
    return {"auth/accesstokenrequest": EndpointRule(limit=limit, seconds=3600, backoff_seconds=1,
                                                    counts_successes=False)}


def wrong_login(raw: Api) -> dict[str, Any]:
    answer: dict[str, Any] = raw.post(LOGIN, {"name": DEMO, "password": "wrong"}).json()
    return answer


PER_PROCESS = "request limits are counted by each process (docs/behaviour.md, request limits)"


@pytest.mark.single_process(PER_PROCESS)
@pytest.mark.parametrize("mode", MODES)
def test_login_penalty_ticket_is_waited_out_and_redeemed(mode: str, limited: ServerProcess, raw: Api,
                                                         operator: Tradovate) -> None:
    operator.sim.configure_limits(LimitsUpdate(endpoints=login_rule(1)))
    assert "errorText" in wrong_login(raw)  # the one failure the rule allows: the next login gets a ticket
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    async def asleep(seconds: float) -> None:
        sleep(seconds)

    driver = Driver(mode, limited.base_url, DEMO, DEMO_PASSWORD, sleep=sleep if mode == "sync" else asleep)
    try:
        assert driver(lambda c: c.auth.me()).name == DEMO
    finally:
        driver.close()
    assert waits and waits[0] == 1.0  # the ticket's p-time, then the login went through with the ticket
    assert driver.session.logins == 1


@pytest.mark.single_process(PER_PROCESS)
def test_captcha_ticket_raises_without_waiting(limited: ServerProcess, raw: Api, operator: Tradovate) -> None:
    operator.sim.configure_limits(LimitsUpdate(endpoints=login_rule(1), captcha_after=2, penalty_max_seconds=7))
    wrong_login(raw)
    assert [wrong_login(raw)["p-captcha"] for _ in range(2)] == [False, False]
    waits: list[float] = []
    with Tradovate(limited.base_url, DEMO, DEMO_PASSWORD, sleep=waits.append) as client, \
            pytest.raises(PenaltyCaptchaError) as raised:
        client.auth.me()
    assert waits == [] and raised.value.wait_seconds == 7


@pytest.fixture
def cli(limited: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(capsys, monkeypatch, tmp_path, limited.base_url)


@pytest.mark.single_process(PER_PROCESS)
def test_the_command_line_says_how_to_end_a_captcha_penalty_of_this_server(raw: Api, operator: Tradovate,
                                                                            cli: Cli) -> None:
    # Arrange: a few wrong passwords (on one machine every user's count the same address) earn a captcha ticket
    operator.sim.configure_limits(LimitsUpdate(endpoints=login_rule(1), captcha_after=1, penalty_max_seconds=7))
    wrong_login(raw)
    wrong_login(raw)

    # Act: the right password, from the command line
    ran = cli.demo("accounts")

    # Assert: exit 3, and the way out that does not take an hour
    assert ran.code == 3 and ran.out == ""
    assert "the server asks a captcha" in ran.err and "restarts (or serve --rate-limits off)" in ran.err, ran.err


def test_user_level_limit_raises_rate_limited(limited: ServerProcess, operator: Tradovate) -> None:
    with Tradovate(limited.base_url, DEMO, DEMO_PASSWORD) as client:
        client.login()
        operator.sim.configure_limits(LimitsUpdate(user=(Window(limit=3, seconds=60.0),)))
        with pytest.raises(RateLimitedError) as raised:
            for _ in range(10):
                client.auth.me()
    assert raised.value.status == 429


@pytest.mark.single_process(PER_PROCESS)
async def test_socket_penalty_ticket_is_waited_out_and_redeemed(limited: ServerProcess,
                                                                operator: Tradovate) -> None:
    operator.sim.configure_limits(LimitsUpdate(endpoints={"user/syncrequest": EndpointRule(
        limit=1, seconds=3600, backoff_seconds=1, counts_successes=True)}))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    async with AsyncTradovate(limited.base_url, DEMO, DEMO_PASSWORD) as client:
        token = await client.fresh_token()

        async def same() -> str:
            return token

        url = client.environment.websocket
        async with TradovateSocket(url, same) as first, TradovateSocket(url, same, sleep=sleep) as second:
            await first.sync(SyncRequest(split_responses=False))
            assert waits == []
            synced = await second.sync(SyncRequest(split_responses=False))  # a ticket first, then redeemed
            assert waits == [1] and synced.snapshot.users
