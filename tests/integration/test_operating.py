"""Operating the server (issue 11 §5): `/health`, Prometheus `/metrics` and the access log, against running servers."""

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, Api, Desk, ServerProcess, order
from ws_client import Opener, authorized

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(api: Api) -> Samples:
    """Every sample of `/metrics`, parsed by prometheus-client's own parser, by name and labels."""
    response = api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def requests(samples: Samples, transport: str, operation: str, status: int) -> float:
    return value(samples, "tradovate_sim_requests_total", transport=transport, operation=operation,
                 status=str(status))


class CustomServer(ServerProcess):
    """A server started with extra `serve` flags."""

    def __init__(self, directory: Path, *flags: str) -> None:
        super().__init__(directory / "sim.db", directory / "server.log")
        self.flags = list(flags)

    def command(self) -> list[str]:
        command = super().command()
        if "--quotes" in self.flags:
            at = command.index("--quotes")
            del command[at:at + 2]
        return command + self.flags


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[CustomServer]]:
    servers: list[CustomServer] = []
    yield servers
    for server in servers:
        server.kill()


def start(servers: list[CustomServer], directory: Path, *flags: str) -> tuple[CustomServer, Api]:
    server = CustomServer(directory, *flags)
    servers.append(server)
    server.start()
    return server, Api(server.base_url)


# --- /health --------------------------------------------------------------------------------------


def test_health_answers_200_without_a_token_when_all_is_well(api: Api) -> None:
    # Act
    response = api.get("/health")
    # Assert
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["failing"] == []
    assert body["database"]["ok"] is True
    assert body["marketLoop"] == {"ok": True, "quotes": "manual"}


@pytest.mark.sqlite_only
def test_health_answers_503_naming_the_database_when_the_writer_process_is_killed(
        tmp_path: Path, started: list[CustomServer]) -> None:
    # Arrange
    server, api = start(started, tmp_path)
    assert api.get("/health").status_code == 200
    (writer,) = server.children()
    # Act
    os.kill(writer, signal.SIGKILL)
    response = api.get("/health")
    # Assert
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "unavailable" and body["failing"] == ["database"]
    assert body["database"]["ok"] is False and "writer" in body["database"]["error"]
    api.close()


def test_health_reports_the_market_loop_running_when_quotes_are_synthetic(
        tmp_path: Path, started: list[CustomServer]) -> None:
    # Arrange
    _server, api = start(started, tmp_path, "--quotes", "synthetic")
    # Act
    response = api.get("/health")
    # Assert
    assert response.status_code == 200, response.text
    body = response.json()
    # PostgreSQL: one process leads and runs the loop; one that does not is healthy without it
    if body.get("leader", {"leading": True})["leading"]:
        assert body["marketLoop"] == {"ok": True, "quotes": "synthetic"}
    else:
        assert body["marketLoop"] == {"ok": True, "quotes": "synthetic", "running": False}
    api.close()


# --- /metrics -------------------------------------------------------------------------------------


def test_metrics_count_requests_commits_and_liquidations_by_initiator_when_they_happen(desk: Desk) -> None:
    # Arrange
    api = desk.api
    desk.quote()
    desk.place(order(desk.demo1, qty=2))
    desk.place(order(desk.demo2, qty=1))
    before = scrape(api)
    # Act
    api.get("/v1/auth/me", desk.demo)
    api.get("/v1/no/suchOperation", desk.demo)
    api.get("/completely/elsewhere")
    customer = desk.place({"accountId": desk.demo1, "contractId": desk.front, "admin": False},
                          operation="order/liquidateposition")
    admin = desk.place({"accountId": desk.demo2, "contractId": desk.front, "admin": True}, desk.admin,
                       operation="order/liquidatePosition")
    after = scrape(api)
    # Assert
    assert "orderId" in customer and "orderId" in admin
    delta = {key: after[key] - before.get(key, 0.0) for key in after}

    def moved(name: str, **labels: str) -> float:
        return delta.get((name, tuple(sorted(labels.items()))), 0.0)

    assert moved("tradovate_sim_requests_total", transport="http", operation="auth/me", status="200") == 1
    assert moved("tradovate_sim_requests_total", transport="http", operation="order/liquidatePosition",
                 status="200") == 2
    assert moved("tradovate_sim_requests_total", transport="http", operation="unknown", status="404") == 2
    assert moved("tradovate_sim_request_duration_seconds_count", transport="http",
                 operation="order/liquidatePosition") == 2
    assert moved("tradovate_sim_liquidations_total", initiator="Customer") == 1
    assert moved("tradovate_sim_liquidations_total", initiator="Admin") == 1
    assert moved("tradovate_sim_commits_total", outcome="landed") >= 2
    assert moved("tradovate_sim_commit_duration_seconds_count") >= 2
    # each group of commits the writer landed: at least one, never more than the commits
    assert 1 <= moved("tradovate_sim_writer_sync_duration_seconds_count") <= moved(
        "tradovate_sim_commit_duration_seconds_count")
    assert moved("tradovate_sim_writer_sync_duration_seconds_sum") > 0
    assert value(after, "tradovate_sim_writer_queue_depth") == 0
    assert ("tradovate_sim_auto_liq_breaches_total", ()) in after
    labels = {dict(key[1]).get("operation") for key in after if key[0] == "tradovate_sim_requests_total"}
    assert "no/suchOperation" not in labels and "completely/elsewhere" not in labels


