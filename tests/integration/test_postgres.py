"""The server on PostgreSQL (issue 14, stage 1), against a running server and the tests' own cluster
(tests/pg/cluster.py): bad configuration is one line, `copy` moves a database SQLite -> PostgreSQL -> SQLite with
nothing lost, a database at another schema version is refused, and while PostgreSQL is down writes answer 503,
reads keep working, and service resumes by itself when it is back (a restart while idle costs no 503).

The rest of the suite runs on PostgreSQL too: `make test-postgres` runs every integration test with each server as
two workers on PostgreSQL (`WORKERS=1`: one process); `make test` runs this file, tests/pg and
test_postgres_workers.py (the race, the kill, failover, props and metrics across workers).
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cluster as pg_cluster
import pytest
from server import (
    ADMIN,
    ADMIN_PASSWORD,
    DEMO,
    DEMO_PASSWORD,
    OPEN_TIME,
    Api,
    ServerProcess,
    limit,
    order,
)

from tradovate_sim.storage import migrations

STATE_TYPES = ("user", "account", "order", "orderVersion", "command", "fill", "tradingPermission")
# Positions and balances are compared by what a copy must keep (a roll to another trade date would change the rest).
KEPT = {"position": ("id", "accountId", "contractId", "netPos"), "cashBalance": ("id", "accountId", "amount")}
SECRET = "s3cret-never-shown"


@pytest.fixture(scope="module")
def pg() -> pg_cluster.Cluster:
    return pg_cluster.shared()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradovate_sim.cli", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def serve_once(db: str) -> subprocess.CompletedProcess[str]:
    """`serve` that is expected to refuse to start."""
    return cli("serve", "--db", db, "--port", "1", "--quotes", "manual")


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    return output


# --- bad configuration ----------------------------------------------------------------------------------------


def test_bad_database_configuration_is_one_line_that_never_shows_the_password(pg: pg_cluster.Cluster,
                                                                             tmp_path: Path) -> None:
    refused_port = pg_cluster.free_port()
    cases = {
        "unreachable": (f"postgresql://postgres:{SECRET}@127.0.0.1:{refused_port}/x", "cannot reach"),
        "wrong password": (pg.url("postgres", password=SECRET), "wrong password for user 'postgres'"),
        "missing database": (pg.url("no_such_db"), 'database "no_such_db" does not exist'),
        "no database named": (f"postgresql://postgres:{SECRET}@127.0.0.1:{pg.port}", "name the database"),
        "bad port": (f"postgresql://postgres:{SECRET}@127.0.0.1:99999/x", "not a valid URL"),
        "unencoded / in the password": (f"postgresql://postgres:{SECRET}/x@127.0.0.1:{pg.port}/x", "not a valid URL"),
        "other scheme": (f"mysql://root:{SECRET}@127.0.0.1/x", "expected a file path, sqlite:///path or postgresql"),
    }
    for name, (db, expected) in cases.items():
        line = one_line(serve_once(db))
        assert expected in line, (name, line)
        assert SECRET not in line and pg_cluster.PASSWORD not in line, (name, line)
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database")
    assert "file is not a database" in one_line(cli("migrate", "--db", str(garbage)))
    assert "no such database file" in one_line(cli("copy", "--from", str(tmp_path / "none.db"), "--to", str(garbage)))


def test_serve_refuses_a_database_at_another_schema_version_naming_both(pg: pg_cluster.Cluster) -> None:
    url = pg.create_database("other_version")
    migrated = cli("migrate", "--db", url)
    current = migrations.SCHEMA_VERSION
    assert migrated.returncode == 0 and f"schema version 0 -> {current}" in migrated.stdout, migrated
    assert f"already at schema version {current}" in cli("migrate", "--db", url).stdout
    pg.psql("UPDATE tradovate_sim.meta SET value = '7' WHERE key = 'schema_version'", "other_version")

    line = one_line(serve_once(url))

    assert "schema version 7" in line and f"uses {current}" in line and "newer tradovate-sim" in line, line
    assert pg_cluster.PASSWORD not in line, line


# --- copy: SQLite -> PostgreSQL -> SQLite ----------------------------------------------------------------------


class Life:
    """A server on one database, with its seeded users' tokens, for one block."""

    def __init__(self, db_url: str, directory: Path, workers: int | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # `--clock`: every life starts in an open ES session with ESZ6 trading, whatever the real date (a Saturday,
        # a day after ESZ6 expired)
        self.server = ServerProcess(directory / "unused.db", directory / "server.log", db_url=db_url, clock=OPEN_TIME,
                                    workers=workers)
        self.server.start()
        self.api = Api(self.server.base_url)
        self.admin = self.api.token(ADMIN, ADMIN_PASSWORD)
        self.demo = self.api.token(DEMO, DEMO_PASSWORD)
        self.accounts = {a["name"]: a["id"] for a in self.api.entities("account", self.admin)}

    def state(self) -> dict[str, object]:
        seen: dict[str, object] = {t: self.api.entities(t, self.admin) for t in STATE_TYPES}
        for entity_type, fields in KEPT.items():
            seen[entity_type] = [{f: e.get(f) for f in fields} for e in self.api.entities(entity_type, self.admin)]
        seen["cashBalanceLog"] = self.api.deps("cashBalanceLog", self.accounts["DEMO1"], self.admin)
        return seen

    def trade(self) -> int:
        """A fill and a resting order on DEMO1; returns the resting order's id."""
        self.api.set_clock(OPEN_TIME, self.admin)
        self.api.set_quote(self.admin)
        self.api.call("order/placeorder", order(self.accounts["DEMO1"], qty=2), self.demo)
        return int(self.api.call("order/placeorder", limit(self.accounts["DEMO1"], 6700.0), self.demo)["orderId"])

    def stop(self) -> None:
        self.api.close()
        self.server.stop()  # SIGTERM: a graceful stop (uvicorn exits by the signal it caught)


@pytest.fixture
def lives(tmp_path: Path) -> Iterator[list[Life]]:
    started: list[Life] = []
    yield started
    for life in started:
        life.api.close()
        life.server.kill()


def test_copy_moves_a_database_sqlite_to_postgresql_and_back_with_the_same_state(
        pg: pg_cluster.Cluster, tmp_path: Path, lives: list[Life]) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    back = f"sqlite:///{tmp_path / 'back.db'}"
    target = pg.create_database("copy_target")
    lives.append(life := Life(first, tmp_path / "a"))
    resting = life.trade()
    on_sqlite = life.state()
    life.stop()

    copied = cli("copy", "--from", first, "--to", target)
    assert copied.returncode == 0, copied.stderr
    assert pg_cluster.PASSWORD not in copied.stdout
    lives.append(life := Life(target, tmp_path / "b"))
    on_postgres = life.state()
    cancelled = life.api.call("order/cancelorder", {"orderId": resting}, life.demo)  # the copy takes writes
    assert "commandId" in cancelled, cancelled
    after_cancel = life.state()
    life.stop()
    refused = cli("copy", "--from", first, "--to", target)
    assert "not empty" in one_line(refused) and "--force" in refused.stderr
    assert cli("copy", "--from", target, "--to", back).returncode == 0
    lives.append(life := Life(back, tmp_path / "c"))
    on_sqlite_again = life.state()
    placed = life.api.call("order/placeorder", limit(life.accounts["DEMO1"], 6701.0), life.demo)["orderId"]
    life.stop()

    assert on_postgres == on_sqlite
    assert on_sqlite_again == after_cancel
    assert placed > resting  # ids and journal seqs go on after the copies
    forced = cli("copy", "--from", back, "--to", target, "--force")
    assert forced.returncode == 0, forced.stderr


# --- PostgreSQL down while running ------------------------------------------------------------------------------


@pytest.fixture
def own_cluster() -> Iterator[pg_cluster.Cluster]:
    """A cluster of this test's own, to stop and start without disturbing the others."""
    cluster = pg_cluster.started()
    try:
        yield cluster
    finally:
        cluster.destroy()


def test_writes_answer_503_while_postgresql_is_down_reads_work_and_service_resumes_by_itself(
        own_cluster: pg_cluster.Cluster, tmp_path: Path, lives: list[Life]) -> None:
    lives.append(life := Life(own_cluster.create_database("downtime"), tmp_path))
    api, demo1 = life.api, life.accounts["DEMO1"]
    before = api.call("order/placeorder", limit(demo1, 6790.0), life.demo)["orderId"]

    own_cluster.stop("fast")
    refused = [api.post("/v1/order/placeorder", limit(demo1, 6780.0), life.demo) for _ in range(3)]
    health = api.get("/health")
    orders_while_down = api.entities("order", life.demo)
    own_cluster.start()
    answer = None
    for _ in range(200):  # the store reconnects with backoff (at most 2 s apart)
        answer = api.post("/v1/order/placeorder", limit(demo1, 6770.0), life.demo)
        if answer.status_code != 503:
            break
        time.sleep(0.1)

    assert [r.status_code for r in refused] == [503, 503, 503]
    assert "database" in refused[0].json()["errorText"]
    assert health.status_code == 503 and "database" in health.json()["failing"]
    assert [o["id"] for o in orders_while_down] == [before]
    assert answer is not None and answer.status_code == 200, answer.text
    after = answer.json()["orderId"]
    own_cluster.stop("fast")  # a restart while the server is idle: its next write finds the connection dead
    own_cluster.start()
    quiet = api.post("/v1/order/cancelorder", {"orderId": after}, life.demo)
    assert quiet.status_code == 200, quiet.text  # reconnected at once and written, no 503
    assert "failureReason" not in quiet.json() and "errorText" not in quiet.json(), quiet.text  # not a rejection
    life.stop()
    lives.append(again := Life(life.server.db_url, tmp_path / "again"))
    assert [o["id"] for o in again.api.entities("order", again.demo)] == [before, after]
    assert again.api.item("order", after, again.demo)["ordStatus"] == "Canceled"
    assert "connection lost" in life.server.log() and "connection restored" in life.server.log()
    assert pg_cluster.PASSWORD not in life.server.log()


def test_a_write_right_after_postgresql_is_back_is_taken_though_the_store_was_waiting_to_reconnect(
        own_cluster: pg_cluster.Cluster, tmp_path: Path, lives: list[Life]) -> None:
    lives.append(life := Life(own_cluster.create_database("backoff"), tmp_path, workers=1))
    api, demo1 = life.api, life.accounts["DEMO1"]
    own_cluster.stop("fast")
    probed = api.get("/health")  # a real write: the store finds its connection dead and reconnects, with backoff
    time.sleep(2.5)  # the backoff between its attempts grows to 2 s meanwhile
    own_cluster.start()

    placed = api.post("/v1/order/placeorder", limit(demo1, 6790.0), life.demo)  # at once, inside that wait

    assert probed.status_code == 503
    assert placed.status_code == 200, placed.text
    assert "orderId" in placed.json(), placed.text
