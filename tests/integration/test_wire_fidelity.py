"""What unmodified Tradovate clients rely on (issue 8): tokens that live in real time whatever `/sim/clock` does,
`authorize` with a JSON-quoted token, datetimes with exactly three fractional digits and `Z`, and batch provisioning
that reports each bad item in its own result."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from server import (
    DEMO,
    DEMO_PASSWORD,
    FRONT,
    JSON,
    Desk,
    ServerProcess,
    evaluation_account,
    evaluation_user,
    order,
)
from ws_client import Opener, WsClient

TOKEN_LIFE = timedelta(minutes=90)
SATURDAY_AFTER = "2026-11-28T15:00:00Z"  # the Saturday after OPEN_TIME: every CME Globex session is closed
WIRE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LOOKS_LIKE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


def wall_now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def times_in(value: Any) -> list[str]:
    """Every string in a JSON value that looks like a datetime."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in times_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in times_in(v)]
    return [value] if isinstance(value, str) and LOOKS_LIKE_TIME.match(value) else []


def assert_wire_times(value: Any) -> None:
    found = times_in(value)
    assert found, "no datetime in the payload"
    assert [t for t in found if not WIRE_TIME.fullmatch(t)] == []


# --- 1. tokens and sessions live in real time ---------------------------------------------------------------------


def test_login_expiration_time_is_90_minutes_of_wall_time_when_the_clock_is_frozen_elsewhere(desk: Desk) -> None:
    # Arrange: the desk froze the simulated clock at OPEN_TIME
    before = wall_now()
    # Act
    result = desk.api.login(DEMO, DEMO_PASSWORD)
    # Assert
    after = wall_now()
    expires = datetime.fromisoformat(result["expirationTime"])
    assert before + TOKEN_LIFE <= expires <= after + TOKEN_LIFE
    assert WIRE_TIME.fullmatch(result["expirationTime"])


def test_tokens_keep_working_when_the_clock_moves_to_a_saturday_and_days_ahead(desk: Desk) -> None:
    # Arrange
    desk.quote()
    admin, demo = desk.admin, desk.demo  # issued before the move
    # Act
    desk.api.set_clock(SATURDAY_AFTER, admin)
    desk.api.sim("clock", {"advanceSeconds": 3 * 86400 + TOKEN_LIFE.total_seconds()}, admin)
    # Assert
    assert desk.api.get("/v1/auth/me", admin).status_code == 200
    assert desk.api.get("/v1/auth/me", demo).status_code == 200
    desk.api.set_clock(SATURDAY_AFTER, admin)
    result = desk.place(order(desk.demo1), demo)
    assert result["failureReason"] == "SessionClosed", result
    assert desk.api.get("/sim/clock", admin).json()["now"] == "2026-11-28T15:00:00.000Z"


def test_renewal_is_judged_and_dated_by_wall_time_when_the_clock_moved_days_ahead(desk: Desk) -> None:
    # Arrange
    first = desk.api.login(DEMO, DEMO_PASSWORD)
    desk.api.sim("clock", {"advanceSeconds": 5 * 86400}, desk.admin)
    before = wall_now()
    # Act
    renewed = desk.api.call("auth/renewaccesstoken", None, first["accessToken"])
    # Assert
    after = wall_now()
    assert renewed["accessToken"] != first["accessToken"]
    assert before + TOKEN_LIFE <= datetime.fromisoformat(renewed["expirationTime"]) <= after + TOKEN_LIFE
    assert desk.api.get("/v1/auth/me", renewed["accessToken"]).status_code == 200


async def test_websocket_keeps_its_caller_and_authorizes_again_when_the_clock_moves_to_a_saturday(
        desk: Desk, server: ServerProcess) -> None:
    # Arrange
    desk.quote()
    async with await WsClient.open(server.base_url) as early:
        assert await early.authorize(desk.demo) == {"s": 200, "i": 0}
        # Act
        desk.api.sim("clock", {"advanceSeconds": 2 * 86400}, desk.admin)
        desk.api.set_clock(SATURDAY_AFTER, desk.admin)
        async with await WsClient.open(server.base_url) as later:
            answer = await later.authorize(desk.demo)
            placed = await later.request("order/placeorder", order(desk.demo1))
        me = await early.request("auth/me")
    # Assert
    assert answer == {"s": 200, "i": 0}
    assert placed["s"] == 200 and placed["d"]["failureReason"] == "SessionClosed", placed
    assert me["s"] == 200 and me["d"]["userId"] == desk.demo_user


