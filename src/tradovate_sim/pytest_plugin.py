"""The pytest plugin (entry point `pytest11`: loaded wherever tradovate-sim is installed; it starts nothing until a
test asks for one of its fixtures).

- `tradovate_sim_server` (session): a `tradovate-sim serve` subprocess on a free port, with its own database file,
  manual quotes and a frozen clock.
- `tradovate_sim` (function by default; ini `tradovate_sim_scope`): the `Sim` handle, the server reset to its
  freshly seeded state with the clock at `tradovate_sim_start_time` before the test.
- `tradovate_trader`: a new user with a funded account (`Sim.trader()`), in the same scope.
- `tradovate_client`: `tradovate_sim.client.Tradovate` logged in as `tradovate_trader`, in the same scope.

ini options (`pytest.ini`, `[tool.pytest.ini_options]`): see `pytest_addoption`.

Every pytest session of an environment with tradovate-sim loads this module: it imports nothing but pytest;
`tradovate_sim.testing` (httpx, the model) is imported when a fixture is first asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tradovate_sim.client import Tradovate
    from tradovate_sim.testing import Sim, SimServer, Trader

SCOPES = ("function", "class", "module", "package", "session")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("tradovate_sim_scope", default="function",
                  help="tradovate-sim: how long a test's state lives before the server is reset: function (each "
                       "test starts from the seeded state; default), class, module, package or session")
    parser.addini("tradovate_sim_start_time", default="",
                  help="tradovate-sim: where each reset freezes the server's clock (ISO 8601; default "
                       "2026-11-24T15:00:00Z, a Tuesday with every CME session open)")
    parser.addini("tradovate_sim_rate_limits", default="on",
                  help="tradovate-sim: on (Tradovate's request limits and penalty tickets; default) or off")
    parser.addini("tradovate_sim_db", default="",
                  help="tradovate-sim: the server's database file (default: a new file in a temporary directory)")
    parser.addini("tradovate_sim_catalogue", default="",
                  help="tradovate-sim: a TOML file of products the server adds to or overrides in its catalogue")
    parser.addini("tradovate_sim_calendar_cache", default="on",
                  help="tradovate-sim: on (the CME calendar kept in pytest's cache directory between server starts "
                       "and runs; default) or off (each start builds it, about 1.3 s of CPU)")


def pytest_configure(config: pytest.Config) -> None:
    """A bad option is one usage error before any test runs, not an error in every test that uses the fixtures."""
    state_scope("tradovate_sim", config)
    for name in ("tradovate_sim_rate_limits", "tradovate_sim_calendar_cache"):
        if (_ini(config, name) or "on") not in ("on", "off"):
            raise pytest.UsageError(f"{name}: expected on or off, got {_ini(config, name)!r}")
    raw = _ini(config, "tradovate_sim_start_time")
    try:
        datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
    except ValueError:
        raise pytest.UsageError(f"tradovate_sim_start_time: expected an ISO 8601 time, got {raw!r}") from None


def _ini(config: pytest.Config, name: str) -> str:
    value = config.getini(name)
    return str(value).strip() if value is not None else ""


def _path(config: pytest.Config, name: str) -> Path | None:
    """A path option, relative to the ini file's directory (or the root directory)."""
    value = _ini(config, name)
    if not value:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    return base / Path(value).expanduser()


def _database(config: pytest.Config) -> Path | None:
    """`tradovate_sim_db`; under pytest-xdist each worker has its own file (`sim.db` -> `sim-gw0.db`)."""
    path = _path(config, "tradovate_sim_db")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return path.with_name(f"{path.stem}-{worker}{path.suffix}") if path is not None and worker else path


def _calendar_cache(config: pytest.Config) -> Path | None:
    """`tradovate_sim_calendar_cache`: a directory in pytest's cache (`--cache-clear` empties it); none when it is
    off or pytest's cache is (`-p no:cacheprovider`)."""
    cache = getattr(config, "cache", None)
    if cache is None or (_ini(config, "tradovate_sim_calendar_cache") or "on") == "off":
        return None
    directory: Path = cache.mkdir("tradovate-sim-calendar")
    return directory


def state_scope(fixture_name: str, config: pytest.Config) -> str:
    """The scope of the server's state (`tradovate_sim_scope`)."""
    scope = _ini(config, "tradovate_sim_scope") or "function"
    if scope not in SCOPES:
        raise pytest.UsageError(f"tradovate_sim_scope: expected one of {', '.join(SCOPES)}, got {scope!r}")
    return scope


def _start_time(config: pytest.Config) -> datetime:
    from tradovate_sim.testing import DEFAULT_START_TIME
    from tradovate_sim.testing.sim import parse_time

    raw = _ini(config, "tradovate_sim_start_time")  # checked by pytest_configure
    return parse_time(raw) if raw else DEFAULT_START_TIME


@pytest.fixture(scope="session")
def tradovate_sim_server(pytestconfig: pytest.Config) -> Iterator[SimServer]:
    """One server for the whole session (each xdist worker starts its own)."""
    from tradovate_sim.testing import SimServer

    with SimServer(db=_database(pytestconfig), rate_limits=_ini(pytestconfig, "tradovate_sim_rate_limits") or "on",
                   catalogue=_path(pytestconfig, "tradovate_sim_catalogue"),
                   start_time=_start_time(pytestconfig),  # seeded on that date, whatever the real one
                   calendar_cache=_calendar_cache(pytestconfig)) as server:
        yield server


@pytest.fixture(scope="session")
def _tradovate_sim_handle(tradovate_sim_server: SimServer, pytestconfig: pytest.Config) -> Iterator[Sim]:
    from tradovate_sim.testing import Sim

    sim = Sim(tradovate_sim_server, start_time=_start_time(pytestconfig))
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture(scope=state_scope)  # type: ignore[arg-type]  # pytest takes a callable scope
def tradovate_sim(_tradovate_sim_handle: Sim) -> Sim:
    """The server, reset: the seeded database, the clock frozen at `tradovate_sim_start_time`, reference quotes."""
    _tradovate_sim_handle.reset()
    return _tradovate_sim_handle


@pytest.fixture(scope=state_scope)  # type: ignore[arg-type]
def tradovate_trader(tradovate_sim: Sim) -> Trader:
    """A new user with one account holding $50,000 and an approved trading permission, logged in."""
    return tradovate_sim.trader()


@pytest.fixture(scope=state_scope)  # type: ignore[arg-type]
def tradovate_client(tradovate_sim: Sim, tradovate_trader: Trader) -> Iterator[Tradovate]:
    """The typed client (`tradovate_sim.client.Tradovate`) logged in as `tradovate_trader`; closed after."""
    with tradovate_sim.client(tradovate_trader) as client:
        yield client
