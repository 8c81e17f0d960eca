"""Harness of the liquidation suite: its own `tradovate-sim serve` subprocess (loopback, temporary SQLite file,
FULL sync, manual quotes) and a small client that speaks to it only over HTTP, as a Tradovate client would.

Kept apart from the shared integration harness so that the liquidation tests own their server and its state.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

JSON = dict[str, Any]

ADMIN = "admin"
ADMIN_PASSWORD = "admin-pw-liquidation"
DEMO = "demo"
DEMO_PASSWORD = "demo-pw-liquidation"

OPEN_TIME = "2026-11-24T15:00:00Z"  # a Tuesday, 09:00 in Chicago: ES, NQ and CL are trading
SATURDAY = "2026-11-21T15:00:00Z"  # every CME Globex session is closed; before OPEN_TIME so tokens stay valid
ES = "ESZ6"
NQ = "NQZ6"
BID, ASK = 6800.0, 6800.25  # ES around which every test trades


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiquidationServer:
    """One server process with its own database and log file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log_path = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "tradovate_sim.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--db", f"sqlite:///{self.directory / 'liquidation.db'}",
                   "--admin-password", ADMIN_PASSWORD, "--demo-password", DEMO_PASSWORD, "--seed", "demo",
                   "--quotes", "manual", "--synchronous", "FULL"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADOVATE_SIM_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/v1/auth/me").status_code == 401:
                        return
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def running_server(directory: Path) -> Iterator[LiquidationServer]:
    server = LiquidationServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Client:
    """Bearer-token HTTP calls against one server. `call` and `query` insist on HTTP 200."""

    def __init__(self, http: httpx.Client, token: str) -> None:
        self.http = http
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, body: object = None, *, raw: bytes | None = None) -> httpx.Response:
        if raw is not None:
            return self.http.post(path, content=raw, headers={**self.headers, "Content-Type": "application/json"})
        return self.http.post(path, json=body, headers=self.headers)

    def call(self, operation: str, body: object) -> Any:
        response = self.post(f"/v1/{operation}", body)
        assert response.status_code == 200, f"{operation}: {response.status_code} {response.text}"
        return response.json()

    def query(self, operation: str, **params: object) -> Any:
        response = self.http.get(f"/v1/{operation}", params={k: str(v) for k, v in params.items()},
                                 headers=self.headers)
        assert response.status_code == 200, f"{operation}: {response.status_code} {response.text}"
        return response.json()

    def item(self, entity_type: str, entity_id: int) -> JSON:
        result: JSON = self.query(f"{entity_type}/item", id=entity_id)
        return result

    def deps(self, entity_type: str, master_id: int) -> list[JSON]:
        result: list[JSON] = self.query(f"{entity_type}/deps", masterid=master_id)
        return sorted(result, key=lambda e: int(e["id"]))

    def entities(self, entity_type: str) -> list[JSON]:
        result: list[JSON] = self.query(f"{entity_type}/list")
        return sorted(result, key=lambda e: int(e["id"]))

    def sim(self, action: str, body: object) -> Any:
        response = self.post(f"/sim/{action}", body)
        assert response.status_code == 200, f"/sim/{action}: {response.status_code} {response.text}"
        return response.json()


def login(http: httpx.Client, name: str, password: str) -> str:
    response = http.post("/v1/auth/accesstokenrequest", json={"name": name, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "accessToken" in body, body
    return str(body["accessToken"])


# --- request builders --------------------------------------------------------------------------------------------


def quote(symbol: str = ES, bid: float | None = BID, ask: float | None = ASK, *, size: int = 10,
          depth: int = 10, levels: int = 10, **extra: object) -> JSON:
    """A /sim/quote body: `size` at the touch on both sides, `depth` at each of `levels` levels behind it."""
    return {"symbol": symbol, "bid": bid, "ask": ask, "bidSize": size, "askSize": size, "depthSize": depth,
            "depthLevels": levels, **extra}


def order(account_id: int, action: str = "Buy", qty: int = 1, order_type: str = "Market", *, symbol: str = ES,
          **extra: object) -> JSON:
    return {"accountId": account_id, "symbol": symbol, "action": action, "orderQty": qty, "orderType": order_type,
            **extra}


def limit(account_id: int, action: str, qty: int, price: float, *, symbol: str = ES) -> JSON:
    return order(account_id, action, qty, "Limit", symbol=symbol, price=price)


def stop(account_id: int, action: str, qty: int, stop_price: float, *, symbol: str = ES) -> JSON:
    return order(account_id, action, qty, "Stop", symbol=symbol, stopPrice=stop_price)


def leg(action: str, order_type: str, **prices: float) -> JSON:
    return {"action": action, "orderType": order_type, **prices}


def liquidation(account_id: int, contract_id: int, admin: bool = False, **extra: object) -> JSON:
    return {"accountId": account_id, "contractId": contract_id, "admin": admin, **extra}


def evaluation_user(name: str) -> JSON:
    return {"name": name, "email": f"{name}@example.com", "password": f"{name}-pw", "firstName": "Eva",
            "lastName": "Luation"}
