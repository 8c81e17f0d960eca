"""Post-trade rules fire (issue 10, section 1): against the session's running server, manual quotes, frozen clock.

Each test makes evaluation accounts of the demo trader with `postTradeRisk`, buys one ES at 6800.25 and moves the
mark (the quote's last trade) to cross a rule's level, then checks what the breach did (or that it did nothing one
cent before). The clock starts at 2026-11-24 15:00 UTC (Tuesday, 09:00 CT, ES open).
"""

import asyncio
from typing import Any

import httpx
from server import ES_POINT_VALUE, FRONT, Desk, evaluation_account, order, quote

ENTRY = 6800.25  # the ask the market buy fills at
NEXT_SESSION = "2026-11-24T23:30:00Z"  # 17:30 CT: the next trade date (Wednesday) is open
NEXT_WEEK = "2026-11-30T15:00:00Z"  # the following Monday


def make_accounts(desk: Desk, *rules: dict[str, Any], balance: float = 50_000.0) -> list[int]:
    names = [f"AL{i}{abs(hash(str(r))) % 100_000}" for i, r in enumerate(rules)]
    result = desk.api.call("user/createevaluationaccounts", {"accounts": [
        evaluation_account(desk.demo_user, desk.template, name, initial_balance=balance, postTradeRisk=rule)
        for name, rule in zip(names, rules, strict=True)]}, desk.admin)
    return [int(r["accountId"]) for r in result["results"]]


def buy(desk: Desk, *accounts: int) -> float:
    """Buy one ES in each account at 6800.25 and mark it there; returns the net liq of the first."""
    desk.quote(**quote(last=ENTRY, bid=6800.0, ask=ENTRY))
    for account in accounts:
        assert desk.place(order(account)).get("orderId"), "the buy was refused"
    return float(desk.snapshot(accounts[0])["netLiq"])


def mark(desk: Desk, price: float) -> None:
    desk.quote(**quote(last=price, bid=price - 0.25, ask=price))


def status(desk: Desk, account: int) -> dict[str, Any]:
    return desk.api.item("accountRiskStatus", account, desk.admin)


def net_pos(desk: Desk, account: int) -> int:
    return int(desk.position(account)["netPos"])


def refused(desk: Desk, account: int, **extra: Any) -> str | None:
    return desk.place(order(account, **extra)).get("failureReason")


def closing_orders(desk: Desk, account: int) -> list[dict[str, Any]]:
    return [o for o in desk.api.deps("order", account, desk.admin) if o["admin"]]


def test_daily_loss_fires_at_its_level_and_not_a_cent_before(desk: Desk) -> None:
    # Arrange: the mark two points down costs $100; the rules' levels are at that net liq and one cent below it
    probe, = make_accounts(desk, {})
    start = buy(desk, probe)
    loss = round(50_000.0 - (start - 2 * ES_POINT_VALUE), 2)
    hit, missed = make_accounts(desk, {"dailyLossAutoLiq": loss}, {"dailyLossAutoLiq": round(loss + 0.01, 2)})
    buy(desk, hit, missed)
    # Act
    mark(desk, ENTRY - 2)
    # Assert: liquidated, locked, audited; the other one trades on
    assert net_pos(desk, hit) == 0
    assert net_pos(desk, missed) == 1
    assert status(desk, hit)["adminAction"] == "LockTradingImmediately"
    assert status(desk, missed)["adminAction"] == "Normal"
    assert refused(desk, hit) == "TradingLocked"
    transactions = desk.api.deps("autoLiqTransaction", hit, desk.admin)
    assert [(t["initiator"], t["liquidatedNetPos"]) for t in transactions] == [("Admin", 1)]
    assert "userId" not in transactions[0]  # the risk system, not a person
    assert len(closing_orders(desk, hit)) == 1
    logs = desk.api.deps("accountRiskStatusLog", hit, desk.demo)
    assert logs and "dailyLossAutoLiq" in logs[-1]["adminActionReason"]


def test_a_daily_lock_ends_at_the_next_session_unless_do_not_unlock(desk: Desk) -> None:
    day, kept = make_accounts(desk, {"dailyLossAutoLiq": 50.0}, {"dailyLossAutoLiq": 50.0, "doNotUnlock": True})
    buy(desk, day, kept)
    mark(desk, ENTRY - 2)
    assert refused(desk, day) == refused(desk, kept) == "TradingLocked"
    # Act: the next trade date opens
    desk.api.set_clock(NEXT_SESSION, desk.admin)
    mark(desk, ENTRY - 2)
    # Assert
    assert status(desk, day)["adminAction"] == "Normal"
    assert refused(desk, day) is None
    assert status(desk, kept)["adminAction"] == "LockTradingImmediately"
    desk.api.call("accountRiskStatus/setadminautoliqaction", {"accountId": kept, "adminAction": "Normal",
                                                              "adminActionReasonCode": "Other",
                                                              "adminActionReason": "reviewed"}, desk.admin)
    assert refused(desk, kept) is None


