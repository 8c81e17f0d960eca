"""Request limits and penalty tickets against running servers (issue 12, section 4).

A server of its own runs with `--rate-limits on` (the suite's shared server runs with them off); each test first sets
its numbers with `POST /sim/limits`, which also starts every count afresh. Waiting is only ever for a penalty's
`p-time` or a shortened window to pass (seconds); nothing asserts how long anything took.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, Api, ServerProcess, running
from ws_client import authorized

LOGIN = "/v1/auth/accesstokenrequest"
ME = "/v1/auth/me"
BURST = 30


PER_PROCESS = "request limits are counted by each process (docs/behaviour.md, request limits)"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    directory: Path = tmp_path_factory.mktemp("limited")
    with running(ServerProcess(directory / "sim.db", directory / "server.log", rate_limits="on")) as process:
        yield process


@pytest.fixture(scope="module")
def api(limited: ServerProcess) -> Iterator[Api]:
    with Api(limited.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def start(api: Api) -> tuple[str, dict[str, Any]]:
    """The admin's token, taken before any flood (a login flood penalizes the whole client address), and the
    numbers the server started with."""
    token = api.token(ADMIN, ADMIN_PASSWORD)
    return token, api.get("/sim/limits", token).json()


@pytest.fixture(autouse=True)
def fresh(api: Api, start: tuple[str, dict[str, Any]]) -> None:
    """Each test starts from the server's first numbers and no counts (POST /sim/limits starts them afresh)."""
    token, limits = start
    set_limits(api, token, **limits)


@pytest.fixture
def admin(start: tuple[str, dict[str, Any]]) -> str:
    return start[0]


def set_limits(api: Api, token: str, **body: Any) -> dict[str, Any]:
    response = api.post("/sim/limits", body, token)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def login(api: Api, password: str, **extra: Any) -> dict[str, Any]:
    response = api.post(LOGIN, {"name": DEMO, "password": password, **extra})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def wait_out(answer: dict[str, Any]) -> None:
    time.sleep(answer["p-time"] + 0.05)


def test_defaults_are_tradovates_numbers_when_on(api: Api, admin: str) -> None:
    token = admin
    limits = set_limits(api, token)  # an empty update: the numbers as they are
    assert limits["enabled"] is True
    assert limits["user"] == [{"limit": 5000, "seconds": 3600.0}, {"limit": 5000, "seconds": 60.0},
                              {"limit": 5000, "seconds": 1.0}]
    assert limits["endpoints"]["auth/accesstokenrequest"] == {
        "limit": 5, "seconds": 3600.0, "backoffSeconds": 15, "countsSuccesses": False}
    assert api.get("/sim/limits", token).json() == limits


def test_burst_gets_429_with_an_empty_body_then_passes_after_the_window(api: Api, admin: str) -> None:
    token = admin
    set_limits(api, token, user=[{"limit": 10, "seconds": 2}])
    statuses = [api.get(ME, token) for _ in range(BURST)]
    codes = [r.status_code for r in statuses]
    assert codes[:10] == [200] * 10 and 429 in codes
    refused = statuses[codes.index(429)]
    assert refused.content == b"" and refused.headers["content-length"] == "0"
    deadline = time.monotonic() + 60
    while api.get(ME, token).status_code == 429:  # the window rolls on: admitted again within 2 s + a bucket
        assert time.monotonic() < deadline
        time.sleep(0.25)


@pytest.mark.single_process(PER_PROCESS)
def test_login_flood_gets_a_ticket_and_a_correct_password_too_until_redeemed(api: Api, admin: str) -> None:
    token = admin
    set_limits(api, token, endpoints={"auth/accessTokenRequest": {
        "limit": 5, "seconds": 3600, "backoffSeconds": 1, "countsSuccesses": False}})
    for _ in range(5):
        assert "errorText" in login(api, "wrong")
    flood = login(api, "wrong")
    assert set(flood) == {"p-ticket", "p-time", "p-captcha"} and flood["p-time"] == 1 and flood["p-captcha"] is False
    during = login(api, DEMO_PASSWORD)  # right password, no ticket: cannot be told from a wrong one
    assert set(during) == {"p-ticket", "p-time", "p-captcha"} and "accessToken" not in during
    early = login(api, DEMO_PASSWORD, **{"p-ticket": during["p-ticket"]})
    assert early["p-ticket"] == during["p-ticket"] and early["p-time"] >= 1  # too early: the same ticket again
    wait_out(during)
    redeemed = login(api, DEMO_PASSWORD, **{"p-ticket": during["p-ticket"]})
    assert "accessToken" in redeemed, redeemed
    assert api.get(ME, redeemed["accessToken"]).status_code == 200


@pytest.mark.single_process(PER_PROCESS)
def test_ticket_redeemed_by_a_wrong_password_answers_the_error_once(api: Api, admin: str) -> None:
    token = admin
    set_limits(api, token, endpoints={"auth/accesstokenrequest": {
        "limit": 2, "seconds": 3600, "backoffSeconds": 1, "countsSuccesses": False}})
    for _ in range(2):
        assert "errorText" in login(api, "wrong")
    ticket = login(api, "wrong")
    wait_out(ticket)
    assert "errorText" in login(api, "wrong", **{"p-ticket": ticket["p-ticket"]})  # executed, and wrong
    again = login(api, "wrong", **{"p-ticket": ticket["p-ticket"]})  # used: a new violation, a longer wait
    assert again["p-ticket"] != ticket["p-ticket"] and again["p-time"] == 2


