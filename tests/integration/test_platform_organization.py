"""`organization/*` and `userProperty/*` over HTTP (issue 8, points 5 and 6): the caller's own organization is
served to its admin and its traders; a user's properties only to that user and their organization's admin.

Nothing in the API creates a second organization or sets a user property, so the isolation tests write them into
the database of a server of their own while it is stopped (as a partner's data would be), then start it again.
"""

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, Api, Desk, ServerProcess, evaluation_user

ORGANIZATION = "tradovate-sim"  # the seeded organization's name
OTHER_ORGANIZATION_ID = 900
OUTSIDER_ID = 901  # a user of the other organization


# --- the caller's own organization (shared server) ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "demo"])
def test_organization_queries_answer_the_callers_own_organization_when_asked(desk: Desk, who: str) -> None:
    # Arrange
    token = desk.admin if who == "admin" else desk.demo
    # Act
    listed = desk.api.entities("organization", token)
    # Assert
    assert [o["name"] for o in listed] == [ORGANIZATION]
    own = listed[0]
    assert desk.api.item("organization", own["id"], token) == own
    assert desk.api.query("organization/items", token, ids=str(own["id"])) == [own]
    assert desk.api.find("organization", ORGANIZATION.upper(), token) == own
    assert desk.api.query("organization/suggest", token, t="sim") == [own]


def test_organization_item_is_404_when_the_id_is_unknown(desk: Desk) -> None:
    response = desk.api.get("/v1/organization/item", desk.admin, id=OTHER_ORGANIZATION_ID)
    assert response.status_code == 404


@pytest.mark.parametrize("who", ["admin", "demo"])
def test_user_property_deps_are_empty_when_nothing_set_them(desk: Desk, who: str) -> None:
    # Arrange
    token, user_id = (desk.admin, desk.admin_user) if who == "admin" else (desk.demo, desk.demo_user)
    # Act
    deps = desk.api.deps("userProperty", user_id, token)
    # Assert
    assert deps == []
    assert desk.api.query("userProperty/ldeps", token, masterids=str(user_id)) == []
    assert desk.api.query("userProperty/items", token, ids="1,2") == []
    assert desk.api.get("/v1/userProperty/item", token, id=1).status_code == 404


# --- isolation: a second organization and user properties written into the database ---------------------------------


@dataclass(frozen=True)
class Seeded:
    api: Api
    admin: str
    demo: str
    other_trader: str
    organization_id: int
    admin_user: int
    demo_user: int
    other_trader_user: int
    properties: dict[str, int]  # whose -> userProperty id


def _insert(db: Path, rows: list[tuple[str, int, str]]) -> None:
    with sqlite3.connect(db) as connection:
        connection.executemany("INSERT INTO entity VALUES (?, ?, ?)", [(t, i, b.encode()) for t, i, b in rows])
    connection.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    directory = tmp_path_factory.mktemp("organizations")
    server = ServerProcess(directory / "sim.db", directory / "server.log")
    server.start()
    try:
        with Api(server.base_url) as api:
            admin = api.token(ADMIN, ADMIN_PASSWORD)
            created = api.call("user/createevaluationusers", {"users": [evaluation_user("other")]}, admin)
            other_trader_user = created["results"][0]["userId"]
            users = {u["name"]: u for u in api.entities("user", admin)}
        server.stop()
        stamp = '"timestamp":"2026-11-24T15:00:00Z"'
        properties = {"demo": 1, "other": 2, "admin": 3, "outsider": 4}
        owners = {"demo": users[DEMO]["id"], "other": other_trader_user, "admin": users[ADMIN]["id"],
                  "outsider": OUTSIDER_ID}
        _insert(server.db_path, [
            ("organization", OTHER_ORGANIZATION_ID, f'{{"id":{OTHER_ORGANIZATION_ID},"name":"other-firm"}}'),
            ("user", OUTSIDER_ID, f'{{"id":{OUTSIDER_ID},"name":"outsider",{stamp},"email":"o@example.com",'
                                  f'"status":"Active","professional":false,"organizationId":{OTHER_ORGANIZATION_ID}}}'),
            *(("userProperty", pid, f'{{"id":{pid},"userId":{owners[who]},"propertyId":7,"value":"{who}"}}')
              for who, pid in properties.items()),
        ])
        server.start()
        with Api(server.base_url) as api:
            yield Seeded(
                api=api, admin=api.token(ADMIN, ADMIN_PASSWORD), demo=api.token(DEMO, DEMO_PASSWORD),
                other_trader=api.token("other", "other-pw"), organization_id=users[ADMIN]["organizationId"],
                admin_user=users[ADMIN]["id"], demo_user=users[DEMO]["id"], other_trader_user=other_trader_user,
                properties=properties,
            )
    finally:
        try:
            server.stop()
        finally:
            server.kill()