# --- 2. authorize with a JSON-quoted token -------------------------------------------------------------------------


async def test_authorize_accepts_the_token_raw_or_as_a_json_string_when_a_client_quotes_it(
        desk: Desk, server: ServerProcess) -> None:
    for body in (desk.demo, f'"{desk.demo}"', f' "{desk.demo}"\n', f'"{desk.demo}" '):
        async with await WsClient.open(server.base_url) as client:
            # Act
            answer = await client.authorize(body)
            # Assert
            assert answer == {"s": 200, "i": 0}, body
            me = await client.call("auth/me")
            assert me["userId"] == desk.demo_user


async def test_authorize_answers_401_and_closes_when_the_token_is_garbage_quoted_or_not(
        desk: Desk, server: ServerProcess) -> None:
    for body in ("garbage", '"garbage"', f'"{desk.demo}', f'"{desk.demo[:-4]}AAAA"', '""', f'["{desk.demo}"]',
                 f'{{"token": "{desk.demo}"}}', f'"\\"{desk.demo}\\""'):
        async with await WsClient.open(server.base_url) as client:
            # Act
            answer = await client.authorize(body)
            # Assert
            assert answer == {"s": 401, "i": 0, "d": "Invalid access token"}, body
            close = await client.closed()
            assert close is not None and close[1] == "Invalid access token"


# --- 4. datetimes with three fractional digits and Z ---------------------------------------------------------------


def test_rest_answers_carry_milliseconds_and_z_when_the_clock_has_a_fraction_or_none(desk: Desk) -> None:
    for now, expected in (("2026-11-24T15:00:00.452Z", "2026-11-24T15:00:00.452Z"),
                          ("2026-11-24T15:00:01Z", "2026-11-24T15:00:01.000Z"),
                          ("2026-11-24T15:00:02.1Z", "2026-11-24T15:00:02.100Z"),
                          ("2026-11-24T15:00:03.123456789Z", "2026-11-24T15:00:03.123Z")):
        # Act
        clock = desk.api.set_clock(now, desk.admin)
        quote = desk.quote()
        placed = desk.place(order(desk.demo1))
        # Assert
        assert clock["now"] == expected
        assert quote["timestamp"] == expected
        assert desk.order(placed["orderId"])["timestamp"] == expected
        assert desk.api.get("/sim/clock", desk.admin).json()["now"] == expected
    for entity_type in ("order", "fill", "position", "cashBalance", "account", "user", "executionReport"):
        assert_wire_times(desk.api.entities(entity_type, desk.admin))
    assert_wire_times(desk.api.login(DEMO, DEMO_PASSWORD))


def test_client_datetimes_are_accepted_in_every_rfc3339_form_and_answered_in_utc_milliseconds(desk: Desk) -> None:
    # Arrange
    forms = {"2026-11-25T15:00:00.452Z": "2026-11-25T15:00:00.452Z", "2026-11-25T15:00:00Z": "2026-11-25T15:00:00.000Z",
             "2026-11-25T15:00:00": "2026-11-25T15:00:00.000Z", "2026-11-25T15:00:00.45": "2026-11-25T15:00:00.450Z",
             "2026-11-25T16:00:00.452+01:00": "2026-11-25T15:00:00.452Z",
             "2026-11-25T10:00:00-05:00": "2026-11-25T15:00:00.000Z"}
    desk.quote()
    for sent, expected in forms.items():
        # Act
        placed = desk.place(order(desk.demo1, order_type="Limit", price=6700.0, timeInForce="GTD", expireTime=sent))
        clock = desk.api.set_clock(sent, desk.admin)
        # Assert
        assert "failureReason" not in placed, placed
        versions = desk.api.deps("orderVersion", placed["orderId"], desk.demo)
        assert [v["expireTime"] for v in versions] == [expected]
        assert clock["now"] == expected
        desk.api.set_clock("2026-11-24T15:00:00Z", desk.admin)


