"""The trade-date roll of an account's book: what a position and a cash balance look like on a new trade date.

A position's new day starts from yesterday's net: `prevPos` = the net position carried over, `prevPrice` = the
contract's settlement price (the price the caller passes: the last trade at the roll), and `bought`/`sold` with
their values at zero, so that `netPos = prevPos + bought - sold` holds every day. The open lots (fills not yet
paired) are carried as they are: a fill of the new day pairs first in, first out with them at their own prices, so
the position's `netPrice` and its open P&L do not move at the roll. A cash balance's new day starts with its
`realizedPnL` at zero and `amountSOD` at the amount; `weekRealizedPnL` starts again when the week changes. Nothing
is paid or charged by a roll: the amount, and so the net liquidation value, is the same before and after it.

Several trade dates passed at once (the clock moved by days) are one roll to the latest: with no trading between
them each intermediate roll would leave the same state but its date. A clock moved back rolls to that date too.
"""

from datetime import date, datetime

import msgspec

from tradovate_sim.core.autoliq import mark_ticks
from tradovate_sim.core.positions import to_trade_date
from tradovate_sim.core.restrictions import week_of
from tradovate_sim.core.ticks import to_price
from tradovate_sim.core.view import Quote
from tradovate_sim.model.entities import CashBalance, Position, TradeDate


def to_date(stamp: TradeDate) -> date:
    return date(stamp.year, stamp.month, stamp.day)


def is_due(stamp: TradeDate, day: date) -> bool:
    """Whether an entity dated `stamp` must roll to `day`: whenever the dates differ. A simulated clock moved back
    (a test setting the clock to a past day on a database made today) also starts a new trade day there: the clock
    is the authority, and no count of one day is ever booked into another's."""
    return (stamp.year, stamp.month, stamp.day) != (day.year, day.month, day.day)


def settlement_price(quote: Quote | None, tick_size: float) -> float | None:
    """The price a roll records as `prevPrice`: the contract's mark (last trade, else the mid, else the side shown),
    on the tick grid (a mid between two ticks rounds half to even)."""
    mark = mark_ticks(quote)
    return None if mark is None else to_price(round(mark), tick_size)


def roll_position(position: Position, day: date, now: datetime, settlement: float | None) -> Position:
    """The position on trade date `day`; `settlement` is the contract's price at the roll (None: no price known,
    the position's own average price stands in)."""
    if not is_due(position.trade_date, day):
        return position
    net = position.net_pos
    prev_price = (settlement if settlement is not None else position.net_price) if net != 0 else None
    return msgspec.structs.replace(
        position, timestamp=now, trade_date=to_trade_date(day), prev_pos=net, prev_price=prev_price,
        bought=0, bought_value=0.0, sold=0, sold_value=0.0,
    )


def roll_cash(cash: CashBalance, day: date, now: datetime) -> CashBalance:
    """The cash balance on trade date `day`: the day's realized P&L starts again, the start-of-day amount is the
    amount now; the week's realized P&L starts again on a new week."""
    if not is_due(cash.trade_date, day):
        return cash
    same_week = week_of(to_date(cash.trade_date)) == week_of(day)
    week = (cash.week_realized_pn_l or 0.0) if same_week else 0.0
    return msgspec.structs.replace(cash, timestamp=now, trade_date=to_trade_date(day), realized_pn_l=0.0,
                                   week_realized_pn_l=week, amount_sod=cash.amount)
