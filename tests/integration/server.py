"""The integration harness: the real `tradovate-sim serve` in a subprocess, a thin HTTP client that speaks to it as
an existing Tradovate client would, and request builders with defaults.

Nothing here imports the server's code: the suite sees only the wire.
"""

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pg"))
import cluster as pg_cluster

ADMIN = "admin"
ADMIN_PASSWORD = "admin-pw-integration"
DEMO = "demo"
DEMO_PASSWORD = "demo-pw-integration"

# A Tuesday in the ES session (09:00 in Chicago); the Friday ESZ6 trades for the last time is 2026-12-18.
OPEN_TIME = "2026-11-24T15:00:00Z"
SATURDAY = "2026-11-21T15:00:00Z"  # every CME Globex session is closed (tokens live in real time: any date works)
AFTER_ESZ6_EXPIRY = "2026-12-21T15:00:00Z"  # a Monday in the ES session, after ESZ6's last trade date
NEXT_DAY = "2026-11-25T15:00:00Z"  # the Wednesday after OPEN_TIME: a later trade date, ESZ6 still trading

FRONT = "ESZ6"
BACK = "ESH7"
ES_POINT_VALUE = 50.0
ES_FEES_PER_SIDE = 0.59 + 1.38 + 0.10 + 0.02  # commission, exchange, clearing, NFA per contract
START_BALANCE = 50_000.0

JSON = dict[str, Any]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TEST_DB = os.environ.get("TRADOVATE_SIM_TEST_DB", "sqlite")  # postgres: every server of the suite on PostgreSQL
if TEST_DB not in ("sqlite", "postgres"):
    raise RuntimeError(f"TRADOVATE_SIM_TEST_DB: expected sqlite or postgres, got {TEST_DB!r}")
# With TEST_DB=postgres, every server of the suite as `--workers N` (N processes behind one port; 1: one process)
TEST_WORKERS = int(os.environ.get("TRADOVATE_SIM_TEST_WORKERS", "1"))
if TEST_WORKERS < 1 or (TEST_WORKERS > 1 and TEST_DB != "postgres"):
    raise RuntimeError(f"TRADOVATE_SIM_TEST_WORKERS={TEST_WORKERS}: more than one needs TRADOVATE_SIM_TEST_DB=postgres")
_databases: dict[Path, str] = {}  # db_path -> the PostgreSQL database standing in for it (TEST_DB=postgres)
# The CME calendar the suite's servers share (TRADOVATE_SIM_CALENDAR_CACHE): the first server of the run asks
# `exchange_calendars` and writes it, the others read it (a start costs ~1.3 s of CPU less). Removed at exit.
CALENDAR_CACHE = Path(tempfile.mkdtemp(prefix="tradovate-sim-calendar-"))
atexit.register(shutil.rmtree, CALENDAR_CACHE, ignore_errors=True)


def database_url(db_path: Path, kind: str = TEST_DB) -> str:
    """The `--db` of a server whose database is `db_path`: that SQLite file, or (kind postgres) a database of the
    tests' cluster made for that path on first use, the same one for every later server on that path."""
    if kind == "sqlite":
        return f"sqlite:///{db_path}"
    url = _databases.get(db_path)
    if url is None:
        url = _databases[db_path] = pg_cluster.shared().create_database(f"t{len(_databases)}_{os.getpid()}")
    return url


