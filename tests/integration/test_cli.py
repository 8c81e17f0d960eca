"""The command line end to end against the running server: every command in table and --json form, exit codes,
errors as one line, and the password never printed (`Cli` checks every run for it)."""

import json
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Cli, spawn
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    AFTER_ESZ6_EXPIRY,
    BACK,
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    OPEN_TIME,
    Desk,
    ServerProcess,
    Tokens,
    free_port,
)

WAIT = 60  # seconds a subprocess may take before the test gives up (a hang, not a measurement)


@pytest.fixture
def cli(desk: Desk, server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    desk.quote(bid=6800.0, ask=6800.25)
    desk.quote(symbol=BACK, bid=6850.0, ask=6850.25)
    return Cli(capsys, monkeypatch, tmp_path, server.base_url)


# --- login, the token cache, the connection's settings -------------------------------------------------------------


def test_login_prints_who_you_are_and_keeps_the_token_mode_0600(cli: Cli) -> None:
    ran = cli.demo("login")
    assert ran.code == 0 and "as demo" in ran.out
    cache = cli.home / "cache" / "tradovate-sim" / "tokens.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert DEMO_PASSWORD not in cache.read_text()
    as_json = cli.demo("login", "--json").json()
    assert as_json["name"] == DEMO and as_json["userId"] > 0 and "password" not in json.dumps(as_json).lower()


def test_a_kept_token_serves_later_runs_without_the_password(cli: Cli) -> None:
    assert cli.demo("login").code == 0
    ran = cli("accounts", "--json", TRADOVATE_USER=DEMO)
    assert ran.code == 0 and {a["name"] for a in ran.json()} == {"DEMO1", "DEMO2"}
    assert cli("logout", TRADOVATE_USER=DEMO).code == 0
    forgotten = cli("accounts", TRADOVATE_USER=DEMO)
    assert forgotten.code == 2 and "no password" in forgotten.err


def test_login_exits_3_when_the_password_is_wrong(cli: Cli) -> None:
    cli.secrets.add("not-the-password")
    ran = cli("login", "--user", DEMO, "--password", "not-the-password")
    assert ran.code == 3 and ran.err.startswith("tradovate-sim: not authorized: Incorrect username or password")


def test_a_refused_kept_token_says_to_log_in_again_and_is_forgotten(cli: Cli, desk: Desk) -> None:
    assert cli.demo("login").code == 0
    for _ in range(2):  # two more sessions of demo end the one the CLI kept (Tradovate's two-session rule)
        desk.api.token(DEMO, DEMO_PASSWORD)
    ran = cli("positions", TRADOVATE_USER=DEMO)
    assert ran.code == 3 and "log in again" in ran.err
    assert cli("positions", TRADOVATE_USER=DEMO).code == 2  # forgotten: now the password is asked for


def test_a_config_profile_is_used_and_flags_and_variables_take_precedence(cli: Cli) -> None:
    config = cli.home / "config" / "tradovate-sim" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[profiles.default]\nuser = "{DEMO}"\npassword = "{DEMO_PASSWORD}"\naccount = "DEMO2"\n'
                      f'[profiles.desk]\nuser = "{ADMIN}"\npassword = "{ADMIN_PASSWORD}"\n')
    assert cli("place", "buy", "1", FRONT, "--no-cache").code == 0  # the profile's account: DEMO2
    placed = cli("positions", "--json", "--no-cache").json()
    assert [p["netPos"] for p in placed] == [1]
    assert cli("positions", "--json", "--no-cache", TRADOVATE_ACCOUNT="DEMO1").json() == []  # variable > profile
    assert cli("positions", "--json", "--no-cache", "--account", "DEMO2",
               TRADOVATE_ACCOUNT="DEMO1").json() == placed  # flag > variable
    assert cli("clock", "--json", "--profile", "desk", "--no-cache").json()["mode"] == "fixed"
    unknown = cli("clock", "--profile", "nope")
    assert unknown.code == 2 and "no profile 'nope'" in unknown.err


# --- the trader's commands -----------------------------------------------------------------------------------------


def test_accounts_as_a_table_and_as_json(cli: Cli) -> None:
    table = cli.demo("accounts")
    assert table.code == 0 and "DEMO1" in table.out and "DEMO2" in table.out
    rows = cli.demo("accounts", "--json").json()
    assert {a["name"] for a in rows} == {"DEMO1", "DEMO2"} and {"id", "userId", "accountType"} <= set(rows[0])


