"""What a first-time user meets: what a start and a restart print, passwords given on a restart, `GET /sim/quote`,
releasing a one-sided quote, and the forms of `--db` (a plain path; a bad one is one line)."""

import asyncio
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    AFTER_ESZ6_EXPIRY,
    BACK,
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    OPEN_TIME,
    Api,
    Desk,
    ServerProcess,
    Tokens,
    free_port,
    order,
    running,
)

from tradovate_sim.storage import entities


class FlaggedServer(ServerProcess):
    """A server whose `--db` value, passwords, seed and quote source a test chooses."""

    def __init__(self, db_path: Path, log_path: Path, *, db: str | None = None, admin_password: str | None = None,
                 demo_password: str | None = None, seed: str = "demo", quotes: str = "manual",
                 clock: str | None = None, production: bool = False) -> None:
        # production: OWASP's argon2id (its parameters checked below) and the calendar from the library, as a
        # server started without TRADOVATE_SIM_PASSWORD_HASHING and TRADOVATE_SIM_CALENDAR_CACHE; else the suite's
        super().__init__(db_path, log_path, password_hashing="argon2id" if production else "fast",
                         calendar_cache=not production)
        self.db = db or f"sqlite:///{db_path}"
        self.workers = 1  # one process: its command names no --workers (and its database is SQLite unless given)
        self.passwords = {"--admin-password": admin_password, "--demo-password": demo_password}
        self.seed = seed
        self.quotes = quotes
        self.clock = clock  # --clock: the simulated clock frozen there from the start (the seed's date too)

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "tradovate_sim.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--db", self.db, "--seed", self.seed, "--quotes", self.quotes,
                   *(["--clock", self.clock] if self.clock else [])]
        for flag, password in self.passwords.items():
            if password:
                command += [flag, password]
        return command


