"""The trade-date roll of positions and cash balances (core.rollover), alone and as a fill on a new trade date meets
it (core.blotter).

The property test trades random fills across random rolls, the way the blotter combines `apply_fill`, `roll_position`
and `roll_cash`, and compares with a plain model kept here: net position, Tradovate's `netPos = prevPos + bought -
sold`, the day's and the week's realized P&L, the cash amount, and the total P&L (realized + open at any mark).
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import msgspec
from builders import NOW, TRADE_DATE, Ids, latest, make_account_state, make_book, make_fill, make_quote, make_view
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core import orders
from tradovate_sim.core.positions import apply_fill, empty_position, to_trade_date
from tradovate_sim.core.rollover import roll_cash, roll_position, settlement_price
from tradovate_sim.core.ticks import to_price
from tradovate_sim.model.entities import CashBalance, CashBalanceLog, Fill, Position
from tradovate_sim.model.enums import OrderAction, OrderType
from tradovate_sim.model.requests import PlaceOrder

BUY, SELL = OrderAction.Buy, OrderAction.Sell
TICK = 0.25
NEXT_DAY = TRADE_DATE + timedelta(days=1)
LATER = NOW + timedelta(days=1)


def held(net_pos: int, price: float = 6789.0) -> Position:
    position = empty_position(7, 1, 4, NOW, TRADE_DATE)
    qty = abs(net_pos)
    if net_pos > 0:
        return msgspec.structs.replace(position, net_pos=net_pos, net_price=price, bought=qty, bought_value=qty * price)
    return msgspec.structs.replace(position, net_pos=net_pos, net_price=price, sold=qty, sold_value=qty * price)


def make_cash(amount: float = 50_000.0, realized: float = 0.0, week: float | None = None,
              day: date = TRADE_DATE) -> CashBalance:
    return CashBalance(id=9, account_id=1, timestamp=NOW, trade_date=to_trade_date(day), currency_id=1,
                       amount=amount, realized_pn_l=realized, week_realized_pn_l=week, amount_sod=49_000.0)


# --- positions ------------------------------------------------------------------------------------


def test_position_starts_the_new_day_from_yesterdays_net_when_rolled() -> None:
    rolled = roll_position(held(3, 6789.25), NEXT_DAY, LATER, 6800.0)
    assert (rolled.prev_pos, rolled.prev_price, rolled.net_pos, rolled.net_price) == (3, 6800.0, 3, 6789.25)
    assert (rolled.bought, rolled.bought_value, rolled.sold, rolled.sold_value) == (0, 0.0, 0, 0.0)
    assert (rolled.trade_date, rolled.timestamp, rolled.id) == (to_trade_date(NEXT_DAY), LATER, 7)


def test_short_position_carries_a_negative_prev_pos_when_rolled() -> None:
    rolled = roll_position(held(-2), NEXT_DAY, LATER, 6790.0)
    assert (rolled.prev_pos, rolled.net_pos, rolled.prev_price) == (-2, -2, 6790.0)


def test_flat_position_rolls_its_counters_without_a_prev_price() -> None:
    traded = msgspec.structs.replace(held(0), bought=2, bought_value=13_578.0, sold=2, sold_value=13_580.0)
    rolled = roll_position(traded, NEXT_DAY, LATER, 6800.0)
    assert (rolled.prev_pos, rolled.prev_price, rolled.bought, rolled.sold) == (0, None, 0, 0)


def test_average_price_stands_in_for_the_settlement_when_no_price_is_known() -> None:
    assert roll_position(held(1, 6789.5), NEXT_DAY, LATER, None).prev_price == 6789.5


def test_position_is_unchanged_when_already_on_the_trade_date() -> None:
    position = held(2)
    assert roll_position(position, TRADE_DATE, LATER, 6800.0) is position


def test_position_starts_a_new_day_when_the_clock_went_back() -> None:
    rolled = roll_position(held(2), TRADE_DATE - timedelta(days=3), LATER, 6800.0)
    assert (rolled.trade_date, rolled.prev_pos, rolled.bought) == (to_trade_date(TRADE_DATE - timedelta(days=3)), 2, 0)


def test_settlement_is_the_last_trade_else_the_mid_on_the_grid() -> None:
    assert settlement_price(make_quote(27_156, 27_157, last=27_150), TICK) == 6787.5
    assert settlement_price(make_quote(27_156, 27_158), TICK) == 6789.25
    assert settlement_price(None, TICK) is None


# --- cash -----------------------------------------------------------------------------------------


def test_cash_day_amounts_start_again_when_rolled() -> None:
    rolled = roll_cash(make_cash(51_000.0, realized=1_000.0, week=1_500.0), NEXT_DAY, LATER)
    assert (rolled.amount, rolled.realized_pn_l, rolled.amount_sod) == (51_000.0, 0.0, 51_000.0)
    assert rolled.week_realized_pn_l == 1_500.0  # Tuesday after Monday: the same week
    assert rolled.trade_date == to_trade_date(NEXT_DAY)


def test_week_realized_starts_again_when_the_week_changes() -> None:
    monday = TRADE_DATE - timedelta(days=TRADE_DATE.weekday()) + timedelta(days=7)
    assert roll_cash(make_cash(week=1_500.0), monday, LATER).week_realized_pn_l == 0.0


def test_cash_is_unchanged_when_already_on_the_trade_date() -> None:
    cash = make_cash()
    assert roll_cash(cash, TRADE_DATE, LATER) is cash


# --- a fill on a new trade date before the sweep ----------------------------------------------------


def test_fill_on_a_new_trade_date_rolls_the_position_and_cash_first() -> None:
    account = make_account_state()
    account = msgspec.structs.replace(account, cash_balance=make_cash(51_000.0, realized=1_000.0))
    view = make_view(account=account, book=make_book(2), quote=make_quote(27_200, 27_201, last=27_200),
                     trade_date=NEXT_DAY)
    decision = orders.place(view, PlaceOrder(account_id=1, action=SELL, symbol="ESZ6", order_qty=1,
                                             order_type=OrderType.Market), LATER, Ids())
    position = next(iter(latest(decision, Position).values()))
    assert (position.prev_pos, position.prev_price, position.bought, position.sold, position.net_pos) == \
        (2, 6800.0, 0, 1, 1)
    cash = next(iter(latest(decision, CashBalance).values()))
    pnl = (27_200 - 27_156) * TICK * 50.0  # one lot sold at 6800.00 against the lot bought at 6789.00
    assert cash.trade_date == to_trade_date(NEXT_DAY)
    assert cash.realized_pn_l == pnl
    assert cash.amount_sod == 51_000.0
    assert all(log.trade_date == to_trade_date(NEXT_DAY) for log in latest(decision, CashBalanceLog).values())


# --- the property -----------------------------------------------------------------------------------


@dataclass
class Model:
    """What a book must add up to, kept the plainest way."""

    net: int = 0
    flow_ticks: int = 0  # sum of -signed qty x price over every fill
    day_realized_ticks: int = 0
    week_realized_ticks: int = 0
    realized_ticks: int = 0
    day: date = TRADE_DATE


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


Step = tuple[str, int, int]  # ("fill", signed qty, price ticks) or ("roll", days, 0)

steps = st.lists(st.one_of(
    st.tuples(st.just("fill"), st.integers(-5, 5).filter(bool), st.integers(27_000, 27_100)),
    st.tuples(st.just("roll"), st.integers(1, 9), st.just(0)),
), max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps, st.integers(26_900, 27_200))
def test_rolls_preserve_net_position_and_total_pnl_when_trading_across_days(plan: list[Step], mark: int) -> None:
    model = Model()
    position = empty_position(7, 1, 4, NOW, TRADE_DATE)
    open_fills_t: tuple[Fill, ...] = ()
    cash = make_cash(50_000.0, realized=0.0, week=0.0)
    now = NOW
    for number, (kind, amount, ticks) in enumerate(plan, start=1):
        if kind == "roll":
            before = (position.net_pos, position.net_price, open_fills_t, cash.amount)
            model.day += timedelta(days=amount)
            now = datetime.combine(model.day, now.time(), tzinfo=UTC)
            if monday(model.day) != monday(model.day - timedelta(days=amount)):
                model.week_realized_ticks = 0
            model.day_realized_ticks = 0
            position = roll_position(position, model.day, now, to_price(mark, TICK))
            cash = roll_cash(cash, model.day, now)
            assert (position.net_pos, position.net_price, open_fills_t, cash.amount) == before
            assert position.prev_pos == model.net
            continue
        action = BUY if amount > 0 else SELL
        fill = msgspec.structs.replace(make_fill(number, action, abs(amount), to_price(ticks, TICK)),
                                       trade_date=to_trade_date(model.day), timestamp=now)
        position = roll_position(position, model.day, now, to_price(mark, TICK))
        outcome = apply_fill(position, open_fills_t, fill, TICK, model.day)
        position, open_fills_t = outcome.position, outcome.open_fills
        cash = roll_cash(cash, model.day, now)
        realized = round(outcome.realized_ticks * TICK * 50.0, 2)
        cash = msgspec.structs.replace(cash, amount=round(cash.amount + realized, 2),
                                       realized_pn_l=round((cash.realized_pn_l or 0.0) + realized, 2),
                                       week_realized_pn_l=round((cash.week_realized_pn_l or 0.0) + realized, 2))
        model.net += amount
        model.flow_ticks -= amount * ticks
        for ledger in ("day_realized_ticks", "week_realized_ticks", "realized_ticks"):
            setattr(model, ledger, getattr(model, ledger) + outcome.realized_ticks)
        assert position.net_pos == model.net
        assert position.prev_pos + position.bought - position.sold == position.net_pos
        assert position.trade_date == to_trade_date(model.day)
    open_ticks = sum((1 if f.action is BUY else -1) * (f.qty - f.finally_paired) * (mark - round(f.price / TICK))
                     for f in open_fills_t)
    assert model.realized_ticks + open_ticks == model.flow_ticks + model.net * mark  # total P&L, in ticks
    assert cash.realized_pn_l == round(model.day_realized_ticks * TICK * 50.0, 2)
    assert cash.week_realized_pn_l == round(model.week_realized_ticks * TICK * 50.0, 2)
    assert cash.amount == round(50_000.0 + model.realized_ticks * TICK * 50.0, 2)
    assert position.prev_pos + position.bought - position.sold == model.net