def test_a_market_order_shows_in_positions_fills_and_orders(cli: Cli) -> None:
    placed = cli.demo("place", "buy", "2", FRONT, "--account", "DEMO1")
    assert placed.code == 0 and "Filled" in placed.out
    positions = cli.demo("positions", "--json").json()
    assert [(p["netPos"], p["netPrice"]) for p in positions] == [(2, 6800.25)]
    assert FRONT in cli.demo("positions").out
    fills = cli.demo("fills", "--json", "--account", "DEMO1").json()
    assert [(f["qty"], f["price"], f["action"]) for f in fills] == [(2, 6800.25, "Buy")]
    assert "6800.25" in cli.demo("fills").out
    assert cli.demo("orders", "--json").json() == []  # nothing working
    every = cli.demo("orders", "--all", "--json").json()
    assert [o["ordStatus"] for o in every] == ["Filled"]


def test_a_limit_order_is_listed_working_then_cancelled(cli: Cli) -> None:
    placed = cli.demo("place", "buy", "1", FRONT, "--limit", "6700", "--account", "DEMO1", "--json").json()
    order_id = placed["orderId"]
    working = cli.demo("orders", "--json").json()
    assert [(o["id"], o["ordStatus"]) for o in working] == [(order_id, "Working")]
    table = cli.demo("orders").out
    assert "Limit" in table and "6700" in table
    cancelled = cli.demo("cancel", str(order_id), "--json")
    assert cancelled.code == 0 and "commandId" in cancelled.json()
    assert cli.demo("orders", "--json").json() == []
    again = cli.demo("cancel", str(order_id))
    assert again.code == 1 and again.err.startswith("tradovate-sim: rejected: ")


def test_a_stop_limit_order_is_placed_with_both_prices(cli: Cli) -> None:
    ran = cli.demo("place", "sell", "1", FRONT, "--stop", "6700", "--limit", "6690", "--account", "DEMO1")
    assert ran.code == 0 and "StopLimit" in ran.out and "Working" in ran.out


def test_a_rejected_order_exits_1_with_its_reason(cli: Cli) -> None:
    ran = cli.demo("place", "buy", "1", FRONT, "--limit", "6700.1", "--account", "DEMO1", "--json")
    assert ran.code == 1 and ran.json()["failureReason"] and "rejected: " in ran.err


def test_a_product_root_is_its_front_month_until_its_last_trade_date_then_the_next(cli: Cli, desk: Desk,
                                                                                  tokens: Tokens) -> None:
    # Arrange: ESZ6 and ESH7 quoted (the fixture)
    before = cli.demo("place", "buy", "1", "es", "--account", "DEMO1")
    quoted = cli.admin("quote", "ES", "--json").json()
    watched = cli.demo("watch", "--no-props", "--quote", "ES", "--count", "1")

    # Act: the Monday after ESZ6's last trade date (the admin token asked again: the CLI's admin login above may
    # have been the third live session of admin and ended the desk's, when an earlier test left one behind)
    desk.api.set_clock(AFTER_ESZ6_EXPIRY, tokens.of(ADMIN, ADMIN_PASSWORD))
    after = cli.demo("place", "buy", "1", "ES", "--account", "DEMO2")
    named = cli.demo("liquidate", FRONT, "--account", "DEMO1")  # a contract's name is that contract, expired or not
    not_a_product = cli.demo("place", "buy", "1", "E", "--account", "DEMO1")

    # Assert
    assert before.code == 0 and f"Buy 1 {FRONT} Market in DEMO1: Filled" in before.out, before.err
    assert quoted["symbol"] == FRONT and f"watching {FRONT}" in watched.err
    assert after.code == 0 and f"Buy 1 {BACK} Market in DEMO2: Filled" in after.out, after.err
    assert f"DEMO1 {FRONT}: liquidated" in named.out, named.err
    assert not_a_product.code == 4 and "unknown symbol 'E'" in not_a_product.err