class ServerProcess:
    """One `tradovate-sim serve` process on a loopback port with its own database: the SQLite file `db_path`, or
    (with TRADOVATE_SIM_TEST_DB=postgres, or `db_url` given) a PostgreSQL database."""

    def __init__(self, db_path: Path, log_path: Path, *, port: int | None = None, rate_limits: str = "off",
                 db_url: str | None = None, workers: int | None = None, clock: str | None = None,
                 password_hashing: str = "fast", calendar_cache: bool = True, quotes: str = "manual") -> None:
        self.db_path = db_path
        self.db_url = db_url or database_url(db_path)
        # `--workers N` (PostgreSQL): start() waits until every worker serves; TRADOVATE_SIM_TEST_WORKERS by default
        self.workers = workers or (TEST_WORKERS if self.db_url.startswith("postgresql://") else 1)
        self.log_path = log_path
        self.port = port or free_port()
        self.rate_limits = rate_limits  # off: the suite's bursts and bad logins are never limited (test_limits: on)
        self.process: subprocess.Popen[bytes] | None = None
        self.clock = clock  # `--clock`: the simulated clock frozen there from the start (None: wall time)
        # fast: argon2id at its cheapest, as the pytest plugin's servers (a login or a new user in microseconds, not
        # ~30 ms of CPU); test_first_hour's password test keeps the production default and checks its parameters
        self.password_hashing = password_hashing
        self.calendar_cache = calendar_cache  # False: the calendar from the library, as a production start
        self.quotes = quotes  # synthetic: the market walks by itself (manual: quotes move only when set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "tradovate_sim.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--db", self.db_url, "--admin-password", ADMIN_PASSWORD,
                "--demo-password", DEMO_PASSWORD, "--seed", "demo", "--quotes", self.quotes,
                *(["--workers", str(self.workers)] if self.workers > 1 else []),
                *(["--clock", self.clock] if self.clock else [])]

    def start(self, timeout: float = 60.0) -> None:  # a start on PostgreSQL, on a loaded machine, can take 20 s
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRADOVATE_SIM_")}
        env["TRADOVATE_SIM_RATE_LIMITS"] = self.rate_limits
        env["TRADOVATE_SIM_PASSWORD_HASHING"] = self.password_hashing
        if self.calendar_cache:
            env["TRADOVATE_SIM_CALENDAR_CACHE"] = str(CALENDAR_CACHE)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/v1/auth/me").status_code == 401 and self.serving(offset) >= self.workers:
                        return
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.log()}")

    def serving(self, offset: int = 0) -> int:
        """How many processes printed that they serve since `offset` in the log."""
        return self.log_path.read_bytes()[offset:].count(b"  REST       http") if self.log_path.exists() else 0

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: the process (and, with several workers, every worker first) gets no chance to flush or close
        anything."""
        if self.process is not None and self.process.poll() is None:
            if self.workers > 1:
                for pid in self.children():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> list[int]:
        """The server's child processes: the store's writer."""
        assert self.process is not None
        found: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            found += [int(pid) for pid in (task / "children").read_text().split()]
        return found


@contextlib.contextmanager
def running(process: ServerProcess) -> Iterator[ServerProcess]:
    """The server started for the block, stopped (then killed, whatever stopping did) after it."""
    process.start()
    try:
        yield process
    finally:
        try:
            process.stop()
        finally:
            process.kill()


# --- the client ----------------------------------------------------------------------------------


class Api:
    """HTTP calls against one server, as a Tradovate client makes them (bearer token, JSON bodies)."""

    def __init__(self, base_url: str) -> None:
        # Several workers: a new connection per request, which the kernel gives to either worker (as a load balancer
        # spreads a client's requests), so that a write on one and a read on the other are the common case
        limits = httpx.Limits(max_keepalive_connections=0) if TEST_WORKERS > 1 else httpx.Limits()
        self.http = httpx.Client(base_url=base_url, timeout=10.0, limits=limits)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Api":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @staticmethod
    def _headers(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def post(self, path: str, body: object = None, token: str | None = None, *, raw: bytes | None = None,
             ) -> httpx.Response:
        headers = self._headers(token)
        if raw is not None:
            return self.http.post(path, content=raw, headers={**headers, "Content-Type": "application/json"})
        return self.http.post(path, json=body, headers=headers)

    def get(self, path: str, token: str | None = None, **params: object) -> httpx.Response:
        return self.http.get(path, params={k: str(v) for k, v in params.items()}, headers=self._headers(token))

    # --- /v1 -------------------------------------------------------------------------------------

    def login(self, name: str, password: str) -> JSON:
        response = self.post("/v1/auth/accesstokenrequest", {"name": name, "password": password})
        assert response.status_code == 200, response.text
        result: JSON = response.json()
        return result

    def token(self, name: str, password: str) -> str:
        result = self.login(name, password)
        assert "accessToken" in result, result
        return str(result["accessToken"])

    def call(self, operation: str, body: object, token: str) -> Any:
        """POST /v1/<operation>; the answer must be HTTP 200."""
        response = self.post(f"/v1/{operation}", body, token)
        assert response.status_code == 200, f"{operation}: {response.status_code} {response.text}"
        return response.json()

    def query(self, operation: str, token: str, **params: object) -> Any:
        """GET /v1/<operation>; the answer must be HTTP 200."""
        response = self.get(f"/v1/{operation}", token, **params)
        assert response.status_code == 200, f"{operation}: {response.status_code} {response.text}"
        return response.json()

    def item(self, entity_type: str, entity_id: int, token: str) -> JSON:
        result: JSON = self.query(f"{entity_type}/item", token, id=entity_id)
        return result

    def entities(self, entity_type: str, token: str) -> list[JSON]:
        result: list[JSON] = self.query(f"{entity_type}/list", token)
        return result

    def deps(self, entity_type: str, master_id: int, token: str) -> list[JSON]:
        result: list[JSON] = self.query(f"{entity_type}/deps", token, masterid=master_id)
        return result

    def find(self, entity_type: str, name: str, token: str) -> JSON:
        result: JSON = self.query(f"{entity_type}/find", token, name=name)
        return result

    # --- /sim ------------------------------------------------------------------------------------

    def sim(self, action: str, body: object, token: str) -> Any:
        response = self.post(f"/sim/{action}", body, token)
        assert response.status_code == 200, f"/sim/{action}: {response.status_code} {response.text}"
        return response.json()

    def set_clock(self, now: str, token: str) -> JSON:
        result: JSON = self.sim("clock", {"now": now}, token)
        return result

    def set_quote(self, token: str, **fields: object) -> JSON:
        result: JSON = self.sim("quote", quote(**fields), token)
        return result

    def reset(self, token: str) -> None:
        assert self.sim("reset", {}, token) == {"ok": True}


# --- what a test works with ---------------------------------------------------------------------


class Tokens:
    """The seeded users' tokens, kept for the session and renewed by logging in again when one has died
    (after 90 minutes of wall time, or when a third login of the same user ends its session)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.cache: dict[str, str] = {}

    def of(self, name: str, password: str) -> str:
        token = self.cache.get(name)
        if token is None or self.api.get("/v1/auth/me", token).status_code != 200:
            token = self.api.token(name, password)
            self.cache[name] = token
        return token