class Lives:
    """Successive servers on one database file, each with its own log."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.db_path = directory / "first-hour.db"
        self.count = 0
        self.server: FlaggedServer | None = None
        self.api: Api | None = None
        self.production = False  # servers started as in production (see FlaggedServer)

    def start(self, **flags: Any) -> tuple[Api, str]:
        """Stop the running server (SIGTERM), start the next; its client and what it printed."""
        self.stop()
        self.count += 1
        self.server = FlaggedServer(self.db_path, self.directory / f"life-{self.count}.log",
                                    production=self.production, **flags)
        self.server.start()
        self.api = Api(self.server.base_url)
        return self.api, self.server.log()

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None
        if self.server is not None:
            try:
                self.server.stop()
            finally:
                self.server.kill()


@pytest.fixture
def lives(tmp_path: Path) -> Iterator[Lives]:
    made = Lives(tmp_path)
    try:
        yield made
    finally:
        made.stop()


def urls(port: int) -> str:
    return (f"REST       http://127.0.0.1:{port}/v1   WebSocket ws://127.0.0.1:{port}/v1/websocket\n"
            f"  console    http://127.0.0.1:{port}/   API docs http://127.0.0.1:{port}/docs")


def printed_password(log: str, name: str) -> str:
    found = re.search(rf"name '{name}' password '([^']+)'", log)
    assert found, log
    return found.group(1)


def stored_hash(db_path: Path, user_id: int) -> str:
    """As the file holds it: the entity table, with the journal rows the writer has not applied to it yet."""
    with sqlite3.connect(db_path, isolation_level=None) as connection:
        connection.execute("BEGIN")
        found = {(t, i): body for t, i, body in entities.current(connection)}
        connection.execute("COMMIT")
    connection.close()
    return str(json.loads(found["credential", user_id])["passwordHash"])


# --- 13: start-up and restart -------------------------------------------------------------------------


def test_restart_prints_its_urls_and_where_the_passwords_are_when_none_is_given(lives: Lives) -> None:
    # Arrange: a first start that generates and prints both passwords
    api, first = lives.start()
    assert lives.server is not None
    assert urls(lives.server.port) in first
    admin_password, demo_password = printed_password(first, ADMIN), printed_password(first, DEMO)
    assert "accessToken" in api.login(ADMIN, admin_password)

    # Act
    api, second = lives.start()

    # Assert: the URLs of this start, no password, and how to set one; the printed passwords still work
    assert lives.server is not None
    assert urls(lives.server.port) in second
    assert "first start" not in second.replace("were printed at the first start", "")
    assert "passwords  were printed at the first start" in second
    assert "--admin-password PW" in second and "--demo-password PW" in second
    assert "TRADOVATE_SIM_ADMIN_PASSWORD=PW" in second and "TRADOVATE_SIM_DEMO_PASSWORD=PW" in second
    assert admin_password not in second and demo_password not in second
    assert "accessToken" in api.login(DEMO, demo_password)


def test_restart_with_a_new_password_sets_it_durably_and_ends_the_old_sessions(lives: Lives) -> None:
    # Arrange
    lives.production = True
    api, _ = lives.start(admin_password="admin-pw-1", demo_password="demo-pw-1")
    old_admin = api.token(ADMIN, "admin-pw-1")
    admin_id = api.query("auth/me", old_admin)["userId"]
    old_hash = stored_hash(lives.db_path, admin_id)

    # Act: the same password again, then a new one
    api, same = lives.start(admin_password="admin-pw-1", demo_password="demo-pw-1")
    still = api.get("/v1/auth/me", old_admin).status_code
    api, changed = lives.start(admin_password="admin-pw-2", demo_password="demo-pw-2")

    # Assert: an unchanged password keeps sessions; a new one is stored as a new argon2 hash and ends them
    assert "admin      password as given by --admin-password (unchanged)" in same
    assert still == 200
    assert "admin      password set from --admin-password" in changed
    assert "demo       password set from --demo-password" in changed
    assert "were printed at the first start" not in changed
    assert api.get("/v1/auth/me", old_admin).status_code == 401
    assert "errorText" in api.login(ADMIN, "admin-pw-1")
    assert "errorText" in api.login(DEMO, "demo-pw-1")
    new_hash = stored_hash(lives.db_path, admin_id)
    assert new_hash.startswith("$argon2id$") and new_hash != old_hash and "admin-pw-2" not in new_hash
    assert "$m=19456,t=2,p=1$" in new_hash  # OWASP's minimum: what a server started without the variable uses

    # Assert: /sim/reset keeps the new passwords, and so does a restart without the flags
    admin = api.token(ADMIN, "admin-pw-2")
    api.reset(admin)
    assert "accessToken" in api.login(DEMO, "demo-pw-2")
    api, _ = lives.start()
    assert "accessToken" in api.login(ADMIN, "admin-pw-2")
    assert "accessToken" in api.login(DEMO, "demo-pw-2")


def test_restart_warns_when_a_password_names_a_user_the_database_lacks(lives: Lives) -> None:
    # Arrange: no demo data, so no demo user
    lives.start(admin_password="admin-pw-1", seed="none")

    # Act
    api, log = lives.start(admin_password="admin-pw-1", demo_password="demo-pw-1", seed="none")

    # Assert
    assert "warning    --demo-password not applied: there is no user 'demo' in this database" in log
    assert "errorText" in api.login(DEMO, "demo-pw-1")


# --- 12: what the README shows ---------------------------------------------------------------------


def test_contract_suggest_first_names_the_front_month_when_the_clock_is_past_an_expiry(desk: Desk,
                                                                                       tokens: Tokens) -> None:
    # Arrange
    before = [c["name"] for c in desk.api.query("contract/suggest", desk.demo, t="ES", l=3)]
    micro = desk.api.query("contract/suggest", desk.demo, t="MES", l=1)

    # Act: the Monday after ESZ6's last trade date (ESM7 gets listed; ESZ6 stays)
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, tokens.of(ADMIN, ADMIN_PASSWORD))
    demo = tokens.of(DEMO, DEMO_PASSWORD)
    after = [c["name"] for c in desk.api.query("contract/suggest", demo, t="es", l=10)]

    # Assert
    assert before == [FRONT, BACK, "MESZ6"]
    assert [c["name"] for c in micro] == ["MESZ6"]
    assert after[:2] == [BACK, "ESM7"] and after.index(FRONT) < after.index("MESH7")


README = Path(__file__).resolve().parents[2] / "README.md"


README_BLOCKS = {"cli", "using-it", "websocket", "risk-desk", "python-client"}  # run by the tests below
# Fenced blocks no test runs, by their first words (the PostgreSQL ones need a database of the reader's)
UNTESTED_BLOCKS = ["make serve   #", "createdb tradovate", "tradovate-sim serve --db postgresql:"]


def readme_blocks() -> dict[str, str]:
    """The README's fenced blocks marked `<!-- readme: NAME -->`, by name (a name, not a position: a new block
    elsewhere in the README does not change which one a test runs)."""
    found = re.findall(r"<!-- readme: ([\w-]+) -->\n```\w+\n(.*?)```", README.read_text(), re.S)
    return {name: str(block) for name, block in found}


def readme_block(name: str, base_url: str) -> str:
    """The README's block `name`, pointed at `base_url` instead of the default port."""
    return readme_blocks()[name].replace("http://127.0.0.1:8000", base_url).replace(
        "ws://127.0.0.1:8000", base_url.replace("http", "ws"))


