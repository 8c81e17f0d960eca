"""`/v1/openapi.json` and `/docs` as a client and a browser get them, and the defects that fuzzing on the document
found (test_openapi_fuzz.py), each fixed and pinned here against the running server."""

import re
from typing import Any

import pytest
from server import Api, Desk, ServerProcess

TUESDAY = {"year": 2026, "month": 11, "day": 24}


@pytest.fixture(scope="module")
def served(api: Api) -> dict[str, Any]:
    response = api.get("/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_the_document_is_served_without_a_token_when_asked(api: Api, served: dict[str, Any]) -> None:
    # Act
    response = api.get("/v1/openapi.json")
    # Assert
    assert response.headers["content-type"] == "application/json"
    assert served["openapi"] == "3.1.0"
    assert {"/v1/order/liquidatePosition", "/v1/position/list", "/sim/quote"} <= set(served["paths"])
    assert served["paths"]["/v1/order/liquidatePosition"]["post"]["requestBody"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/LiquidatePosition"}
    assert "user/syncRequest" in [op["name"] for op in served["x-websocket"]["operations"]]


def test_the_document_describes_no_429_when_the_server_runs_without_limits(served: dict[str, Any]) -> None:
    # Assert: the suite's server runs with `--rate-limits off`
    assert not [path for path, item in served["paths"].items() for op in item.values() if "429" in op["responses"]]


def test_every_operation_in_the_document_is_routed_when_called_without_a_token(api: Api,
                                                                               served: dict[str, Any]) -> None:
    # Act: the document's paths, spelled as it spells them, reach an operation (401 without a token, never 404)
    statuses = {(method, path): (api.get(path) if method == "get" else api.post(path, {})).status_code
                for path, item in served["paths"].items() for method in item if path != "/v1/auth/accessTokenRequest"}
    # Assert
    assert {key: status for key, status in statuses.items() if status != 401} == {}


def test_the_docs_page_loads_only_from_this_server_when_opened(api: Api) -> None:
    # Act
    page = api.get("/docs")
    # Assert
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "unsafe" not in policy
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert linked and all(link.startswith("/docs/") for link in linked)
    assert "<script>" not in page.text  # no inline script: the policy would block it
    for link in linked:
        asset = api.get(link)
        assert asset.status_code == 200, link
        assert asset.headers["content-security-policy"] == policy
    start = api.get("/docs/start.js").text
    assert '"/v1/openapi.json"' in start and 'validatorUrl: "none"' in start


def test_a_file_the_page_does_not_load_is_404_when_asked_under_docs(api: Api) -> None:
    # Act
    answers = [api.get(f"/docs/{name}") for name in ("swagger-editor.js", "..%2Fcore.py", "LICENSE")]
    # Assert
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert answers[0].json()["errorText"] == "docs: no file 'swagger-editor.js'"


# --- found by fuzzing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("date", [{"year": 2026, "month": 10**30, "day": 1}, {"year": -(10**20), "month": 1, "day": 1},
                                  {"year": 2026, "month": 11, "day": 2**63}])
def test_a_reset_date_beyond_any_calendar_is_400_naming_it_when_a_reset_is_asked(desk: Desk,
                                                                                 date: dict[str, int]) -> None:
    # Act
    response = desk.api.post("/v1/account/resetDemoAccountState", {"accountIds": [desk.demo1], "resetTradeDate": date},
                             desk.admin)
    # Assert (it was a 500: `date()` overflows a C long before it checks the range)
    assert response.status_code == 400
    assert response.json()["errorText"].startswith("resetTradeDate: ")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/v1/order/placeorder", "GET, POST"),
    ("DELETE", "/v1/account/item", "GET, POST"),
    ("PATCH", "/v1/auth/me", "GET, POST"),
    ("PUT", "/sim/quote", "GET, POST"),
    ("GET", "/sim/reset", "POST"),
])
def test_a_method_the_operation_does_not_take_is_405_naming_the_one_it_takes(desk: Desk, method: str, path: str,
                                                                             allowed: str) -> None:
    # Act
    response = desk.api.http.request(method, path, headers={"Authorization": f"Bearer {desk.admin}"})
    # Assert (Starlette's 405 had no `Allow` naming the operation's methods)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["errorText"].startswith("method: ")


@pytest.mark.parametrize("path", ["/v1/auth/renewAccessToken", "/v1/auth/me", "/v1/account/list"])
def test_a_v1_query_answers_post_as_it_answers_get_as_clients_in_the_wild_send_either(desk: Desk, path: str) -> None:
    # Arrange
    headers = {"Authorization": f"Bearer {desk.demo}"}
    # Act
    answers = [desk.api.http.request(method, path, headers=headers) for method in ("GET", "POST")]
    # Assert
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json().keys() == answers[1].json().keys() if path.endswith("renewAccessToken") \
        else answers[0].json() == answers[1].json()


def test_an_unknown_operation_stays_404_whatever_the_method(desk: Desk) -> None:
    # Act
    answers = [desk.api.http.request(m, "/v1/nothing/here") for m in ("GET", "POST", "PUT")]
    # Assert
    assert [a.status_code for a in answers] == [404, 404, 404]


def test_a_declared_method_still_works_when_the_name_is_in_another_case(desk: Desk, server: ServerProcess) -> None:
    # Act
    listed = desk.api.get("/v1/POSITION/LIST", desk.demo)
    reset = desk.api.post("/v1/account/RESETDEMOACCOUNTSTATE", {"accountIds": [desk.demo1], "resetTradeDate": TUESDAY},
                          desk.admin)
    # Assert
    assert listed.status_code == 200 and reset.status_code == 200, server.log()[-2000:]
