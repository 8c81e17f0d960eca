"""Post-trade risk engine, what it writes (issue 10, "Speed"): a breach's lock and liquidation land in one commit;
water marks are kept in memory at once and reach the database within the engine's flush interval (1 s).

Read straight from the running server's SQLite file (read-only), next to what the REST API answers.
"""

import json
import sqlite3
import time
from typing import Any

import pytest
from server import ES_POINT_VALUE, Desk, ServerProcess
from test_autoliq_rules import ENTRY, buy, make_accounts, mark, net_pos, status

from tradovate_sim.storage import entities

pytestmark = pytest.mark.sqlite_only  # reads the SQLite file or its writer process

FLUSH_BOUND = 10.0  # seconds to wait for the 1 s flush (a liveness bound for a loaded machine, not a timing test)


def stored(server: ServerProcess, entity_type: str, entity_id: int) -> dict[str, Any] | None:
    """The entity as the file holds it: its table, with the journal rows the writer has not applied to it yet."""
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, isolation_level=None) as db:
        db.execute("BEGIN")
        found = {(t, i): body for t, i, body in entities.current(db)}
        db.execute("COMMIT")
    db.close()
    body = found.get((entity_type, entity_id))
    return None if body is None else dict(json.loads(body))


def journal(server: ServerProcess) -> list[list[dict[str, Any]]]:
    with sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True) as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM journal ORDER BY seq")]


def eventually_stored(server: ServerProcess, account: int, field: str, value: float) -> float | None:
    deadline = time.monotonic() + FLUSH_BOUND
    while True:
        found = (stored(server, "accountRiskStatus", account) or {}).get(field)
        if found == value or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_new_high_water_is_served_at_once_and_reaches_the_database_within_the_flush(
        desk: Desk, server: ServerProcess) -> None:
    account, = make_accounts(desk, {"trailingMaxDrawdown": 3_000.0, "trailingMaxDrawdownMode": "RealTime"})
    start = buy(desk, account)
    # Act: the market rises 10 points
    mark(desk, ENTRY + 10)
    # Assert: the high water is current in the API at once, and durable within the flush interval
    high = round(start + 10 * ES_POINT_VALUE, 2)
    assert status(desk, account)["maxNetLiq"] == high
    assert eventually_stored(server, account, "maxNetLiq", high) == high


def test_a_new_low_water_without_an_evaluation_is_served_at_once_and_reaches_the_database(
        desk: Desk, server: ServerProcess) -> None:
    account, = make_accounts(desk, {"dailyLossAutoLiq": 5_000.0})
    start = buy(desk, account)
    # Act: two falls, far from the rule's level (the second only lowers the low water)
    mark(desk, ENTRY - 1)
    mark(desk, ENTRY - 3)
    # Assert
    low = round(start - 3 * ES_POINT_VALUE, 2)
    assert status(desk, account)["minNetLiq"] == low
    assert eventually_stored(server, account, "minNetLiq", low) == low
    assert net_pos(desk, account) == 1


def test_each_breached_account_is_locked_and_liquidated_in_one_commit(desk: Desk, server: ServerProcess) -> None:
    accounts = make_accounts(desk, *[{"dailyLossAutoLiq": 100.0}] * 5)
    buy(desk, *accounts)
    # Act: 3 points down breaches all five at once
    mark(desk, ENTRY - 3)
    # Assert: per account, the one commit holding its autoLiqTransaction also holds the lock, its log and the
    # closing order; no commit before it locked the account on its own
    assert all(net_pos(desk, a) == 0 for a in accounts)
    commits = journal(server)
    for account in accounts:
        def mine(change: dict[str, Any], kind: str, account: int = account) -> bool:
            entity = change["entity"]
            return bool(change["entityType"] == kind and (entity.get("accountId") == account or (
                kind == "accountRiskStatus" and entity["id"] == account)))
        liquidations = [i for i, c in enumerate(commits) if any(mine(x, "autoLiqTransaction") for x in c)]
        assert len(liquidations) == 1
        commit = commits[liquidations[0]]
        locks = [x["entity"] for x in commit if mine(x, "accountRiskStatus")]
        assert [s["adminAction"] for s in locks] == ["LockTradingImmediately"]
        assert any(mine(x, "accountRiskStatusLog") for x in commit)
        orders = {x["entity"]["id"]: x["entity"]["admin"] for x in commit if mine(x, "order")}
        assert list(orders.values()) == [True]  # one closing order (created, then filled)
        earlier = [x["entity"]["adminAction"] for c in commits[:liquidations[0]] for x in c
                   if mine(x, "accountRiskStatus")]
        assert "LockTradingImmediately" not in earlier
