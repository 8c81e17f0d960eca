"""Final settlement: what becomes of one account's book in a contract when the contract's last trading session ends.

Not to be confused with `service/expiry.py` (an order's time in force running out): here the contract itself
expires. At the end of its last trading session (`expires_at`), `settle`:

- expires every working order on the contract (`Expired`, execution report text "Contract ESZ6 expired"); held
  bracket legs first, so that an expiring entry never sends them;
- ends every running order strategy on it (`ExecutionInterrupted`, the same text);
- closes the open position at the final settlement price: one closing order (`admin: true`, Market, text
  "Final settlement"), filled at once at that price through the normal fill path (fill, fill pairs, the position
  flat), free of fees, its realized P&L booked to cash as `CashSettlement` (with the fill pair's id).
"""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from tradovate_sim.core import multibracket
from tradovate_sim.core.blotter import Blotter, Ids, Ticket
from tradovate_sim.core.decision import Decision
from tradovate_sim.core.sessions import CME_TIME_ZONE, Schedule
from tradovate_sim.core.ticks import nearest_ticks
from tradovate_sim.core.view import OrderView
from tradovate_sim.model.enums import OrderAction, OrderStrategyStatus, OrderType

SETTLEMENT_TEXT = "Final settlement"
_TRADE_DATE_END = time(17, 0)  # CT: the moment a CME trade date ends


def expired_text(contract_name: str) -> str:
    return f"Contract {contract_name} expired"


def expires_at(schedule: Schedule, last_trade_date: date) -> datetime:
    """The end of a contract's last trading session: the last close, in the product's `schedule` of its last trade
    date, before that trade date ends (17:00 Chicago); that end itself when the schedule has no session then (a
    product outside the catalogue)."""
    end = datetime.combine(last_trade_date, _TRADE_DATE_END, tzinfo=ZoneInfo(CME_TIME_ZONE)).astimezone(UTC)
    closes = [interval.close for interval in schedule.intervals if interval.close <= end]
    return closes[-1] if closes else end


def settle(view: OrderView, now: datetime, ids: Ids, price: float | None) -> Decision[None]:
    """Expire, end and close what is open on this expired contract's book; `price` is the final settlement price
    (None: none known, the position's last settlement `prevPrice`, else its own average price, stands in: no P&L
    is invented). Nothing open: no changes."""
    blotter = Blotter(view, now, ids)
    text = expired_text(view.instrument.contract.name)
    held_first = sorted(blotter.working, key=lambda i: (blotter.working[i].order.parent_id is None, i))
    for order_id in held_first:
        if order_id in blotter.working:  # not already expired with its parent
            blotter.expire(order_id, text)
    for running in view.book.strategies:
        multibracket.end(blotter, running, OrderStrategyStatus.ExecutionInterrupted, text)
    position = blotter.position
    if position is not None and position.net_pos != 0:
        final = price if price is not None else position.prev_price or position.net_price
        assert final is not None  # an open position has an average price
        net = position.net_pos
        ticket = Ticket(action=OrderAction.Sell if net > 0 else OrderAction.Buy, order_type=OrderType.Market,
                        qty=abs(net), text=SETTLEMENT_TEXT)
        closing = blotter.open_order(ticket, admin=True)
        blotter.fill(closing.order.id, abs(net), nearest_ticks(final, blotter.tick_size), settlement=True)
    return Decision(result=None, changes=tuple(blotter.changes))