@pytest.mark.parametrize(("argv", "code", "says"), [
    (("place", "buy", "1", "NOPE", "--account", "DEMO1"), 4, "unknown symbol 'NOPE'"),
    (("place", "buy", "1", FRONT, "--account", "NOPE"), 4, "unknown account 'NOPE'"),
    (("place", "buy", "1", FRONT), 2, "which account?"),
    (("place", "buy", "0", FRONT, "--account", "DEMO1"), 2, "QTY"),
    (("place", "hold", "1", FRONT), 2, "invalid choice"),
    (("positions", "--bogus"), 2, "unrecognized arguments: --bogus"),
    (("liquidate", "--account", "DEMO1"), 2, "give a SYMBOL, or --all"),
    (("nonsense",), 2, "invalid choice"),
    (("accounts", "--url", "ftp://x"), 2, "url:"),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(cli: Cli, argv: tuple[str, ...], code: int, says: str) -> None:
    ran = cli.demo(*argv)
    assert ran.code == code and says in ran.err and ran.err.startswith("tradovate-sim: ")


def test_liquidate_closes_one_position(cli: Cli) -> None:
    assert cli.demo("place", "buy", "3", FRONT, "--account", "DEMO1").code == 0
    ran = cli.demo("liquidate", FRONT, "--account", "DEMO1", "--json")
    assert ran.code == 0 and ran.json()["orderId"] > 0
    assert cli.demo("positions", "--json").json() == []
    assert "liquidated" in cli.demo("liquidate", FRONT, "--account", "DEMO1").out


def test_liquidate_all_closes_every_position_and_cancels_working_orders(cli: Cli) -> None:
    assert cli.demo("place", "buy", "2", FRONT, "--account", "DEMO1").code == 0
    assert cli.demo("place", "sell", "1", BACK, "--account", "DEMO1").code == 0
    assert cli.demo("place", "buy", "1", BACK, "--limit", "6000", "--account", "DEMO1").code == 0
    ran = cli.demo("liquidate", "--all", "--account", "DEMO1", "--json")
    assert ran.code == 0
    assert sorted((o["symbol"], o["netPos"]) for o in ran.json()) == sorted([(FRONT, 2), (BACK, -1)])
    assert all(o["orderId"] > 0 for o in ran.json())
    assert cli.demo("positions", "--json").json() == [] and cli.demo("orders", "--json").json() == []
    table = cli.demo("liquidate", "--all", "--account", "DEMO1")
    assert table.code == 0 and "none" in table.out  # nothing left


# --- risk ----------------------------------------------------------------------------------------------------------


def test_risk_lock_liquidation_only_unlock_and_show(cli: Cli) -> None:
    locked = cli.admin("risk", "lock", "--account", "DEMO1", "--reason", "test", "--json")
    assert locked.code == 0 and locked.json()["accountRiskStatus"]["adminAction"] == "LockTradingImmediately"
    refused = cli.demo("place", "buy", "1", FRONT, "--account", "DEMO1")
    assert refused.code == 1 and "TradingLocked" in refused.err
    assert cli.admin("risk", "liquidation-only", "--account", "DEMO1").code == 0
    shown = cli.admin("risk", "show", "--account", "DEMO1", "--json").json()
    assert shown["accountRiskStatus"]["adminAction"] == "LiquidateOnlyModeImmediately"
    assert set(shown) == {"account", "accountRiskStatus", "userAccountAutoLiq", "userAccountPositionLimits"}
    assert "LiquidateOnlyModeImmediately" in cli.demo("risk", "show", "--account", "DEMO1").out
    assert "Normal" in cli.admin("risk", "unlock", "--account", "DEMO1").out
    assert cli.demo("place", "buy", "1", FRONT, "--account", "DEMO1").code == 0


def test_risk_actions_need_an_admin(cli: Cli) -> None:
    ran = cli.demo("risk", "lock", "--account", "DEMO1")
    assert ran.code == 3 and "not authorized" in ran.err


# --- this server's controls ----------------------------------------------------------------------------------------


def test_quote_shows_and_sets(cli: Cli) -> None:
    shown = cli.admin("quote", FRONT, "--json").json()
    assert (shown["bid"], shown["ask"]) == (6800.0, 6800.25)
    moved = cli.admin("quote", FRONT, "--bid", "6801", "--ask", "6801.25", "--last", "6801", "--json").json()
    assert (moved["bid"], moved["ask"], moved["last"]) == (6801.0, 6801.25, 6801.0)
    assert "6801.25" in cli.admin("quote", FRONT).out
    unknown = cli.admin("quote", "NOPE")
    assert unknown.code == 4


def test_clock_shows_sets_and_advances(cli: Cli) -> None:
    assert cli.admin("clock", "--json").json() == {"now": OPEN_TIME, "mode": "fixed"}
    assert cli.admin("clock", "--advance", "60", "--json").json()["now"] == "2026-11-24T15:01:00Z"
    assert "2026-11-24 15:00:00Z" in cli.admin("clock", "--set", OPEN_TIME).out
    bad = cli.admin("clock", "--set", "yesterday")
    assert bad.code == 2 and "ISO 8601" in bad.err


def test_reset_brings_back_the_seeded_state(cli: Cli) -> None:
    assert cli.demo("place", "buy", "1", FRONT, "--account", "DEMO1").code == 0
    assert cli.admin("reset", "--json").json() == {"ok": True}
    assert cli.demo("positions", "--json").json() == []
    assert "reset" in cli.admin("reset").out


def test_passwd_sets_a_users_password_read_from_stdin(cli: Cli, desk: Desk) -> None:
    desk.create_user("clipw")
    cli.secrets.update({"clipw-pw", "a-new-secret"})
    before = desk.api.token("clipw", "clipw-pw")
    ran = cli.admin("passwd", "clipw", "--password-stdin", "--json", stdin="a-new-secret\n")
    assert ran.code == 0 and ran.json()["changed"] is True and ran.json()["name"] == "clipw"
    assert desk.api.get("/v1/auth/me", before).status_code == 401  # a changed password ends the user's sessions
    assert cli("login", "--user", "clipw", "--password", "a-new-secret", "--no-cache").code == 0
    assert cli("login", "--user", "clipw", "--password", "clipw-pw", "--no-cache").code == 3
    same = cli.admin("passwd", "clipw", "--password-stdin", stdin="a-new-secret\n")
    assert same.code == 0 and "unchanged" in same.out
    unknown = cli.admin("passwd", "nobody", "--password-stdin", stdin="x\n")
    assert unknown.code == 4 and "nobody" in unknown.err
    not_admin = cli.demo("passwd", "clipw", "--password-stdin", stdin="x\n")
    assert not_admin.code == 3
    no_stdin = cli.admin("passwd", "clipw")
    assert no_stdin.code == 2 and "--password-stdin" in no_stdin.err


@pytest.mark.parametrize("path", ["/docs", "/api"])
def test_a_url_with_a_wrong_path_says_there_is_no_tradovate_api_there_and_exits_3(cli: Cli, path: str) -> None:
    ran = cli.demo("accounts", TRADOVATE_URL=cli.url + path)
    assert ran.code == 3 and ran.out == ""
    assert ran.err.startswith(f"tradovate-sim: no Tradovate API at {cli.url}{path}: auth/accessTokenRequest answered "
                              "HTTP 404"), ran.err


def test_https_to_a_server_without_tls_says_so_and_exits_3(cli: Cli) -> None:
    url = cli.url.replace("http://", "https://")
    ran = cli.demo("accounts", TRADOVATE_URL=url)
    assert ran.code == 3 and ran.out == ""
    assert ran.err.startswith(f"tradovate-sim: cannot reach {url}: the TLS handshake failed"), ran.err
    assert "is http://, not https://" in ran.err


# --- as a process: a server that is down, watch until Ctrl-C -------------------------------------------------------


def test_a_server_that_is_down_is_one_line_and_exit_3(cli: Cli) -> None:
    process = spawn(cli, "accounts", TRADOVATE_URL=f"http://127.0.0.1:{free_port()}", TRADOVATE_USER=DEMO,
                    TRADOVATE_PASSWORD=DEMO_PASSWORD)
    out, err = process.communicate(timeout=WAIT)
    assert process.returncode == 3 and out == ""
    assert err.startswith("tradovate-sim: cannot reach http://127.0.0.1:") and len(err.splitlines()) == 1


@pytest.fixture
def watcher(cli: Cli) -> Iterator["subprocess.Popen[str]"]:
    with spawn(cli, "watch", "--json", "--account", "DEMO1", "--quote", FRONT, TRADOVATE_USER=DEMO,
               TRADOVATE_PASSWORD=DEMO_PASSWORD) as process:  # its pipes closed after the test
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def test_watch_prints_props_events_and_quotes_until_interrupted(cli: Cli, desk: Desk,
                                                                watcher: "subprocess.Popen[str]") -> None:
    assert watcher.stderr is not None and watcher.stdout is not None
    assert "watching DEMO1, ESZ6" in watcher.stderr.readline()  # the subscriptions are live
    assert cli.demo("place", "buy", "1", FRONT, "--account", "DEMO1").code == 0
    events = []
    for line in watcher.stdout:
        events.append(json.loads(line))
        if events[-1]["e"] == "props" and events[-1]["d"]["entityType"] == "position":
            break
    os.kill(watcher.pid, signal.SIGINT)
    assert watcher.wait(WAIT) == 0
    assert "Traceback" not in watcher.stderr.read()
    assert {"e": "md", "d": {"quotes": [events[0]["d"]["quotes"][0]]}} == events[0]
    assert events[0]["d"]["quotes"][0]["entries"]["Offer"]["price"] == 6800.25
    props = [e["d"] for e in events if e["e"] == "props"]
    assert {"order", "fill", "position"} <= {p["entityType"] for p in props}
    assert props[-1]["entity"]["netPos"] == 1


def test_watch_quotes_only_stops_after_count_events(cli: Cli) -> None:
    ran = cli.demo("watch", "--no-props", "--quote", FRONT, "--count", "1", "--json")
    assert ran.code == 0 and "watching ESZ6" in ran.err
    [event] = [json.loads(line) for line in ran.out.splitlines()]
    assert event["e"] == "md" and event["d"]["quotes"][0]["entries"]["Bid"]["price"] == 6800.0
    table = cli.demo("watch", "--no-props", "--quote", FRONT, "--count", "1")
    assert "ESZ6 bid 10 @ 6800" in table.out
    unknown = cli.demo("watch", "--quote", "NOPE")
    assert unknown.code == 4 and "unknown symbol 'NOPE'" in unknown.err
    nothing = cli.demo("watch", "--no-props")
    assert nothing.code == 2 and "nothing to watch" in nothing.err