@pytest.mark.sqlite_only  # its fixture writes rows into the SQLite file
def test_organization_of_another_firm_is_invisible_when_a_trader_or_the_admin_asks(seeded: Seeded) -> None:
    api = seeded.api
    for token in (seeded.admin, seeded.demo, seeded.other_trader):
        assert [o["id"] for o in api.entities("organization", token)] == [seeded.organization_id]
        assert api.get("/v1/organization/item", token, id=OTHER_ORGANIZATION_ID).status_code == 404
        assert api.get("/v1/organization/find", token, name="other-firm").status_code == 404
        assert api.query("organization/items", token, ids=f"{seeded.organization_id},{OTHER_ORGANIZATION_ID}") == \
            [{"id": seeded.organization_id, "name": ORGANIZATION}]
        assert api.query("organization/suggest", token, t="firm") == []


@pytest.mark.sqlite_only  # its fixture writes rows into the SQLite file
def test_user_property_is_served_to_its_user_when_set(seeded: Seeded) -> None:
    api, pid = seeded.api, seeded.properties["demo"]
    expected = {"id": pid, "userId": seeded.demo_user, "propertyId": 7, "value": "demo"}
    assert api.item("userProperty", pid, seeded.demo) == expected
    assert api.deps("userProperty", seeded.demo_user, seeded.demo) == [expected]
    assert api.query("userProperty/ldeps", seeded.demo, masterids=str(seeded.demo_user)) == [expected]


@pytest.mark.sqlite_only  # its fixture writes rows into the SQLite file
def test_user_property_of_another_user_is_404_when_a_trader_asks(seeded: Seeded) -> None:
    api = seeded.api
    for whose in ("other", "admin", "outsider"):
        assert api.get("/v1/userProperty/item", seeded.demo, id=seeded.properties[whose]).status_code == 404
    ids = ",".join(str(i) for i in seeded.properties.values())
    assert [p["value"] for p in api.query("userProperty/items", seeded.demo, ids=ids)] == ["demo"]
    assert [p["value"] for p in api.query("userProperty/items", seeded.other_trader, ids=ids)] == ["other"]
    masters = f"{seeded.demo_user},{seeded.other_trader_user},{seeded.admin_user},{OUTSIDER_ID}"
    assert [p["value"] for p in api.query("userProperty/ldeps", seeded.demo, masterids=masters)] == ["demo"]
    assert api.deps("userProperty", seeded.other_trader_user, seeded.demo) == []


@pytest.mark.sqlite_only  # its fixture writes rows into the SQLite file
def test_user_properties_of_the_organization_are_served_to_its_admin_but_not_another_firms(seeded: Seeded) -> None:
    api = seeded.api
    ids = ",".join(str(i) for i in seeded.properties.values())
    assert sorted(p["value"] for p in api.query("userProperty/items", seeded.admin, ids=ids)) == \
        ["admin", "demo", "other"]
    assert api.item("userProperty", seeded.properties["other"], seeded.admin)["userId"] == seeded.other_trader_user
    assert api.get("/v1/userProperty/item", seeded.admin, id=seeded.properties["outsider"]).status_code == 404
    assert api.deps("userProperty", OUTSIDER_ID, seeded.admin) == []
