"""The client's public surface, without a server: `__all__` pinned, the package importable without the server's
dependencies, and the types mypy --strict sees for the named operations and the entity queries (blocking and
asyncio)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import tradovate_sim.client

PINNED = [
    "DEMO", "LIVE", "LOCAL", "AsyncTradovate", "AuthError", "BadRequestError", "Chart", "Credentials", "Doms",
    "Environment", "NotFoundError", "PenaltyCaptchaError", "ProtocolError", "Quotes", "RateLimitedError",
    "ServerError", "StatusError", "Sync", "Tradovate", "TradovateError", "TradovateSocket", "TransportError",
]


def test_all_is_pinned() -> None:
    assert sorted(tradovate_sim.client.__all__) == sorted(PINNED)
    assert all(hasattr(tradovate_sim.client, name) for name in PINNED)


def test_exception_tree_has_one_root() -> None:
    errors = [getattr(tradovate_sim.client, name) for name in PINNED if name.endswith("Error")]
    assert all(issubclass(error, tradovate_sim.client.TradovateError) for error in errors)
    status = tradovate_sim.client.StatusError
    assert all(issubclass(getattr(tradovate_sim.client, name), status)
               for name in ("AuthError", "BadRequestError", "NotFoundError", "RateLimitedError", "ServerError"))


def test_client_imports_without_the_servers_dependencies() -> None:
    blocked = ["starlette", "uvicorn", "argon2", "exchange_calendars", "sqlite3", "prometheus_client"]
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import tradovate_sim.client
        print(sorted(m for m in sys.modules if m.startswith("tradovate_sim.")))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "tradovate_sim.server" not in done.stdout and "tradovate_sim.service" not in done.stdout


TYPED = '''
from typing import assert_type
from collections.abc import Awaitable
from tradovate_sim.client import AsyncTradovate, Tradovate
from tradovate_sim.model.entities import Contract, Position
from tradovate_sim.model.requests import LiquidatePosition, PlaceOrder
from tradovate_sim.model.results import OAuthMeResponse, PlaceOrderResult, Violations
from tradovate_sim.model.simulator import QuoteRequest, QuoteState

def blocking(client: Tradovate, order: PlaceOrder, liquidation: LiquidatePosition) -> None:
    assert_type(client.order.place_order(order), PlaceOrderResult | Violations)
    assert_type(client.order.liquidate_position(liquidation), PlaceOrderResult | Violations)
    assert_type(client.position.list(), list[Position])
    assert_type(client.contract.find("ESZ6"), Contract)
    assert_type(client.auth.me(), OAuthMeResponse)
    assert_type(client.sim.set_quote(QuoteRequest()), QuoteState)

async def awaiting(client: AsyncTradovate, order: PlaceOrder) -> None:
    assert_type(client.order.place_order(order), Awaitable[PlaceOrderResult | Violations])
    assert_type(await client.position.list(), list[Position])
    assert_type(await client.contract.find("ESZ6"), Contract)
    async with client.websocket() as ws:
        assert_type(await ws.order.place_order(order), PlaceOrderResult | Violations)
'''


def test_mypy_strict_sees_the_types(tmp_path: Path) -> None:
    source = tmp_path / "typed.py"
    source.write_text(TYPED)
    broken = tmp_path / "broken.py"
    broken.write_text("from tradovate_sim.client import Tradovate\n"
                      "def f(client: Tradovate) -> None:\n"
                      "    client.order.place_order()\n"
                      "    client.position.list(3)\n")
    mypy = [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.11"]  # the project's cache: warm
    checked = subprocess.run([*mypy, str(source), str(broken)], capture_output=True, text=True, check=False)
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert [Path(line.split(":")[0]).name for line in errors] == ["broken.py"] * 2, checked.stdout
    assert "Too few arguments" in errors[0] and "Too many arguments" in errors[1], checked.stdout