async def test_websocket_replies_and_props_events_carry_milliseconds_and_z_when_entities_change(
        desk: Desk, ws: Opener) -> None:
    # Arrange
    desk.api.set_clock("2026-11-24T15:00:00.452Z", desk.admin)
    desk.quote()
    client = await ws(desk.demo)
    snapshot = await client.sync({"splitResponses": False, "accounts": [desk.demo1]})
    assert (await client.request("md/subscribeQuote", {"symbol": FRONT}))["s"] == 200
    # Act
    placed = await client.call("order/placeorder", order(desk.demo1))
    await client.wait_until(lambda: any(p["entityType"] == "position" for p in client.props()), what="a position")
    await client.wait_until(lambda: bool(client.md()), what="a quote")
    # Assert
    assert "failureReason" not in placed
    assert_wire_times(snapshot)
    assert_wire_times(client.props())
    assert_wire_times(client.md())
    assert "2026-11-24T15:00:00.452Z" in times_in(client.props())


# --- 7. batch provisioning reports each bad item in its own result ------------------------------------------------


def test_valid_users_are_created_and_each_bad_one_reports_its_field_when_a_batch_mixes_them(desk: Desk) -> None:
    # Arrange
    users = [evaluation_user("goodone"), evaluation_user("shortmail", email="ab"),
             {k: v for k, v in evaluation_user("nofirst").items() if k != "firstName"},
             evaluation_user("longnames", firstName="F" * 30, lastName="L" * 31), evaluation_user("demo"),
             evaluation_user("goodtwo", firstName="F" * 30, lastName="L" * 30)]
    before = {u["name"] for u in desk.api.entities("user", desk.admin)}
    # Act
    response = desk.api.post("/v1/user/createevaluationusers", {"users": users}, desk.admin)
    # Assert
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 6
    assert "userId" in results[0] and "errorText" not in results[0]
    assert results[1]["errorText"].startswith("email:") and "userId" not in results[1]
    assert "firstName" in results[2]["errorText"] and "userId" not in results[2]
    assert results[3]["errorText"].startswith("firstName, lastName:") and "userId" not in results[3]
    assert results[4] == {"errorText": "User demo already exists"}
    assert "userId" in results[5]
    after = {u["name"] for u in desk.api.entities("user", desk.admin)}
    assert after - before == {"goodone", "goodtwo"}
    assert desk.api.token("goodone", "goodone-pw")


def test_valid_accounts_are_created_and_each_bad_one_reports_its_field_when_a_batch_mixes_them(desk: Desk) -> None:
    # Arrange
    user = desk.create_user("batcher")
    accounts = [evaluation_account(user, desk.template, "EVAL-OK-1"),
                evaluation_account(user, desk.template, "EVAL-BAD-1", initial_balance=-5.0),
                {k: v for k, v in evaluation_account(user, desk.template, "EVAL-BAD-2").items() if k != "name"},
                {**evaluation_account(user, desk.template, "EVAL-BAD-3"), "userId": "batcher"},
                evaluation_account(987654, desk.template, "EVAL-BAD-4"),
                evaluation_account(user, desk.template, "EVAL-OK-2")]
    before = {a["name"] for a in desk.api.entities("account", desk.admin)}
    # Act
    response = desk.api.post("/v1/user/createevaluationaccounts", {"accounts": accounts}, desk.admin)
    # Assert
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [sorted(r) for r in results] == [["accountId", "tradingPermissionId"], ["errorText"], ["errorText"],
                                            ["errorText"], ["errorText"], ["accountId", "tradingPermissionId"]]
    assert results[1]["errorText"].startswith("initialBalance:")
    assert "name" in results[2]["errorText"]
    assert results[3]["errorText"].startswith("userId:")
    assert results[4]["errorText"].startswith("userId:")
    after = {a["name"] for a in desk.api.entities("account", desk.admin)}
    assert after - before == {"EVAL-OK-1", "EVAL-OK-2"}


def test_batch_that_is_not_a_list_of_objects_answers_400_and_creates_nothing(desk: Desk) -> None:
    before = desk.api.entities("user", desk.admin)
    bodies: list[JSON | list[Any]] = [{"users": evaluation_user("lonely")}, {"users": [evaluation_user("a1"), 5]},
                                      [evaluation_user("a2")], {"users": []}, {}]
    for body in bodies:
        response = desk.api.post("/v1/user/createevaluationusers", body, desk.admin)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errorText"].startswith(("users", "body")), response.text
    assert desk.api.entities("user", desk.admin) == before
