"""A throwaway `tradovate-sim serve` for tests: its own process on a free loopback port, its own database file,
manual quotes, a frozen clock, and passwords of its own (`admin_password`, `demo_password`: random, so that a test
never talks to another server that took the port first).

A subprocess rather than uvicorn in a thread of the test process: the server freezes and retunes the garbage
collector and runs a writer process of its own; neither should leak into the process
that runs the user's tests (or their event loop). Starting it costs about the same either way (the imports
dominate; see docs/behaviour.md, "Testing your bot").
"""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import TracebackType

import httpx

ADMIN_NAME = "admin"
DEMO_NAME = "demo"
BIND_ATTEMPTS = 3


class ServerError(RuntimeError):
    """The test server did not start (its output is in the message) or died."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SimServer:
    """One server process. `start()` returns once it answers HTTP; `stop()` ends it (SIGTERM, then SIGKILL).

    `db` is the database file (default: a fresh file in a temporary directory removed by `stop()`); a file that
    already holds a database is reused as it is. `rate_limits` is `on` (Tradovate's limits, as the real one) or
    `off`; `catalogue` a TOML file of extra products; `start_time` (`--clock`) freezes the server's clock there from
    its start, so that a new database is seeded on that date, whatever the real one; `calendar_cache` a directory
    where the CME calendar is kept between starts (`TRADOVATE_SIM_CALENDAR_CACHE`; default none: each start builds
    it from the library, about 1.3 s of CPU)."""

    def __init__(self, *, db: Path | str | None = None, rate_limits: str = "on", catalogue: Path | str | None = None,
                 port: int | None = None, startup_timeout: float = 60.0, start_time: datetime | None = None,
                 calendar_cache: Path | str | None = None) -> None:
        if rate_limits not in ("on", "off"):
            raise ValueError(f"rate_limits: expected on or off, got {rate_limits!r}")
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        if db is None:
            self._directory = tempfile.TemporaryDirectory(prefix="tradovate-sim-")
            db = Path(self._directory.name) / "sim.db"
        self.db = Path(db)
        self.rate_limits = rate_limits
        self.catalogue = None if catalogue is None else Path(catalogue)
        self.start_time = start_time
        self.calendar_cache = None if calendar_cache is None else Path(calendar_cache).absolute()
        self._free_port = port is None
        self.port = port or free_port()
        self.admin_password = secrets.token_urlsafe(12)  # each start sets them (--admin-password, --demo-password)
        self.demo_password = secrets.token_urlsafe(12)
        self.startup_timeout = startup_timeout
        self.log_path = self.db.with_name(self.db.name + ".log")
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: float | None = None  # how long the last start took

    @property
    def url(self) -> str:
        """The server's root (`/sim/*`, `/health`); the Tradovate API is under `/v1`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/websocket"

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "tradovate_sim.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--db", str(self.db.absolute()), "--seed", "demo",
                   "--quotes", "manual", "--rate-limits", self.rate_limits, "--synchronous", "NORMAL",
                   "--admin-user", ADMIN_NAME, f"--admin-password={self.admin_password}",
                   f"--demo-password={self.demo_password}"]  # `=`: a value may start with "-"
        if self.catalogue is not None:
            command += ["--catalogue", str(self.catalogue.absolute())]
        if self.start_time is not None:
            command += ["--clock", self.start_time.isoformat()]
        return command

    def start(self) -> "SimServer":
        if self.process is not None:
            raise ServerError("the server is already started")
        began = time.perf_counter()
        self.db.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, BIND_ATTEMPTS + 1):
            if self._launch():
                self.start_seconds = time.perf_counter() - began
                return self
            # the free port was taken before the server bound it (another process on the machine): another port
            if not self._free_port or attempt == BIND_ATTEMPTS:
                break
            self.port = free_port()
        raise ServerError(f"tradovate-sim could not bind a port ({self.url}):\n{self.log()}")

    def _launch(self) -> bool:
        """Start the process and wait until it answers as ours; False when its port was taken."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TRADOVATE_SIM_")}
        environment["TRADOVATE_SIM_PASSWORD_HASHING"] = "fast"  # a throwaway server: logins in microseconds
        if self.calendar_cache is not None:
            environment["TRADOVATE_SIM_CALENDAR_CACHE"] = str(self.calendar_cache)
        logged = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            process = self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                                      stderr=subprocess.STDOUT, env=environment)
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    self.process = None
                    output = self.log()[logged:]
                    if "address already in use" in output.lower():
                        return False
                    raise ServerError(f"tradovate-sim exited with status {process.returncode} while starting:\n"
                                      f"{output}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/health").status_code == 200 and self._answers_as_ours(client):
                        return True
                time.sleep(0.02)
        self.stop()
        raise ServerError(f"tradovate-sim did not answer within {self.startup_timeout} s:\n{self.log()}")

    def _answers_as_ours(self, client: httpx.Client) -> bool:
        """The server on the port takes this instance's admin password (its own, random): it is not another one
        that got the port first."""
        answer = client.post("/v1/auth/accesstokenrequest",
                             json={"name": ADMIN_NAME, "password": self.admin_password})
        return answer.status_code == 200 and "accessToken" in answer.json()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        try:
            self._end(timeout)
        finally:
            if self._directory is not None:
                self._directory.cleanup()
                self._directory = None

    def restart(self, timeout: float = 15.0) -> "SimServer":
        """Stop the process and start it again on the same database (on the same port unless another process took
        it): the start sets the admin's and demo's passwords to this instance's again."""
        self._end(timeout)
        return self.start()

    def _end(self, timeout: float) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def log(self) -> str:
        """What the server printed (its start lines, warnings and errors)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> "SimServer":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