def test_every_readme_code_block_is_run_by_a_test_or_named_as_untested() -> None:
    text = README.read_text()
    blocks = re.findall(r"(<!-- [\w: -]+ -->\n)?```\w+\n(.*?)```", text, re.S)
    unmarked = [block for marker, block in blocks if not marker and not block.startswith(tuple(UNTESTED_BLOCKS))]
    assert unmarked == [], "a README block no test runs: mark it <!-- readme: NAME --> and run it below"
    assert set(readme_blocks()) == README_BLOCKS


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_readme_commands_find_ids_trade_and_read_back_when_run_as_printed(desk: Desk, server: ServerProcess,
                                                                         tokens: Tokens) -> None:
    # Arrange: the README's "Using it" commands, with the demo password
    script = readme_block("using-it", server.base_url).replace("<printed at the first start>", DEMO_PASSWORD)
    script += '\necho; echo "found $ACCOUNT $SYMBOL $CONTRACT $USER_ID"\n'
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"  # `python3` as the tests run it

    # Act
    done = subprocess.run(["bash", "-eu", "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PATH": path})

    # Assert: the ids it looked up, an order, the position, the cash, the liquidation
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"found {desk.demo1} {FRONT} {desk.front} {desk.demo_user}"
    assert done.stdout.count('{"orderId":') == 2, done.stdout
    assert '"netPos":1' in done.stdout and '"totalCashValue":' in done.stdout
    demo = tokens.of(DEMO, DEMO_PASSWORD)  # the script's login may have ended the desk's (two sessions per user)
    positions = [p for p in desk.api.deps("position", desk.demo1, demo) if p["contractId"] == desk.front]
    assert [p["netPos"] for p in positions] == [0]


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_readme_risk_desk_commands_set_rules_limits_and_lock_when_run_as_printed(desk: Desk,
                                                                                server: ServerProcess) -> None:
    # Arrange: the "Using it" commands (for $ACCOUNT and friends), then the risk desk's, with the passwords
    script = readme_block("using-it", server.base_url).replace("<printed at the first start>", DEMO_PASSWORD)
    script += "\n" + readme_block("risk-desk", server.base_url).replace("<admin password>", ADMIN_PASSWORD)
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"

    # Act
    done = subprocess.run(["bash", "-eu", "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PATH": path})

    # Assert: the rules, the limit, the margin snapshot, the lock and the unlock all answered as documented
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '"dailyLossAutoLiq":500.0' in out and '"trailingMaxDrawdown":2500.0' in out, out
    assert '"totalBy":"Overall"' in out and '"longLimit":5' in out, out
    assert '"initialMargin":' in out, out
    assert '"adminAction":"LiquidateImmediately"' in out and '"adminAction":"Normal"' in out, out
    assert "errorText" not in out, out