async def test_metrics_count_websocket_requests_and_open_sockets_when_a_socket_is_used(
        api: Api, desk: Desk, ws: Opener) -> None:
    # Arrange
    before = scrape(api)
    # Act
    socket = await ws(desk.demo)
    await socket.call("auth/me")
    answer = await socket.request("no/suchOperation")
    during = scrape(api)
    await socket.close()
    # Assert
    assert answer["s"] == 404
    assert requests(during, "ws", "authorize", 200) - requests(before, "ws", "authorize", 200) == 1
    assert requests(during, "ws", "auth/me", 200) - requests(before, "ws", "auth/me", 200) == 1
    assert requests(during, "ws", "unknown", 404) - requests(before, "ws", "unknown", 404) == 1
    assert value(during, "tradovate_sim_websocket_sockets") >= 1


# --- the access log -------------------------------------------------------------------------------


def use_the_server(server: ServerProcess, api: Api) -> tuple[str, int]:
    """Log in (the password in the body), use the token over HTTP and a WebSocket; the token and the user id."""
    login = api.login(DEMO, DEMO_PASSWORD)
    token, user_id = login["accessToken"], login["userId"]
    accounts = api.get("/v1/account/list", token)
    assert accounts.status_code == 200
    assert api.post("/v1/order/placeorder", order(accounts.json()[0]["id"]), token).status_code == 200
    assert api.get("/v1/auth/me", "not-a-token").status_code == 401

    async def socket() -> None:
        client = await authorized(server.base_url, token)
        await client.call("auth/me")
        await client.close()

    asyncio.run(socket())
    api.token(ADMIN, ADMIN_PASSWORD)
    return token, user_id


def wait_for(server: ServerProcess, text: str) -> str:
    """The server's log once it holds `text` (the socket's line is written as the server sees the close)."""
    with httpx.Client(base_url=server.base_url) as http:
        for _ in range(200):
            log = server.log()
            if text in log:
                return log
            http.get("/health")
    raise AssertionError(f"{text!r} never logged:\n{server.log()}")


def test_access_log_is_plain_lines_without_secrets_when_turned_on(tmp_path: Path, started: list[CustomServer]) -> None:
    # Arrange
    server, api = start(started, tmp_path, "--access-log")
    # Act
    token, user_id = use_the_server(server, api)
    log = wait_for(server, "WEBSOCKET /v1/websocket")
    # Assert
    lines = log.splitlines()
    assert any(" POST /v1/auth/accesstokenrequest 200 " in line and "user=-" in line for line in lines), log
    assert any(" GET /v1/account/list 200 " in line and f"user={user_id}" in line for line in lines), log
    assert any(" GET /v1/auth/me 401 " in line for line in lines), log
    closed = [line for line in lines if "WEBSOCKET /v1/websocket" in line]
    assert len(closed) == 1 and "requests=2" in closed[0] and f"user={user_id}" in closed[0], closed
    for secret in (DEMO_PASSWORD, ADMIN_PASSWORD, token, "not-a-token", "isAutomated"):
        assert secret not in log, secret
    api.close()


def test_access_log_is_one_json_object_per_line_without_secrets_when_json_is_chosen(
        tmp_path: Path, started: list[CustomServer]) -> None:
    # Arrange
    server, api = start(started, tmp_path, "--access-log", "--log-format", "json")
    # Act
    token, user_id = use_the_server(server, api)
    log = wait_for(server, '"method":"WEBSOCKET"')
    # Assert
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [e for e in entries if e["logger"] == "tradovate_sim.access"]
    listed = [e for e in access if e["path"] == "/v1/account/list"]
    assert listed and listed[0]["method"] == "GET" and listed[0]["status"] == 200, access
    assert listed[0]["userId"] == user_id and isinstance(listed[0]["durationMs"], float)
    assert {"time", "level", "message", "client"} <= listed[0].keys()
    login = [e for e in access if e["path"] == "/v1/auth/accesstokenrequest"]
    assert login and all("userId" not in e for e in login)
    (closed,) = [e for e in access if e["method"] == "WEBSOCKET"]
    assert closed["requests"] == 2 and closed["userId"] == user_id and closed["status"] == 1000, closed
    for secret in (DEMO_PASSWORD, ADMIN_PASSWORD, token, "not-a-token", "isAutomated"):
        assert secret not in log, secret
    api.close()


def test_access_log_is_off_when_not_asked_for(server: ServerProcess, api: Api) -> None:
    # Act
    api.get("/health")
    # Assert
    assert "GET /health" not in server.log()


def test_metrics_expose_event_loop_lag_and_garbage_collection_pauses(api: Api) -> None:
    # Arrange / Act: the probe wakes every 10 ms from the start; scrape until it has been seen waking
    samples = scrape(api)
    for _ in range(100):
        if value(samples, "tradovate_sim_event_loop_lag_seconds_count") > 0:
            break
        samples = scrape(api)
    # Assert: the lag histogram fills; collections are counted per generation (every series present from the start)
    assert value(samples, "tradovate_sim_event_loop_lag_seconds_count") > 0
    assert ("tradovate_sim_event_loop_lag_seconds_bucket", (("le", "0.01"),)) in samples
    for generation in ("0", "1", "2"):
        assert ("tradovate_sim_gc_collections_total", (("generation", generation),)) in samples
        assert ("tradovate_sim_gc_pause_seconds_count", (("generation", generation),)) in samples