@dataclass
class Desk:
    """What a test works with: the client, the seeded users' tokens, and the seeded ids after the reset."""

    api: Api
    admin: str
    demo: str
    demo1: int
    demo2: int
    template: int
    demo_user: int
    admin_user: int
    front: int  # ESZ6's contract id

    # --- orders ----------------------------------------------------------------------------------

    def place(self, body: JSON, token: str | None = None, operation: str = "order/placeorder") -> JSON:
        result: JSON = self.api.call(operation, body, token or self.demo)
        return result

    def cancel(self, order_id: int, token: str | None = None) -> JSON:
        result: JSON = self.api.call("order/cancelorder", {"orderId": order_id}, token or self.demo)
        return result

    def quote(self, **fields: Any) -> JSON:
        return self.api.set_quote(self.admin, **fields)

    def order(self, order_id: int) -> JSON:
        return self.api.item("order", order_id, self.demo)

    def status(self, order_id: int) -> str:
        return str(self.order(order_id)["ordStatus"])

    def fills(self, order_id: int) -> list[JSON]:
        return sorted(self.api.deps("fill", order_id, self.demo), key=lambda f: f["id"])

    def position(self, account_id: int, contract_id: int | None = None) -> JSON:
        contract = contract_id or self.front
        found = [p for p in self.api.deps("position", account_id, self.demo) if p["contractId"] == contract]
        assert len(found) == 1, found
        return found[0]

    def cash(self, account_id: int) -> JSON:
        balances = self.api.deps("cashBalance", account_id, self.admin)
        assert len(balances) == 1, balances
        return balances[0]

    def cash_log(self, account_id: int) -> list[JSON]:
        return sorted(self.api.deps("cashBalanceLog", account_id, self.admin), key=lambda e: e["id"])

    def snapshot(self, account_id: int, token: str | None = None) -> JSON:
        result: JSON = self.api.call("cashBalance/getcashbalancesnapshot", {"accountId": account_id},
                                     token or self.demo)
        return result

    # --- provisioning ----------------------------------------------------------------------------

    def create_user(self, name: str) -> int:
        result = self.api.call("user/createevaluationusers", {"users": [evaluation_user(name)]}, self.admin)
        assert result["results"][0].get("userId"), result
        return int(result["results"][0]["userId"])