async def test_readme_websocket_snippet_prints_the_snapshot_then_props_events(desk: Desk,
                                                                              server: ServerProcess) -> None:
    # Arrange
    snippet = readme_block("websocket", server.base_url)
    env = {**os.environ, "TOKEN": desk.demo, "USER_ID": str(desk.demo_user)}
    process = await asyncio.create_subprocess_exec(sys.executable, "-u", "-c", snippet, env=env,
                                                   stdout=asyncio.subprocess.PIPE)
    assert process.stdout is not None
    try:
        snapshot = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()

        # Act
        desk.place(order(desk.demo1))
        events: list[str] = []
        while not events or events[-1] != "Updated cashBalance":
            line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
            assert line, "the snippet ended"
            events.append(line.rsplit(" ", 1)[0])
    finally:
        process.kill()
        await process.wait()

    # Assert
    assert snapshot.startswith("snapshot: {") and "'accounts': 2" in snapshot
    trading = [e for e in events if e.split()[-1] not in ("exchange", "product", "contractMaturity", "contract")]
    assert trading[0] == "Created order" and "Created fill" in events and "Created position" in events
    assert events.index("Created contract") < events.index("Created order")  # a contract it did not know yet


def run_cli_block(base_url: str, home: Path) -> subprocess.CompletedProcess[str]:
    """The quickstart's commands with the demo password, the server's URL in TRADOVATE_URL (the block relies on the
    default, local), and `watch` stopped after its first event instead of Ctrl-C."""
    watch = "watch --account DEMO1 --quote ES"
    script = readme_block("cli", base_url).replace("<printed at the first start>", DEMO_PASSWORD)
    assert watch in script
    script = script.replace(watch, f"{watch} --count 1")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADOVATE_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
               TRADOVATE_URL=base_url, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.run(["bash", "-eu", "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          env=env)


def run_python_client_block(base_url: str) -> subprocess.CompletedProcess[str]:
    """The block with DEMO_PASSWORD defined and the server's URL for "local"."""
    block = readme_block("python-client", base_url)
    assert 'url="local"' in block
    script = f"DEMO_PASSWORD = {DEMO_PASSWORD!r}\n" + block.replace('url="local"', f"url={base_url!r}")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_command_line_block_runs_as_printed(desk: Desk, server: ServerProcess, tmp_path: Path) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)

    # Act
    done = run_cli_block(server.base_url, tmp_path)

    # Assert: the accounts, the fill, the position as JSON, the liquidation and the watched quote
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "DEMO1" in out and "DEMO2" in out, out
    assert f"Buy 1 {FRONT} Market in DEMO1: Filled" in out, out
    assert '"netPos":1' in out and f"DEMO1 {FRONT}: liquidated" in out, out
    assert f"{FRONT} bid 10 @ 6800" in out, out


def test_readme_python_client_block_runs_as_printed(desk: Desk, server: ServerProcess, tokens: Tokens) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25)

    # Act
    done = run_python_client_block(server.base_url)

    # Assert: the order filled, then the position was liquidated
    assert done.returncode == 0, done.stderr
    assert "PlaceOrderResult(failure_reason=None" in done.stdout, done.stdout
    demo = tokens.of(DEMO, DEMO_PASSWORD)  # the block's login may have ended the desk's (two sessions per user)
    positions = [p for p in desk.api.deps("position", desk.demo1, demo) if p["contractId"] == desk.front]
    assert [p["netPos"] for p in positions] == [0]


# A server first started (seeded) on a later date than the one the tests pin: ESZ6 expired on 2026-12-18
SEEDED_LATER = "2027-01-16T12:00:00Z"  # a Saturday: every CME session closed
LATER_SESSION = "2027-01-19T15:00:00Z"  # the Tuesday after (Monday is Martin Luther King Day): ES open, ESH7 front


