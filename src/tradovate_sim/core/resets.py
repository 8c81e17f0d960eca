"""Resetting a demo account (`account/resetdemoaccountstate`): what its cash was at the start of a trade date, and
its book in one contract set flat without trading. Pure: entities in, changes out."""

from collections.abc import Sequence
from datetime import date, datetime

import msgspec

from tradovate_sim.core import multibracket
from tradovate_sim.core.blotter import Blotter, Ids
from tradovate_sim.core.decision import Change, updated
from tradovate_sim.core.positions import to_trade_date
from tradovate_sim.core.view import OrderView

RESET_TEXT = "Account reset"


def start_of_day_cash(entries: Sequence[tuple[date, float]], day: date) -> float | None:
    """The cash at the start of trade date `day`, from the account's cash log (trade date, balance after the entry;
    oldest first): the balance after the last entry of an earlier trade date; for an account opened on `day`, its
    opening balance. None: the account did not exist on `day`."""
    before = [amount for trade_date, amount in entries if trade_date < day]
    if before:
        return before[-1]
    if entries and entries[0][0] == day:
        return entries[0][1]
    return None


def flat_book(view: OrderView, now: datetime, ids: Ids, day: date) -> list[Change]:
    """Every running order strategy ended, every working order of the account in the contract cancelled (with its
    trail, `text: "Account reset"`), the position set to 0 and its open lots closed (`active: false`): no order
    reaches the market, no fill or fill pair is made."""
    blotter = Blotter(view, now, ids)
    multibracket.interrupt_all(blotter, RESET_TEXT)
    for order_id in sorted(blotter.working):
        if order_id in blotter.working:  # not already cancelled with its parent
            blotter.cancel(order_id, reason_text=RESET_TEXT)
    changes = list(blotter.changes)
    book = view.book
    position = book.position
    if position is not None and position.net_pos != 0:
        changes.append(updated(msgspec.structs.replace(position, net_pos=0, net_price=None, timestamp=now,
                                                       trade_date=to_trade_date(day))))
    changes += [updated(msgspec.structs.replace(fill, active=False)) for fill in book.open_fills]
    return changes
