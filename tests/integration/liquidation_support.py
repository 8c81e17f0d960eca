"""Harness of the liquidation suite: its own `tradovate-sim serve` subprocess (loopback, temporary SQLite file,
FULL sync, manual quotes) and a small client that speaks to it only over HTTP, as a Tradovate client would.

The process itself comes from the shared harness (`server.ServerProcess`); the suite owns its instance.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from server import ServerProcess

JSON = dict[str, Any]

ADMIN = "admin"
ADMIN_PASSWORD = "admin-pw-liquidation"
DEMO = "demo"
DEMO_PASSWORD = "demo-pw-liquidation"

OPEN_TIME = "2026-11-24T15:00:00Z"  # a Tuesday, 09:00 in Chicago: ES, NQ and CL are trading
SATURDAY = "2026-11-21T15:00:00Z"  # every CME Globex session is closed
ES = "ESZ6"
NQ = "NQZ6"
BID, ASK = 6800.0, 6800.25  # ES around which every test trades


class LiquidationServer(ServerProcess):
    """The shared harness's server process, with this suite's passwords and FULL synchronous commits."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / "liquidation.db", directory / "server.log")

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--admin-password") + 1] = ADMIN_PASSWORD
        command[command.index("--demo-password") + 1] = DEMO_PASSWORD
        return [*command, "--synchronous", "FULL"]

    def stop(self, timeout: float = 15.0) -> int:
        return super().stop(timeout) if self.process is not None else 0


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