@pytest.fixture
def seeded_later(tmp_path: Path) -> Iterator[FlaggedServer]:
    """A server whose seed ran with the clock at SEEDED_LATER (`--clock`), as a server first started then does."""
    with running(FlaggedServer(tmp_path / "later.db", tmp_path / "later.log", admin_password=ADMIN_PASSWORD,
                               demo_password=DEMO_PASSWORD, clock=SEEDED_LATER)) as server:
        yield server


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_readme_blocks_trade_the_front_month_of_the_day_when_the_server_was_seeded_after_esz6_expired(
        seeded_later: FlaggedServer, tmp_path: Path) -> None:
    # Arrange: a weekday of that later date, as a reader of the README in 2027 meets it
    with Api(seeded_later.base_url) as api:
        api.set_clock(LATER_SESSION, api.token(ADMIN, ADMIN_PASSWORD))

    # Act
    command_line = run_cli_block(seeded_later.base_url, tmp_path)
    python_client = run_python_client_block(seeded_later.base_url)

    # Assert: ES is ESH7 then, never the expired ESZ6
    assert command_line.returncode == 0, command_line.stderr
    assert "Buy 1 ESH7 Market in DEMO1: Filled" in command_line.stdout, command_line.stdout
    assert "DEMO1 ESH7: liquidated" in command_line.stdout and "ESZ6" not in command_line.stdout
    assert python_client.returncode == 0, python_client.stderr
    assert "PlaceOrderResult(failure_reason=None" in python_client.stdout, python_client.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_pinning_the_clock_before_esz6_expired_lists_it_first_on_a_server_seeded_later(
        seeded_later: FlaggedServer, tmp_path: Path) -> None:
    # Arrange: ESH7 and ESM7 were listed at the seed; the clock pinned where the suite and the plugin pin it
    with Api(seeded_later.base_url) as api:
        admin = api.token(ADMIN, ADMIN_PASSWORD)
        seeded = [c["name"] for c in api.query("contract/suggest", admin, t="ES", l=2)]
        api.set_clock(OPEN_TIME, admin)

        # Act: as it is, then after /sim/reset (as the suite's `desk` and the plugin do before each test)
        pinned = [c["name"] for c in api.query("contract/suggest", admin, t="ES", l=2)]
        command_line = run_cli_block(seeded_later.base_url, tmp_path)
        api.reset(admin)
        reset = [c["name"] for c in api.query("contract/suggest", admin, t="ES", l=2)]

    # Assert
    assert seeded == [BACK, "ESM7"]
    assert pinned == [FRONT, BACK] and reset == [FRONT, BACK]
    assert command_line.returncode == 0, command_line.stderr
    assert f"Buy 1 {FRONT} Market in DEMO1: Filled" in command_line.stdout, command_line.stdout
    assert f"DEMO1 {FRONT}: liquidated" in command_line.stdout, command_line.stdout


# --- 14: /sim/quote ----------------------------------------------------------------------------------


def test_get_quote_answers_what_post_set(desk: Desk) -> None:
    # Arrange
    posted = desk.quote(bid=6801.0, ask=6801.5, bid_size=7, ask_size=9, last=6801.25, depthSize=3)

    # Act
    by_symbol = desk.api.get("/sim/quote", desk.admin, symbol=FRONT)
    by_id = desk.api.get("/sim/quote", desk.admin, contractId=desk.front)

    # Assert
    assert by_symbol.status_code == 200, by_symbol.text
    assert by_symbol.json() == posted
    assert by_id.json() == posted


@pytest.mark.parametrize(("params", "status", "names"), [
    ({"symbol": "NOPE9"}, 404, "NOPE9"),
    ({"contractId": 999999}, 404, "999999"),
    ({}, 400, "symbol"),
    ({"contractId": "x"}, 400, "contractid"),
], ids=["unknown-symbol", "unknown-id", "missing", "bad-id"])
def test_get_quote_names_what_is_wrong_when_the_contract_is_unknown_or_missing(
        desk: Desk, params: dict[str, object], status: int, names: str) -> None:
    # Act
    response = desk.api.get("/sim/quote", desk.admin, **params)

    # Assert
    assert response.status_code == status, response.text
    assert names in response.json()["errorText"]


@pytest.mark.parametrize(("pinned", "released"), [
    ({"bid": 6800.0}, (6800.0, 6800.25)),
    ({"ask": 6800.0}, (6799.75, 6800.0)),
], ids=["bid-only", "ask-only"])
def test_release_fills_the_empty_side_when_the_quote_was_pinned_one_sided(
        desk: Desk, pinned: dict[str, float], released: tuple[float, float]) -> None:
    # Arrange
    desk.api.sim("quote", {"symbol": FRONT, **pinned}, desk.admin)

    # Act
    answer = desk.api.sim("quote", {"symbol": FRONT, "release": True}, desk.admin)

    # Assert
    assert (answer["bid"], answer["ask"]) == released
    assert desk.api.get("/sim/quote", desk.admin, symbol=FRONT).json() == answer