def test_a_weekly_lock_ends_at_the_next_week(desk: Desk) -> None:
    week, = make_accounts(desk, {"weeklyLossAutoLiq": 50.0})
    buy(desk, week)
    mark(desk, ENTRY - 2)
    desk.api.set_clock(NEXT_SESSION, desk.admin)
    assert status(desk, week)["adminAction"] == "LockTradingImmediately"
    desk.api.set_clock(NEXT_WEEK, desk.admin)
    assert status(desk, week)["adminAction"] == "Normal"


def test_an_alert_reaches_the_admins_only_and_trading_goes_on(desk: Desk) -> None:
    account, = make_accounts(desk, {"dailyLossAlert": 50.0})
    buy(desk, account)
    mark(desk, ENTRY - 0.75)  # -$37.50 and fees: not yet
    assert desk.api.entities("adminAlertSignal", desk.admin) == []
    mark(desk, ENTRY - 2)
    signals = desk.api.entities("adminAlertSignal", desk.admin)
    assert [(s["relatedToAccountId"], s["completed"]) for s in signals] == [(account, False)]
    assert desk.api.entities("adminAlertSignal", desk.demo) == []
    assert net_pos(desk, account) == 1 and refused(desk, account) is None
    mark(desk, ENTRY - 3)  # still breached: no second alert
    assert len(desk.api.entities("adminAlertSignal", desk.admin)) == 1


def test_liquidation_only_mode_refuses_opening_orders_until_the_next_session(desk: Desk) -> None:
    account, = make_accounts(desk, {"dailyLossLiqOnly": 50.0})
    buy(desk, account)
    mark(desk, ENTRY - 2)
    assert status(desk, account).get("liquidateOnly")
    assert net_pos(desk, account) == 1
    assert refused(desk, account) == "LiquidationOnly"
    assert refused(desk, account, action="Sell") is None  # reducing is accepted
    desk.api.set_clock(NEXT_SESSION, desk.admin)
    assert "liquidateOnly" not in status(desk, account)


def test_trailing_drawdown_realtime_trails_the_open_profit(desk: Desk) -> None:
    account, = make_accounts(desk, {"trailingMaxDrawdown": 200.0, "trailingMaxDrawdownMode": "RealTime"})
    start = buy(desk, account)
    mark(desk, ENTRY + 10)  # +$500: the high water rises with the open profit
    high = status(desk, account)["maxNetLiq"]
    assert high == round(start + 500, 2)
    mark(desk, ENTRY + 6.25)  # -$187.50 from the peak: not yet
    assert net_pos(desk, account) == 1
    mark(desk, ENTRY + 6)  # -$200 from the peak: at the level
    assert net_pos(desk, account) == 0
    assert desk.snapshot(account)["autoLiqLevel"] == round(high - 200, 2)


def test_trailing_drawdown_eod_rises_only_at_the_trade_date_roll(desk: Desk) -> None:
    account, = make_accounts(desk, {"trailingMaxDrawdown": 200.0, "trailingMaxDrawdownMode": "EOD"})
    start = buy(desk, account)
    mark(desk, ENTRY + 10)
    assert status(desk, account)["maxNetLiq"] == 50_000.0  # intraday profit does not raise it
    mark(desk, ENTRY + 6)  # would have breached a RealTime trail
    assert net_pos(desk, account) == 1
    desk.api.set_clock(NEXT_SESSION, desk.admin)  # the close's net liq becomes the high water
    assert status(desk, account)["maxNetLiq"] == round(start + 300, 2)
    mark(desk, ENTRY + 2.25)  # -$187.50 from the close
    assert net_pos(desk, account) == 1
    mark(desk, ENTRY + 2)  # -$200
    assert net_pos(desk, account) == 0


def test_flatten_time_closes_everything_then_liquidation_only(desk: Desk) -> None:
    account, = make_accounts(desk, {"flattenTimestamp": "2026-11-24T15:05:00Z"})
    buy(desk, account)
    desk.place(order(account, order_type="Limit", price=6790.0))
    desk.api.set_clock("2026-11-24T15:05:00Z", desk.admin)
    assert net_pos(desk, account) == 0
    assert not [o for o in desk.api.deps("order", account, desk.admin) if o["ordStatus"] == "Working"]
    assert refused(desk, account) == "LiquidationOnly"


