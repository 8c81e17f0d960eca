"""What the benchmarks share: a `tradovate-sim serve` subprocess on loopback, a raw HTTP/1.1 keep-alive client,
the machine's description, and replacing a generated block of RESULTS.md."""

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`tradovate-sim serve` in a subprocess with its own database in `directory` (manual quotes, FULL sync)."""

    def __init__(self, directory: Path, *, db_name: str, admin_password: str, demo_password: str | None = None,
                 db: str | None = None, workers: int = 1) -> None:
        self.port = free_port()
        self.workers = workers
        self.log_path = directory / "server.log"
        self.command = [sys.executable, "-m", "tradovate_sim.cli", "serve", "--host", "127.0.0.1",
                        "--port", str(self.port), "--db", db or f"sqlite:///{directory / db_name}",
                        "--admin-password", admin_password, "--seed", "demo", "--quotes", "manual",
                        "--synchronous", "FULL"]
        if demo_password is not None:
            self.command += ["--demo-password", demo_password]
        if workers > 1:
            self.command += ["--workers", str(workers)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADOVATE_SIM_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            if self.answers() and self.log().count("  REST       http") >= self.workers:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.log()}")

    def answers(self) -> bool:
        """Whether the server answers an unauthenticated `auth/me` (with 401)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2.0) as sock:
                sock.sendall(b"GET /v1/auth/me HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                return sock.recv(64).startswith(b"HTTP/1.1 401")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def cpu_seconds(self) -> float:
        """User + system CPU the server process (all its threads) and its live children (the store's writer
        process) have used so far."""
        return process_cpu_seconds([self.pid, *self.children()])

    def children(self) -> list[int]:
        found: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(pid) for pid in (task / "children").read_text().split()]
        return found

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def stat_fields(path: str) -> list[str] | None:
    """A /proc `stat` file's fields after the command's name (state first), or None for a process gone."""
    try:
        return Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU these processes have used so far (those gone since are left out)."""
    total = 0.0
    for pid in pids:
        fields = stat_fields(f"/proc/{pid}/stat")
        if fields is not None:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def minor_faults(pid: int, thread: int | None = None) -> int:
    """Minor page faults so far of a process, or of one of its threads (the event loop's: the process's id)."""
    fields = stat_fields(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    return int(fields[7]) if fields is not None else 0


def child_pids(pid: int) -> list[int]:
    """The child processes of `pid` (a PostgreSQL postmaster's: its backends)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine() -> str:
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}, Linux " \
           f"{platform.release()}, Python {platform.python_version()}"


def replace_block(path: Path, begin: str, end: str, block: str) -> None:
    """Put `block` (which starts with `begin` and ends with `end`) in place of the old one, or append it."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block.rstrip("\n") + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block.rstrip("\n") + "\n"
    path.write_text(text)


# --- a small HTTP/1.1 keep-alive client (cheap enough not to be the bottleneck) -----------------------------------


class Connection:
    """One keep-alive connection; requests on it are sequential."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, body: bytes | None = None,
                      token: str | None = None) -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write((head + "\r\n").encode() + (body or b""))
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding":
                raise RuntimeError("chunked responses are not supported by this client")
        return status, await self.reader.readexactly(length) if length else b""

    def close(self) -> None:
        self.writer.close()

    async def call(self, method: str, path: str, body: object = None, token: str | None = None) -> Any:
        """A JSON request; the decoded JSON answer (an error for anything but 200)."""
        status, data = await self.request(method, path, None if body is None else json.dumps(body).encode(), token)
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status} {data[:300]!r}")
        return json.loads(data) if data else None
