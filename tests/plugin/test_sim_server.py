"""`SimServer` and `Sim` outside pytest's fixtures: start, options, a failed start, a server that died."""

import socket
from pathlib import Path

import httpx
import pytest

from tradovate_sim.testing import ServerError, Sim, SimError, SimServer
from tradovate_sim.testing import server as server_module
from tradovate_sim.testing.server import free_port as real_free_port


def test_a_server_starts_with_its_options_and_a_dead_one_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()  # another process took the port the server was given: it starts on another one
    ports = iter([taken.getsockname()[1]])
    monkeypatch.setattr(server_module, "free_port", lambda: next(ports, real_free_port()))

    with taken, SimServer(rate_limits="off") as server:
        directory = server.db.parent
        assert server.port != taken.getsockname()[1]
        assert server.log().lower().count("address already in use") == 1
        assert server.alive() and server.db.exists()
        assert httpx.get(f"{server.url}/health").status_code == 200
        sim = Sim(server)
        try:
            sim.reset()
            assert sim.query("auth/me")["name"] == "admin"
            limits = sim.http.get("/sim/limits", headers=sim.admin.headers).json()
            assert limits["enabled"] is False
            assert "first start" in server.log()

            assert server.process is not None
            server.process.kill()  # the server dies under the test
            server.process.wait(10)

            with pytest.raises(SimError, match="the tradovate-sim server is not running; its output:\n"):
                sim.now()
        finally:
            sim.close()
    assert not server.alive()
    assert not directory.exists()  # the temporary database is removed


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match=r"exited with status 1 while starting:\n.*is a directory"):
        SimServer(db=tmp_path).start()


def test_options_are_checked_before_anything_starts() -> None:
    with pytest.raises(ValueError, match="rate_limits: expected on or off, got 'maybe'"):
        SimServer(rate_limits="maybe")


def test_passwords_starting_with_a_dash_reach_the_server_as_values() -> None:
    server = SimServer()
    server.admin_password, server.demo_password = "-admin", "--demo"
    try:
        command = server.command()
    finally:
        server.stop()  # removes its temporary directory; nothing was started

    assert "--admin-password=-admin" in command and "--demo-password=--demo" in command


def test_the_public_names_of_tradovate_sim_testing() -> None:
    import tradovate_sim.testing

    assert set(tradovate_sim.testing.__all__) == {"DEFAULT_START_TIME", "Credentials", "ServerError", "Sim",
                                                  "SimError", "SimServer", "Trader"}