def test_a_breach_while_the_market_is_closed_locks_at_once_and_liquidates_at_the_open(desk: Desk) -> None:
    account, = make_accounts(desk, {"dailyLossAutoLiq": 50.0})
    buy(desk, account)
    desk.api.set_clock("2026-11-24T22:30:00Z", desk.admin)  # 16:30 CT: the daily break
    mark(desk, ENTRY - 2)
    assert status(desk, account)["adminAction"] == "LockTradingImmediately"
    assert net_pos(desk, account) == 1
    desk.api.set_clock("2026-11-24T23:00:00Z", desk.admin)  # 17:00 CT: the open of the next session
    assert net_pos(desk, account) == 0
    assert len(closing_orders(desk, account)) == 1


def test_a_balance_change_that_breaches_fires_at_once(desk: Desk) -> None:
    account, = make_accounts(desk, {"trailingMaxDrawdown": 500.0})
    buy(desk, account)
    desk.api.call("cashBalance/changedemobalance", {"accountId": account, "cashChange": -600.0}, desk.admin)
    assert net_pos(desk, account) == 0


async def test_twenty_concurrent_requests_around_a_breach_close_once_and_never_flip(desk: Desk) -> None:
    account, = make_accounts(desk, {"dailyLossAutoLiq": 50.0})
    buy(desk, account)
    base = str(desk.api.http.base_url)
    headers = {"Authorization": f"Bearer {desk.demo}"}
    admin = {"Authorization": f"Bearer {desk.admin}"}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        requests = [client.post("/v1/order/placeorder", json=order(account, action=a), headers=headers)
                    for a in ("Buy", "Sell") * 6]
        requests += [client.post("/v1/order/liquidateposition", json={"accountId": account,
                                                                      "contractId": desk.front, "admin": False},
                                 headers=headers) for _ in range(4)]
        requests += [client.post("/sim/quote", json=quote(FRONT, last=p, bid=p - 0.25, ask=p), headers=admin)
                     for p in (ENTRY - 2, ENTRY - 2.25, ENTRY - 2.5, ENTRY - 1.75)]
        answers = await asyncio.gather(*requests)
    assert all(a.status_code == 200 for a in answers)
    mark(desk, ENTRY - 3)
    assert net_pos(desk, account) == 0
    assert len(closing_orders(desk, account)) <= 1
    assert status(desk, account)["adminAction"] == "LockTradingImmediately"


def test_every_loss_and_margin_rule_fires_at_its_level_and_not_before(desk: Desk) -> None:
    # Arrange: the net liq two points down is known from a probe; each rule gets an account whose level is exactly
    # there (hit) and one whose level is a hair lower (missed). Bases: 50,000 (the day's and the week's start).
    probe, = make_accounts(desk, {})
    at = round(buy(desk, probe) - 2 * ES_POINT_VALUE, 2)  # net liq at the mark two points down
    loss = round(50_000.0 - at, 2)
    margin = 500.0  # ES day margin of one contract while the session is open
    pairs = {
        "dailyLossAutoLiq": (loss, round(loss + 0.01, 2)),
        "weeklyLossAutoLiq": (loss, round(loss + 0.01, 2)),
        "dailyLossPercentageAutoLiq": (loss / 500.0, (loss + 0.01) / 500.0),
        "marginPercentageAutoLiq": (margin / (at + 0.001) * 100, margin / (at - 0.001) * 100),
    }
    accounts = {rule: make_accounts(desk, {rule: hit}, {rule: missed}) for rule, (hit, missed) in pairs.items()}
    buy(desk, *[a for pair in accounts.values() for a in pair])
    # Act
    mark(desk, ENTRY - 2)
    # Assert
    for rule, (hit, missed) in accounts.items():
        assert (net_pos(desk, hit), net_pos(desk, missed)) == (0, 1), rule
        assert status(desk, hit)["adminAction"] == "LockTradingImmediately", rule


def test_every_profit_rule_fires_at_its_level_and_not_before(desk: Desk) -> None:
    probe, = make_accounts(desk, {})
    at = round(buy(desk, probe) + 2 * ES_POINT_VALUE, 2)  # net liq at the mark two points up
    profit = round(at - 50_000.0, 2)
    rules = ("dailyProfitAutoLiq", "weeklyProfitAutoLiq")
    accounts = {rule: make_accounts(desk, {rule: profit}, {rule: round(profit + 0.01, 2)}) for rule in rules}
    buy(desk, *[a for pair in accounts.values() for a in pair])
    # Act
    mark(desk, ENTRY + 2)
    # Assert
    for rule, (hit, missed) in accounts.items():
        assert (net_pos(desk, hit), net_pos(desk, missed)) == (0, 1), rule
