"""The plugin as a user meets it: pytest run in a fresh directory (the plugin loaded by its `pytest11` entry point),
with the README's example test, and with every ini option set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
MARKER = "<!-- readme-test -->\n```python\n"


def run_pytest(directory: Path, ini: str, *, cache: bool = False, **tests: str) -> subprocess.CompletedProcess[str]:
    """pytest in `directory`, without pytest's cache unless `cache` (so without the calendar cache too)."""
    (directory / "pytest.ini").write_text(f"[pytest]\n{ini}\n")
    for name, source in tests.items():
        (directory / f"{name}.py").write_text(source)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "TRADOVATE_SIM_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", *([] if cache else ["-p", "no:cacheprovider"]),
                           "-p", "no:asyncio", "-W", "error"],
                          cwd=directory, env=environment, capture_output=True, text=True, timeout=600, check=False)


def readme_test() -> str:
    text = README.read_text()
    start = text.index(MARKER) + len(MARKER)
    return text[start:text.index("```\n", start)]


def test_the_readme_example_is_a_complete_passing_test_under_20_lines(tmp_path: Path) -> None:
    source = readme_test()
    assert len(source.splitlines()) < 20, source

    result = run_pytest(tmp_path, "", test_my_bot=source)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


FIRST = '''
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
SEEN = {}


def test_first(tradovate_sim, tradovate_trader):
    assert tradovate_sim.now() == START  # 16:00+01:00
    limits = tradovate_sim.http.get("/sim/limits", headers=tradovate_sim.admin.headers).json()
    assert limits["enabled"] is False
    assert tradovate_sim.server.db == Path(__file__).parent / "state" / "sim.db"
    assert tradovate_sim.server.db.exists()
    assert tradovate_sim.server.calendar_cache is None  # -p no:cacheprovider
    tradovate_sim.trader("kept")
    tradovate_sim.advance(60)
    SEEN["trader"] = tradovate_trader


def test_second_sees_the_first_in_its_module(tradovate_sim, tradovate_trader):
    assert tradovate_sim.now() == START + timedelta(seconds=60)
    assert tradovate_sim.account("KEPT-1").name == "KEPT-1"
    assert tradovate_trader == SEEN["trader"]
'''

SECOND = '''
import pytest
from tradovate_sim.testing import SimError


def test_the_next_module_starts_from_the_seeded_state(tradovate_sim):
    with pytest.raises(SimError):
        tradovate_sim.account("KEPT-1")
'''

OPTIONS = """tradovate_sim_scope = module
tradovate_sim_start_time = 2026-11-25T16:00:00+01:00
tradovate_sim_rate_limits = off
tradovate_sim_db = state/sim.db"""


def test_ini_options_set_scope_start_time_rate_limits_and_database(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, OPTIONS, test_a=FIRST, test_b=SECOND)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    assert (tmp_path / "state" / "sim.db").exists()  # kept after the session


CACHED = '''
def test_a_second_server_start_reads_the_calendar_the_first_kept(tradovate_sim, pytestconfig):
    directory = tradovate_sim.server.calendar_cache
    assert directory == pytestconfig.cache.mkdir("tradovate-sim-calendar")
    [kept] = directory.glob("cme-sessions-*.msgpack")  # written by the first start
    before = kept.stat()
    tradovate_sim.server.restart()  # a second server process
    assert tradovate_sim.is_market_open("ES")  # the test process's calendar reads the same file
    after = kept.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # read, not made again
    assert list(directory.iterdir()) == [kept]
'''

OFF = '''
def test_no_calendar_cache(tradovate_sim, pytestconfig):
    assert tradovate_sim.server.calendar_cache is None
    assert not (pytestconfig.rootpath / ".pytest_cache" / "d" / "tradovate-sim-calendar").exists()
'''


def test_plugin_servers_keep_the_calendar_in_pytests_cache_unless_it_is_turned_off(tmp_path: Path) -> None:
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()

    cached = run_pytest(tmp_path / "on", "", cache=True, test_cached=CACHED)
    off = run_pytest(tmp_path / "off", "tradovate_sim_calendar_cache = off", cache=True, test_off=OFF)

    assert cached.returncode == 0, cached.stdout + cached.stderr
    assert off.returncode == 0, off.stdout + off.stderr


@pytest.mark.parametrize(("option", "message"), [
    ("tradovate_sim_scope = sometimes",
     "tradovate_sim_scope: expected one of function, class, module, package, session, got 'sometimes'"),
    ("tradovate_sim_rate_limits = maybe", "tradovate_sim_rate_limits: expected on or off, got 'maybe'"),
    ("tradovate_sim_start_time = tuesday", "tradovate_sim_start_time: expected an ISO 8601 time, got 'tuesday'"),
    ("tradovate_sim_calendar_cache = yes", "tradovate_sim_calendar_cache: expected on or off, got 'yes'"),
])
def test_a_bad_ini_value_is_one_usage_error_naming_the_option(tmp_path: Path, option: str, message: str) -> None:
    result = run_pytest(tmp_path, option, test_a="def test_a(tradovate_sim):\n    pass\n")

    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert f"ERROR: {message}" in result.stderr
    assert "test_a" not in result.stdout  # no test ran


def test_loading_the_plugin_imports_nothing_of_ours_but_itself() -> None:
    """Every pytest session where tradovate-sim is installed loads the plugin: it must cost nothing."""
    probe = ("import sys, tradovate_sim.pytest_plugin; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tradovate_sim', 'httpx', 'msgspec')))")

    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout

    assert loaded.strip() == "['tradovate_sim', 'tradovate_sim.pytest_plugin']"
