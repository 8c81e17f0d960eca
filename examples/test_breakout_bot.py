"""The breakout bot against tradovate-sim, with the pytest plugin only: each test gets the server reset, a funded
trader (`tradovate_trader`), and sets the quotes and the clock itself (`tradovate_sim`)."""

from collections.abc import Iterator

import pytest
from breakout_bot import Action, BreakoutBot, Plan

from tradovate_sim.testing import Sim, Trader

LEVEL = 6800.0


@pytest.fixture
def symbol(tradovate_sim: Sim) -> str:
    return tradovate_sim.front("ES").name  # ESZ6 at the default start time


@pytest.fixture
def bot(tradovate_sim: Sim, tradovate_trader: Trader, symbol: str) -> Iterator[BreakoutBot]:
    bot = BreakoutBot(tradovate_sim.api_url, tradovate_trader.token, tradovate_trader.account_id,
                      Plan(symbol=symbol, level=LEVEL, take_profit_ticks=8, stop_loss_ticks=40, max_loss=200.0))
    yield bot
    bot.close()


def tick(sim: Sim, bot: BreakoutBot, symbol: str, bid: float, ask: float) -> Action:
    """What the market data feed does in production: the quote changes, the bot hears it."""
    sim.quote(symbol, bid=bid, ask=ask)
    return bot.on_quote(bid, ask)


def test_waits_while_the_offer_is_at_or_below_the_level(tradovate_sim: Sim, bot: BreakoutBot, symbol: str) -> None:
    assert tick(tradovate_sim, bot, symbol, LEVEL - 0.25, LEVEL) is Action.WAITING
    assert bot.net_position() == 0
    assert bot.working_orders() == []


def test_buys_the_breakout_with_a_bracket(tradovate_sim: Sim, bot: BreakoutBot, symbol: str) -> None:
    assert tick(tradovate_sim, bot, symbol, LEVEL, LEVEL + 0.25) is Action.ENTERED

    assert bot.net_position() == 1
    legs = bot.working_orders()
    assert [o["action"] for o in legs] == ["Sell", "Sell"]
    versions = {v["orderId"]: v for v in tradovate_sim.query("orderVersion/list")}
    assert sorted((versions[o["id"]]["orderType"], versions[o["id"]].get("price", versions[o["id"]].get("stopPrice")))
                  for o in legs) == [("Limit", LEVEL + 2.25), ("Stop", LEVEL - 9.75)]
    assert tick(tradovate_sim, bot, symbol, LEVEL + 0.25, LEVEL + 0.5) is Action.IN_TRADE  # no second entry


def test_the_take_profit_closes_the_trade_with_a_profit(tradovate_sim: Sim, bot: BreakoutBot, symbol: str) -> None:
    tick(tradovate_sim, bot, symbol, LEVEL, LEVEL + 0.25)  # bought at 6800.25, target 6802.25

    tradovate_sim.quote(symbol, bid=LEVEL + 2.25, ask=LEVEL + 2.5, last=LEVEL + 2.25)  # the target trades

    assert bot.net_position() == 0
    assert bot.working_orders() == []  # the stop was cancelled with its take-profit's fill
    assert bot.loss_today() < 0  # a profit: 8 ticks of ES less fees
    assert tick(tradovate_sim, bot, symbol, LEVEL + 2.5, LEVEL + 2.75) is Action.WAITING  # no chasing
    assert tick(tradovate_sim, bot, symbol, LEVEL - 0.25, LEVEL) is Action.WAITING  # back at the level: re-armed
    assert tick(tradovate_sim, bot, symbol, LEVEL, LEVEL + 0.25) is Action.ENTERED


def test_flattens_and_stops_at_the_loss_limit(tradovate_sim: Sim, bot: BreakoutBot, symbol: str) -> None:
    tick(tradovate_sim, bot, symbol, LEVEL, LEVEL + 0.25)  # bought at 6800.25; the stop is 10 points below

    action = tick(tradovate_sim, bot, symbol, LEVEL - 5.0, LEVEL - 4.75)  # open loss 5.25 points = $262.50

    assert action is Action.FLATTENED
    assert bot.net_position() == 0
    assert bot.working_orders() == []
    assert bot.loss_today() >= 200.0
    assert tick(tradovate_sim, bot, symbol, LEVEL + 1, LEVEL + 1.25) is Action.HALTED  # no new entry today


def test_an_entry_outside_the_session_is_refused(tradovate_sim: Sim, bot: BreakoutBot, symbol: str) -> None:
    tradovate_sim.close_market("ES")  # 16:00 in Chicago: the daily maintenance break

    assert tick(tradovate_sim, bot, symbol, LEVEL, LEVEL + 0.25) is Action.REJECTED
    assert bot.last_rejection == "SessionClosed"

    tradovate_sim.open_market("ES")  # 17:00: the next session
    assert tick(tradovate_sim, bot, symbol, LEVEL, LEVEL + 0.25) is Action.ENTERED
