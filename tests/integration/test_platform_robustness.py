"""Input at the edges of floats and clients that leave mid-request: a 400 naming the field, never a 500, and no
traceback in the log."""

import socket
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from server import FRONT, Desk, ServerProcess, leg, limit, order, quote, stop


@pytest.mark.parametrize(("field", "value"), [("bid", 1e308), ("ask", -1e308), ("bid", -1e308), ("last", 1e308),
                                              ("ask", 1.7976931348623157e308)])
def test_sim_quote_with_a_huge_price_is_a_400_naming_the_field(desk: Desk, field: str, value: float) -> None:
    body = quote(**{field: value})
    if field == "last":
        body["last"] = value
    response = desk.api.post("/sim/quote", body, desk.admin)
    assert response.status_code == 400, response.text
    assert response.json()["errorText"].startswith(f"{field}: "), response.text


@pytest.mark.parametrize(("operation", "body", "field"), [
    ("order/placeorder", lambda d: limit(d.demo1, 1e308), "price"),
    ("order/placeorder", lambda d: stop(d.demo1, -1e308), "stopPrice"),
    ("order/placeoso", lambda d: {**limit(d.demo1, 6790.0), "bracket1": leg("Sell", "Limit", price=1e308)},
     "bracket1.price"),
    ("order/placeoco", lambda d: {**limit(d.demo1, 6790.0), "other": leg("Sell", "Stop", stopPrice=-1e308)},
     "other.stopPrice"),
])
def test_order_with_a_huge_price_is_a_400_naming_the_field(desk: Desk, operation: str, body: Any,
                                                           field: str) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    response = desk.api.post(f"/v1/{operation}", body(desk), desk.demo)
    assert response.status_code == 400, response.text
    assert response.json()["errorText"].startswith(f"{field}: "), response.text
    assert desk.api.entities("order", desk.admin) == []


def test_modify_order_with_a_huge_price_is_a_400_naming_the_field(desk: Desk) -> None:
    desk.quote(bid=6800.0, ask=6800.25)
    order_id = desk.place(limit(desk.demo1, 6790.0))["orderId"]
    response = desk.api.post("/v1/order/modifyorder", {"orderId": order_id, "orderQty": 1, "orderType": "Limit",
                                                       "price": 1e308}, desk.demo)
    assert response.status_code == 400, response.text
    assert response.json()["errorText"].startswith("price: "), response.text
    assert desk.place(order(desk.demo1, symbol=FRONT))["orderId"]  # the server goes on


def send_partial_body_and_leave(base_url: str, path: str, token: str | None = None) -> None:
    """A POST announcing 1,000 bytes of body that sends 10 and closes the connection."""
    parts = urlsplit(base_url)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n{auth}"
                      "Content-Length: 1000\r\n\r\n{\"name\": ").encode())


def test_a_client_leaving_mid_body_logs_one_line_and_no_traceback(desk: Desk, server: ServerProcess) -> None:
    start = len(server.log())
    send_partial_body_and_leave(server.base_url, "/v1/auth/accesstokenrequest")  # no token needed
    send_partial_body_and_leave(server.base_url, "/sim/quote", desk.admin)
    deadline = time.monotonic() + 10
    while server.log()[start:].count("client disconnected during the request body") < 2 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    logged = server.log()[start:]
    assert logged.count("client disconnected during the request body") == 2, logged
    assert "Traceback" not in logged, logged
    assert desk.api.get("/v1/auth/me", desk.demo).status_code == 200