# --- builders ------------------------------------------------------------------------------------


def quote(symbol: str = FRONT, bid: float = 6800.0, ask: float = 6800.25, bid_size: int = 10, ask_size: int = 10,
          **extra: object) -> JSON:
    """A /sim/quote body; `depthSize`, `depthLevels`, `last` and friends go through `extra` in camelCase."""
    return {"symbol": symbol, "bid": bid, "ask": ask, "bidSize": bid_size, "askSize": ask_size, **extra}


def order(account_id: int | None, *, action: str = "Buy", symbol: str | int = FRONT, qty: int = 1,
          order_type: str = "Market", **extra: object) -> JSON:
    """An order/placeorder body (market buy of one ESZ6 unless told otherwise)."""
    body: JSON = {"action": action, "symbol": symbol, "orderQty": qty, "orderType": order_type,
                  "isAutomated": True, **extra}
    if account_id is not None:
        body["accountId"] = account_id
    return body


def limit(account_id: int, price: float, *, action: str = "Buy", qty: int = 1, **extra: object) -> JSON:
    return order(account_id, action=action, qty=qty, order_type="Limit", price=price, **extra)


def stop(account_id: int, stop_price: float, *, action: str = "Buy", qty: int = 1, **extra: object) -> JSON:
    return order(account_id, action=action, qty=qty, order_type="Stop", stopPrice=stop_price, **extra)


def leg(action: str, order_type: str, **prices: float) -> JSON:
    """A bracket / OCO leg (a RestrainedOrderVersion): `price=` and/or `stopPrice=`."""
    return {"action": action, "orderType": order_type, **prices}


def evaluation_user(name: str, **extra: object) -> JSON:
    return {"name": name, "email": f"{name}@example.com", "password": f"{name}-pw", "firstName": "Eva",
            "lastName": "Luation", **extra}


def evaluation_account(user_id: int, template_account_id: int, name: str, *, initial_balance: float = 25_000.0,
                       **extra: object) -> JSON:
    return {"userId": user_id, "templateAccountId": template_account_id, "name": name,
            "initialBalance": initial_balance, **extra}


def position_limit(*, total_by: str = "Contract", contract_id: int | None = None, long_limit: int | None = None,
                   short_limit: int | None = None, parameters: list[JSON] | None = None,
                   **extra: object) -> JSON:
    """A preTradeRisk entry (UserAccountPositionLimit with its UserAccountRiskParameters)."""
    body: JSON = {"totalBy": total_by, "parameters": parameters or [], "active": True, **extra}
    optional = {"contractId": contract_id, "longLimit": long_limit, "shortLimit": short_limit}
    body.update({k: v for k, v in optional.items() if v is not None})
    return body