def test_released_one_sided_quote_moves_with_the_walk_again(tmp_path: Path) -> None:
    # Arrange: a server with the synthetic market, its clock in an open ES session (ESZ6 listed whatever the real
    # date); its admin pins ESZ6 bid-only, then releases it
    server = FlaggedServer(tmp_path / "walk.db", tmp_path / "server.log", admin_password=ADMIN_PASSWORD,
                           demo_password=DEMO_PASSWORD, quotes="synthetic", clock=OPEN_TIME)
    server.start()
    try:
        with Api(server.base_url) as api:
            admin = api.token(ADMIN, ADMIN_PASSWORD)
            api.sim("quote", {"symbol": FRONT, "bid": 6800.0}, admin)
            released = api.sim("quote", {"symbol": FRONT, "release": True}, admin)

            # Act: watch the quote (the walk moves a quote with probability 0.3 every 0.5 s)
            seen = released
            deadline = time.monotonic() + 60
            while seen["bid"] == released["bid"] and time.monotonic() < deadline:
                time.sleep(0.2)
                seen = api.get("/sim/quote", admin, symbol=FRONT).json()

        # Assert
        assert seen["bid"] != released["bid"], f"the walk never moved the released quote {released}"
        assert seen["ask"] == seen["bid"] + 0.25
    finally:
        server.kill()


def test_post_quote_replaces_the_whole_quote_when_fields_are_omitted(desk: Desk) -> None:
    # Arrange
    desk.quote(bid=6800.0, ask=6800.25, bid_size=3, ask_size=4, last=6800.0, depthSize=5, depthLevels=2)

    # Act
    answer = desk.api.sim("quote", {"symbol": FRONT, "ask": 6801.0}, desk.admin)

    # Assert: as docs/behaviour.md says (sizes are ES's display size, 20; depthSize is kept)
    assert answer["bid"] is None and answer["last"] is None
    assert (answer["ask"], answer["bidSize"], answer["askSize"]) == (6801.0, 20, 20)
    assert (answer["depthSize"], answer["depthLevels"]) == (5, 10)


# --- 15: --db --------------------------------------------------------------------------------------


def test_server_starts_on_a_plain_absolute_file_path(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "plain" / "sim.db"
    server = FlaggedServer(path, tmp_path / "server.log", db=str(path), admin_password=ADMIN_PASSWORD,
                           demo_password=DEMO_PASSWORD)

    # Act
    server.start()
    try:
        with Api(server.base_url) as api:
            token = api.token(DEMO, DEMO_PASSWORD)
            accounts = api.entities("account", token)
    finally:
        server.stop()

    # Assert: the database and the writer's lock are where the path says
    assert f"database {path}" in server.log()
    assert {a["name"] for a in accounts} == {"DEMO1", "DEMO2"}
    assert path.is_file() and path.with_name("sim.db.writer.lock").exists()


@pytest.mark.parametrize("case", ["directory", "directory-url", "not-a-database", "not-a-database-url",
                                  "postgres-url", "empty-sqlite-url"])
def test_bad_db_is_one_line_and_a_failing_exit_status(tmp_path: Path, case: str) -> None:
    # Arrange
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 10)
    db, named = {"directory": (str(tmp_path), str(tmp_path)),
                 "directory-url": (f"sqlite:///{tmp_path}", str(tmp_path)),
                 "not-a-database": (str(garbage), str(garbage)),
                 "not-a-database-url": (f"sqlite:///{garbage}", str(garbage)),
                 "postgres-url": ("postgresql://localhost/sim", "postgresql://localhost/sim"),
                 "empty-sqlite-url": ("sqlite:///", "'sqlite:///'")}[case]
    command = [sys.executable, "-m", "tradovate_sim.cli", "serve", "--port", str(free_port()), "--db", db]

    # Act
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    # Assert
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("tradovate-sim: --db") and named in lines[0]
    assert "Traceback" not in done.stderr


def test_a_taken_port_is_one_line_before_any_banner_or_password(tmp_path: Path) -> None:
    # Arrange: another program listens on the port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "tradovate_sim.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--db", str(tmp_path / "sim.db"), "--admin-password", ADMIN_PASSWORD]

        # Act
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    # Assert: nothing started, nothing seeded, nothing shown
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"tradovate-sim: --host 127.0.0.1 --port {port}: Address already in use"]
    assert not (tmp_path / "sim.db").exists()
