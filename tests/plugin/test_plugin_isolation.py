"""State made by one test is not seen by the next (the default `tradovate_sim_scope = function`). The second test
reads what the first left behind: they run in file order, and the second is only meaningful after the first."""

from typing import Any

import pytest

from tradovate_sim.model.simulator import PasswordRequest
from tradovate_sim.testing import DEFAULT_START_TIME, Sim, SimError, Trader

LEFT: dict[str, Any] = {}


def test_one_changes_everything_it_can(tradovate_sim: Sim, tradovate_trader: Trader) -> None:
    leftover = tradovate_sim.trader("leftover")
    reference = tradovate_sim.get_quote("ESZ6")
    tradovate_sim.quote("ESZ6", bid=6000, ask=6000.25)
    tradovate_sim.call("order/placeorder", {"accountId": tradovate_trader.account_id, "action": "Buy",
                                            "symbol": "ESZ6", "orderQty": 1, "orderType": "Market",
                                            "isAutomated": True}, user=tradovate_trader)
    tradovate_sim.call("order/placeorder", {"accountId": tradovate_sim.account("DEMO1").id, "action": "Buy",
                                            "symbol": "ESZ6", "orderQty": 2, "orderType": "Limit", "price": 5000,
                                            "isAutomated": True}, user=tradovate_sim.demo)
    limits = tradovate_sim.http.post("/sim/limits", json={"enabled": False}, headers=tradovate_sim.admin.headers)
    assert limits.status_code == 200, limits.text
    tradovate_sim.set_time("2026-12-01T15:00:00Z")
    LEFT.update(trader=tradovate_trader, leftover=leftover, reference=reference, demo_token=tradovate_sim.demo.token)


def test_two_sees_none_of_it(tradovate_sim: Sim, tradovate_trader: Trader) -> None:
    assert LEFT, "runs after test_one_changes_everything_it_can"
    old: Trader = LEFT["trader"]

    assert tradovate_sim.now() == DEFAULT_START_TIME
    assert tradovate_sim.get_quote("ESZ6") == LEFT["reference"]
    assert tradovate_sim.query("position/list") == []  # no position, of anyone
    assert tradovate_sim.query("order/list") == []
    assert tradovate_sim.http.get("/sim/limits", headers=tradovate_sim.admin.headers).json()["enabled"] is True
    leftover: Trader = LEFT["leftover"]
    with pytest.raises(SimError, match="HTTP 404"):
        tradovate_sim.account(leftover.account_name)
    with pytest.raises(SimError):
        tradovate_sim.login(leftover.name, leftover.password)
    assert tradovate_sim.http.get("/v1/auth/me", headers=leftover.headers).status_code == 401  # its session is gone
    assert tradovate_sim.demo.token == LEFT["demo_token"]  # seeded users' tokens keep working
    assert tradovate_trader.name == old.name and tradovate_trader.account_id == old.account_id  # same ids again


def test_three_sets_the_passwords_of_the_admin_and_demo(tradovate_sim: Sim) -> None:
    with tradovate_sim.client() as admin:  # `/sim/reset` keeps a seeded user's password: the plugin sets it back
        assert admin.sim.set_password(PasswordRequest(name="demo", password="changed-demo-pw")).changed
        assert admin.sim.set_password(PasswordRequest(name="admin", password="changed-admin-pw")).changed
    with pytest.raises(SimError):
        tradovate_sim.login("admin", tradovate_sim.server.admin_password)
    LEFT.update(passwords_changed=True)


def test_four_has_the_passwords_the_server_started_with(tradovate_sim: Sim) -> None:
    assert LEFT.get("passwords_changed"), "runs after test_three_sets_the_passwords_of_the_admin_and_demo"

    assert tradovate_sim.login("demo", tradovate_sim.server.demo_password).name == "demo"
    assert tradovate_sim.login("admin", tradovate_sim.server.admin_password).name == "admin"
    with tradovate_sim.client(tradovate_sim.demo) as demo:
        assert {a.name for a in demo.account.list()} == {"DEMO1", "DEMO2"}
    assert tradovate_sim.now() == DEFAULT_START_TIME
