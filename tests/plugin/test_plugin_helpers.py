"""Each helper of the `tradovate_sim` fixture, against the session's server (the plugin's own fixtures)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tradovate_sim.client import Tradovate
from tradovate_sim.testing import DEFAULT_START_TIME, Sim, SimError, Trader

ORDER = {"action": "Buy", "orderQty": 1, "orderType": "Market", "isAutomated": True}


def buy(sim: Sim, trader: Trader, symbol: str) -> Any:
    return sim.call("order/placeorder", {**ORDER, "accountId": trader.account_id, "symbol": symbol}, user=trader)


def test_a_test_starts_at_the_start_time_with_the_es_session_open(tradovate_sim: Sim) -> None:
    assert tradovate_sim.now() == DEFAULT_START_TIME
    assert tradovate_sim.is_market_open("ES")
    assert tradovate_sim.front("ES").name == "ESZ6"


def test_the_seeded_accounts_are_dated_at_the_start_time_whatever_the_real_date(tradovate_sim: Sim) -> None:
    accounts = tradovate_sim.query("account/list")
    balances = tradovate_sim.query("cashBalance/list")

    assert {a["name"] for a in accounts} == {"TEMPLATE", "DEMO1", "DEMO2"}
    assert {datetime.fromisoformat(a["timestamp"]) for a in accounts} == {DEFAULT_START_TIME}
    assert {b["tradeDate"]["day"] for b in balances} == {DEFAULT_START_TIME.day}


def test_quote_pins_bid_ask_and_last_and_release_hands_it_back(tradovate_sim: Sim) -> None:
    pinned = tradovate_sim.quote("ESZ6", bid=6800, ask=6800.25, last=6800.25, bid_size=3, ask_size=4)

    assert (pinned.bid, pinned.ask, pinned.last, pinned.bid_size, pinned.ask_size) == (6800, 6800.25, 6800.25, 3, 4)
    assert tradovate_sim.get_quote("ESZ6") == pinned
    released = tradovate_sim.release_quote("ESZ6")
    assert (released.bid, released.ask) == (6800, 6800.25)  # as it stood; manual quotes do not walk


def test_a_market_buy_fills_at_the_quoted_offer(tradovate_sim: Sim, tradovate_trader: Trader) -> None:
    tradovate_sim.quote("ESZ6", bid=6800, ask=6800.25)

    placed = buy(tradovate_sim, tradovate_trader, "ESZ6")

    assert "failureReason" not in placed, placed
    [position] = tradovate_sim.query("position/list", user=tradovate_trader)
    assert (position["netPos"], position["boughtValue"]) == (1, 6800.25)


def test_set_time_and_advance_move_the_frozen_clock(tradovate_sim: Sim) -> None:
    assert tradovate_sim.set_time("2026-11-25T14:30:00Z") == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    assert tradovate_sim.advance(90) == datetime(2026, 11, 25, 14, 31, 30, tzinfo=UTC)
    assert tradovate_sim.advance(timedelta(hours=1)) == datetime(2026, 11, 25, 15, 31, 30, tzinfo=UTC)
    assert tradovate_sim.now() == datetime(2026, 11, 25, 15, 31, 30, tzinfo=UTC)  # frozen: no wall time passes


def test_close_market_moves_to_the_daily_break_and_orders_are_refused(tradovate_sim: Sim,
                                                                      tradovate_trader: Trader) -> None:
    closed_at = tradovate_sim.close_market("ES")

    assert closed_at == datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # 16:00 in Chicago
    assert not tradovate_sim.is_market_open("ES")
    assert buy(tradovate_sim, tradovate_trader, "ESZ6")["failureReason"] == "SessionClosed"
    assert tradovate_sim.close_market("ES") == closed_at  # already closed: the clock stays


def test_open_market_moves_to_the_next_session_and_orders_fill(tradovate_sim: Sim, tradovate_trader: Trader) -> None:
    tradovate_sim.set_time("2026-11-21T15:00:00Z")  # a Saturday

    opened_at = tradovate_sim.open_market("ES")

    assert opened_at == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)  # Sunday 17:00 in Chicago
    assert tradovate_sim.is_market_open("ES")
    assert "failureReason" not in buy(tradovate_sim, tradovate_trader, "ESZ6")
    assert tradovate_sim.open_market("ES") == opened_at  # already open: the clock stays


def test_the_exchange_calendar_decides_thanksgiving_closes_early(tradovate_sim: Sim) -> None:
    tradovate_sim.set_time("2026-11-26T15:00:00Z")  # Thanksgiving, 09:00 in Chicago

    assert tradovate_sim.close_market("ES") == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # the 12:00 CT early close


def test_an_unknown_product_is_a_clear_error(tradovate_sim: Sim) -> None:
    with pytest.raises(SimError, match="unknown product 'NOPE'"):
        tradovate_sim.open_market("NOPE")


def test_trader_is_a_funded_user_with_a_trading_permission(tradovate_sim: Sim) -> None:
    trader = tradovate_sim.trader("alice", cash=12_345.0)

    assert (trader.name, trader.account_name, trader.cash) == ("alice", "ALICE-1", 12_345.0)
    snapshot = tradovate_sim.call("cashBalance/getcashbalancesnapshot", {"accountId": trader.account_id},
                                  user=trader)
    assert snapshot["totalCashValue"] == 12_345.0
    permission = tradovate_sim.query("tradingPermission/item", id=trader.trading_permission_id)
    assert (permission["accountId"], permission["userId"], permission["status"]) == (
        trader.account_id, trader.user_id, "Approved")
    me = tradovate_sim.query("auth/me", user=trader)
    assert (me["userId"], me["name"]) == (trader.user_id, "alice")
    assert tradovate_sim.login("alice", trader.password).user_id == trader.user_id
    assert tradovate_sim.account("ALICE-1").id == trader.account_id


def test_traders_without_a_name_are_distinct(tradovate_sim: Sim, tradovate_trader: Trader) -> None:
    other = tradovate_sim.trader()

    assert other.name != tradovate_trader.name and other.account_id != tradovate_trader.account_id
    assert [a["id"] for a in tradovate_sim.query("account/list", user=other)] == [other.account_id]


def test_admin_and_demo_credentials_work(tradovate_sim: Sim) -> None:
    admin, demo = tradovate_sim.admin, tradovate_sim.demo

    assert tradovate_sim.query("auth/me", user=admin)["userId"] == admin.user_id
    assert sorted(a["name"] for a in tradovate_sim.query("account/list", user=demo)) == ["DEMO1", "DEMO2"]
    assert tradovate_sim.url.startswith("http://127.0.0.1:") and tradovate_sim.api_url == tradovate_sim.url + "/v1"
    assert tradovate_sim.ws_url == tradovate_sim.url.replace("http", "ws") + "/v1/websocket"


def test_a_refused_control_raises_sim_error_naming_it(tradovate_sim: Sim) -> None:
    with pytest.raises(SimError, match=r"POST /sim/quote: HTTP 404 .*NOPE"):
        tradovate_sim.quote("NOPE", bid=1, ask=2)
    with pytest.raises(SimError, match=r"user/createevaluationusers 'demo'"):
        tradovate_sim.trader("demo")  # the name is taken


def test_tradovate_client_is_the_typed_client_bound_to_the_trader(tradovate_trader: Trader,
                                                                  tradovate_client: Tradovate) -> None:
    me = tradovate_client.auth.me()

    assert (me.user_id, me.name) == (tradovate_trader.user_id, tradovate_trader.name)
    assert [account.id for account in tradovate_client.account.list()] == [tradovate_trader.account_id]


async def test_async_client_is_the_asyncio_twin(tradovate_sim: Sim, tradovate_trader: Trader) -> None:
    async with tradovate_sim.async_client(tradovate_trader) as client:
        accounts = await client.account.list()

    assert [account.id for account in accounts] == [tradovate_trader.account_id]
