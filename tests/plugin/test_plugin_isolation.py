"""State made by one test is not seen by the next (the default `tradovate_sim_scope = function`). The second test
reads what the first left behind: they run in file order, and the second is only meaningful after the first."""

from typing import Any

import pytest

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
