"""Review of the durable store behind a real server: kills and stops in the middle of a burst of orders, the
writer process after the server is gone, and a restart while the old writer still has commits to land."""

import contextlib
import ctypes
import fcntl
import os
import signal
import sys
import termios
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, OPEN_TIME, Api, ServerProcess, limit, quote

pytestmark = pytest.mark.sqlite_only  # reads the SQLite file or its writer process


def exited(pid: int) -> bool:
    """Gone, or a zombie nobody has reaped yet (a container's init may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_until(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


def queued_bytes(pid: int) -> int:
    """Bytes waiting unread on the stdin of process `pid` (a pipe, or a socket under uvloop): its fd 0 is copied
    into this process with pidfd_getfd(2) and asked with FIONREAD."""
    syscall = ctypes.CDLL(None, use_errno=True).syscall
    pidfd = os.pidfd_open(pid)
    try:
        fd = syscall(438, pidfd, 0, 0)  # SYS_pidfd_getfd (the same number on every Linux architecture)
        if fd < 0:
            pytest.skip(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
        try:
            count = bytearray(4)
            fcntl.ioctl(fd, termios.FIONREAD, count)
            return int.from_bytes(count, sys.byteorder)
        finally:
            os.close(fd)
    finally:
        os.close(pidfd)


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


def start(servers: list[ServerProcess], db: Path) -> tuple[ServerProcess, Api]:
    server = ServerProcess(db, db.with_suffix(f".{len(servers)}.log"))
    servers.append(server)
    server.start()
    return server, Api(server.base_url)


@pytest.mark.parametrize("how", ["kill", "term"])
def test_acknowledged_orders_are_whole_and_the_writer_exits_when_the_server_ends_mid_burst(
        tmp_path: Path, servers: list[ServerProcess], how: str) -> None:
    # Arrange: eight clients placing resting orders as fast as they can
    db = tmp_path / "burst.db"
    server, api = start(servers, db)
    admin, demo = api.token(ADMIN, ADMIN_PASSWORD), api.token(DEMO, DEMO_PASSWORD)
    api.set_clock(OPEN_TIME, admin)
    if api.get("/v1/auth/me", admin).status_code != 200:
        admin, demo = api.token(ADMIN, ADMIN_PASSWORD), api.token(DEMO, DEMO_PASSWORD)
    api.sim("quote", quote(), admin)
    accounts = [a["id"] for a in api.entities("account", admin) if a["name"] in ("DEMO1", "DEMO2")]
    (writer,) = server.children()
    acknowledged: list[int] = []
    stop = threading.Event()

    def place(worker: int) -> None:
        with Api(server.base_url) as client, contextlib.suppress(httpx.HTTPError):
            n = 0
            while not stop.is_set():
                response = client.post("/v1/order/placeorder", limit(accounts[worker % 2], 6000.0 + n * 0.25), demo)
                if response.status_code != 200:
                    return
                acknowledged.append(int(response.json()["orderId"]))
                n += 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        for worker in range(8):
            pool.submit(place, worker)
        wait_until(lambda: len(acknowledged) >= 60, "60 orders acknowledged")
        # Act
        if how == "kill":
            server.kill()
        else:
            assert server.stop() in (0, -signal.SIGTERM)
        stop.set()
    api.close()
    # Assert
    wait_until(lambda: exited(writer), "the writer process exits after its server")
    server, api = start(servers, db)
    admin = api.token(ADMIN, ADMIN_PASSWORD)
    orders = {o["id"] for o in api.entities("order", admin)}
    versions = {v["orderId"] for v in api.entities("orderVersion", admin)}
    commands = {c["orderId"] for c in api.entities("command", admin)}
    assert set(acknowledged) <= orders
    assert orders == versions == commands  # every stored order is whole: no commit landed in part
    api.close()


def test_a_restarted_server_keeps_working_when_the_old_writer_lands_its_last_commits_late(
        tmp_path: Path, servers: list[ServerProcess]) -> None:
    # Arrange: a commit waits in the pipe of a writer that is slow (SIGSTOP stands in for a stalled disk)
    db = tmp_path / "late.db"
    server, api = start(servers, db)
    admin = api.token(ADMIN, ADMIN_PASSWORD)
    demo1 = next(a["id"] for a in api.entities("account", admin) if a["name"] == "DEMO1")
    (writer,) = server.children()
    os.kill(writer, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(
                lambda: Api(server.base_url).post("/v1/cashBalance/changedemobalance",
                                                  {"accountId": demo1, "cashChange": 1.0}, admin))
            wait_until(lambda: queued_bytes(writer) > 0, "the commit reaches the writer's pipe")
            server.kill()
            with pytest.raises(httpx.HTTPError):
                in_flight.result()
        api.close()
        # Act: the server restarts while the old writer still holds the file; the old one then lands what it had
        with ThreadPoolExecutor(max_workers=1) as pool:
            restarted = pool.submit(start, servers, db)
            time.sleep(1.0)
            assert not restarted.done()  # the new writer waits for the old one (the single-writer lock)
            os.kill(writer, signal.SIGCONT)
            server, api = restarted.result(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have landed its commit and exited already
            os.kill(writer, signal.SIGCONT)
    wait_until(lambda: exited(writer), "the old writer lands its last commit and exits")
    balance = next(c for c in api.entities("cashBalance", admin) if c["accountId"] == demo1)["amount"]
    answer = api.post("/v1/cashBalance/changedemobalance", {"accountId": demo1, "cashChange": 2.0}, admin)
    after = next(c for c in api.entities("cashBalance", admin) if c["accountId"] == demo1)["amount"]
    api.close()
    # Assert: the late commit is in the new server's memory, and the new server commits
    assert answer.status_code == 200, answer.text
    assert after == balance + 2.0
