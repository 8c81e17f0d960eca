"""Auth over HTTP: access tokens, renewal, `auth/me`, the two-session cap, expiry, and 401 on every operation."""

from datetime import UTC, datetime, timedelta

import pytest
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, Api, Desk

from tradovate_sim.service import endpoints

TOKEN_LIFE = timedelta(minutes=90)

# What the issue requires of the endpoint table: every one of these must exist (and so be checked below).
REQUIRED_OPERATIONS = {
    "auth/renewaccesstoken", "auth/me", "order/placeorder", "order/cancelorder", "order/modifyorder",
    "order/placeoco", "order/placeoso", "user/createevaluationusers", "user/createevaluationaccounts",
    "user/revoketradingpermission", "cashbalance/changedemobalance", "cashbalance/getcashbalancesnapshot",
    "accountriskstatus/setadminautoliqaction",
    *(f"{entity}/item" for entity in (
        "user", "account", "accountriskstatus", "cashbalance", "tradingpermission", "exchange", "product",
        "productsession", "contractmaturity", "contract", "order", "orderversion", "command", "commandreport",
        "executionreport", "fill", "fillpair", "position", "useraccountautoliq", "useraccountpositionlimit",
        "useraccountriskparameter")),
}


def protected_operations() -> list[str]:
    return sorted(name for name, endpoint in endpoints.build().items() if not endpoint.public)


def call_without_valid_token(api: Api, operation: str, token: str | None) -> int:
    """The status of one operation called as a client would call it, with `token` (or none)."""
    if operation.rsplit("/", 1)[1] in ("item", "items", "list", "find", "suggest", "deps", "ldeps", "me"):
        query = {"id": 1, "ids": "1", "masterid": 1, "masterids": "1", "name": "ESZ6", "t": "E", "l": 1}
        return api.get(f"/v1/{operation}", token, **query).status_code
    return api.post(f"/v1/{operation}", {"accountId": 2, "orderId": 1}, token).status_code


def test_login_returns_tokens_expiring_in_90_minutes_when_credentials_are_good(desk: Desk) -> None:
    # Arrange: the desk fixture froze the clock at OPEN_TIME
    # Act
    result = desk.api.login(DEMO, DEMO_PASSWORD)
    # Assert
    assert result["accessToken"] and result["mdAccessToken"]
    assert result["accessToken"] != result["mdAccessToken"]
    assert datetime.fromisoformat(result["expirationTime"]) > datetime.now(UTC)  # wall time: test_wire_fidelity.py
    assert (result["userId"], result["name"], result["userStatus"]) == (desk.demo_user, DEMO, "Active")
    assert "errorText" not in result
    names = sorted(a["name"] for a in desk.api.entities("account", result["accessToken"]))
    assert names == ["DEMO1", "DEMO2"]


@pytest.mark.parametrize(("name", "password"), [(DEMO, "wrong-password"), ("nobody", DEMO_PASSWORD), (DEMO, "")])
def test_login_answers_200_with_error_text_and_no_token_when_credentials_are_bad(
        desk: Desk, name: str, password: str) -> None:
    # Act
    response = desk.api.post("/v1/auth/accesstokenrequest", {"name": name, "password": password})
    # Assert
    assert response.status_code == 200
    body = response.json()
    assert body["errorText"] == "Incorrect username or password. Please try again."
    assert "accessToken" not in body and "mdAccessToken" not in body


def test_login_accepts_user_name_in_any_case_when_password_is_right(desk: Desk) -> None:
    result = desk.api.login(ADMIN.upper(), ADMIN_PASSWORD)
    assert result["userId"] == desk.admin_user


def test_renew_issues_a_new_working_token_with_a_fresh_expiry_when_token_is_valid(desk: Desk) -> None:
    # Arrange
    desk.create_user("renewer")
    first = desk.api.token("renewer", "renewer-pw")
    desk.api.sim("clock", {"advanceSeconds": 600}, desk.admin)
    before = datetime.now(UTC).replace(microsecond=0)
    # Act
    renewed = desk.api.call("auth/renewaccesstoken", None, first)
    # Assert
    assert renewed["accessToken"] != first
    after = datetime.now(UTC)
    assert before + TOKEN_LIFE <= datetime.fromisoformat(renewed["expirationTime"]) <= after + TOKEN_LIFE
    me = desk.api.query("auth/me", renewed["accessToken"])
    assert me["name"] == "renewer"


def test_me_describes_the_caller_when_token_is_valid(desk: Desk) -> None:
    me = desk.api.query("auth/me", desk.demo)
    assert (me["userId"], me["name"], me["email"]) == (desk.demo_user, DEMO, "demo@localhost")
    assert me["emailVerified"] is True


def test_third_login_ends_the_oldest_session_when_user_already_has_two(desk: Desk) -> None:
    # Arrange
    desk.create_user("trio")
    first = desk.api.login("trio", "trio-pw")
    second = desk.api.token("trio", "trio-pw")
    # Act
    third = desk.api.token("trio", "trio-pw")
    # Assert
    assert desk.api.get("/v1/auth/me", first["accessToken"]).status_code == 401
    assert desk.api.get("/v1/account/list", first["accessToken"]).status_code == 401
    assert desk.api.get("/v1/auth/me", first["mdAccessToken"]).status_code == 401
    assert desk.api.get("/v1/auth/me", second).status_code == 200
    assert desk.api.get("/v1/auth/me", third).status_code == 200


# A token expires by the wall clock, 90 minutes after it was issued (tests/unit/test_identity.py; a moved simulated
# clock expires nothing: tests/integration/test_wire_fidelity.py).


def test_endpoint_table_offers_every_operation_the_issue_requires_when_listed() -> None:
    assert REQUIRED_OPERATIONS - set(protected_operations()) == set()


@pytest.mark.parametrize("token", [None, "garbage", "a.b", "x" * 300], ids=["missing", "garbage", "forged", "huge"])
def test_every_v1_operation_answers_401_when_token_is_missing_or_invalid(
        desk: Desk, token: str | None) -> None:
    # Act
    statuses = {op: call_without_valid_token(desk.api, op, token) for op in protected_operations()}
    # Assert
    assert {op: s for op, s in statuses.items() if s != 401} == {}
    assert desk.api.entities("order", desk.admin) == []


def test_every_v1_operation_answers_401_when_token_was_signed_for_an_ended_session(desk: Desk) -> None:
    # Arrange
    desk.create_user("ended")
    stale = desk.api.token("ended", "ended-pw")
    desk.api.token("ended", "ended-pw")
    desk.api.token("ended", "ended-pw")
    # Act
    statuses = {op: call_without_valid_token(desk.api, op, stale) for op in protected_operations()}
    # Assert
    assert {op: s for op, s in statuses.items() if s != 401} == {}


def test_bearer_scheme_is_required_when_token_is_sent_in_another_scheme(desk: Desk) -> None:
    response = desk.api.http.get("/v1/auth/me", headers={"Authorization": f"Basic {desk.demo}"})
    assert response.status_code == 401