@pytest.mark.single_process(PER_PROCESS)
def test_login_ticket_may_come_as_a_bearer_token(api: Api, admin: str) -> None:
    token = admin
    set_limits(api, token, endpoints={"auth/accesstokenrequest": {
        "limit": 1, "seconds": 3600, "backoffSeconds": 1, "countsSuccesses": False}})
    assert "errorText" in login(api, "wrong")
    ticket = login(api, DEMO_PASSWORD)
    wait_out(ticket)
    response = api.post(LOGIN, {"name": DEMO, "password": DEMO_PASSWORD}, ticket["p-ticket"])
    assert "accessToken" in response.json()


@pytest.mark.single_process(PER_PROCESS)
def test_penalty_answer_asks_a_captcha_after_repeated_violations(api: Api, admin: str) -> None:
    token = admin
    set_limits(api, token, captchaAfter=2, penaltyMaxSeconds=7, endpoints={"auth/accesstokenrequest": {
        "limit": 1, "seconds": 3600, "backoffSeconds": 1, "countsSuccesses": False}})
    assert "errorText" in login(api, "wrong")
    answers = [login(api, "wrong") for _ in range(4)]
    assert [(a["p-time"], a["p-captcha"]) for a in answers] == [(1, False), (2, False), (7, True), (7, True)]


@pytest.mark.single_process(PER_PROCESS)
def test_renew_counts_successes_and_answers_a_ticket_past_its_limit(api: Api, admin: str) -> None:
    token = admin
    set_limits(api, token, endpoints={"auth/renewaccesstoken": {
        "limit": 2, "seconds": 3600, "backoffSeconds": 1, "countsSuccesses": True}})
    demo = api.token(DEMO, DEMO_PASSWORD)
    for _ in range(2):
        assert "accessToken" in api.get("/v1/auth/renewaccesstoken", demo).json()
    assert "p-ticket" in api.get("/v1/auth/renewaccesstoken", demo).json()


@pytest.mark.single_process(PER_PROCESS)
async def test_websocket_requests_count_like_rest_and_get_a_bare_429(api: Api, admin: str,
                                                                     limited: ServerProcess) -> None:
    token = admin
    set_limits(api, token, user=[{"limit": 6, "seconds": 60}])
    demo = api.token(DEMO, DEMO_PASSWORD)  # 0 requests of demo so far (a login is not a user's request)
    assert api.get(ME, demo).status_code == 200  # 1 on REST
    client = await authorized(limited.base_url, demo)  # authorize is not counted
    try:
        answers = [await client.request("auth/me") for _ in range(7)]
        assert [a["s"] for a in answers] == [200] * 5 + [429] * 2
        assert answers[-1] == {"s": 429, "i": answers[-1]["i"]}
        assert api.get(ME, demo).status_code == 429  # the socket's requests used up the REST allowance too
    finally:
        await client.close()


@pytest.mark.single_process(PER_PROCESS)
async def test_websocket_penalty_ticket_is_a_200_reply(api: Api, admin: str, limited: ServerProcess) -> None:
    token = admin
    set_limits(api, token, endpoints={"user/syncrequest": {
        "limit": 1, "seconds": 3600, "backoffSeconds": 1, "countsSuccesses": True}})
    demo = api.token(DEMO, DEMO_PASSWORD)
    first = await authorized(limited.base_url, demo)
    second = await authorized(limited.base_url, demo)
    try:
        assert (await first.request("user/syncrequest", {"splitResponses": False}))["s"] == 200
        answer = await second.request("user/syncrequest", {"splitResponses": False})
        assert answer["s"] == 200 and set(answer["d"]) == {"p-ticket", "p-time", "p-captcha"}
        wait_out(answer["d"])
        retry = {"splitResponses": False, "p-ticket": answer["d"]["p-ticket"]}
        redeemed = await second.request("user/syncrequest", retry)
        assert redeemed["s"] == 200 and "p-ticket" not in redeemed["d"]
    finally:
        await first.close()
        await second.close()


def test_sim_limits_names_the_bad_field_and_needs_an_admin(api: Api, admin: str) -> None:
    token = admin
    bad = api.post("/sim/limits", {"user": [{"limit": -1, "seconds": 1}]}, token)
    assert bad.status_code == 400 and "user[0]" in bad.json()["errorText"]
    assert api.post("/sim/limits", {"captchaAfter": "x"}, token).status_code == 400
    demo = api.token(DEMO, DEMO_PASSWORD)
    assert api.post("/sim/limits", {}, demo).status_code == 401


def test_limits_off_accepts_the_same_burst(server: ServerProcess) -> None:
    """The suite's shared server runs with `--rate-limits off`: the same numbers limit nothing."""
    with Api(server.base_url) as api:
        token = api.token(ADMIN, ADMIN_PASSWORD)
        limits = api.get("/sim/limits", token).json()
        assert limits["enabled"] is False
        set_limits(api, token, user=[{"limit": 10, "seconds": 2}], endpoints={"auth/accesstokenrequest": {
            "limit": 1, "seconds": 3600, "backoffSeconds": 1, "countsSuccesses": False}})
        try:
            assert [api.get(ME, token).status_code for _ in range(BURST)] == [200] * BURST
            for _ in range(3):
                assert "errorText" in api.post(LOGIN, {"name": DEMO, "password": "wrong"}).json()
        finally:
            set_limits(api, token, user=limits["user"], endpoints=limits["endpoints"])


def test_off_switch_in_the_environment_is_read(tmp_path: Path) -> None:
    process = ServerProcess(tmp_path / "off.db", tmp_path / "server.log", rate_limits="off")
    process.start()
    try:
        with httpx.Client(base_url=process.base_url) as client:
            login_answer = client.post(LOGIN, json={"name": ADMIN, "password": ADMIN_PASSWORD}).json()
            headers = {"Authorization": f"Bearer {login_answer['accessToken']}"}
            assert client.get("/sim/limits", headers=headers).json()["enabled"] is False
    finally:
        process.stop()
