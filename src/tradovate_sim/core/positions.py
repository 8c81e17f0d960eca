"""Apply a fill to a position: netPos, netPrice, bought/sold and their values, FIFO fill pairs, realized P&L.

Pairing is first in, first out: a closing fill pairs with the oldest open fills. `netPrice` is the average price
of what is still open. Realized P&L is computed in ticks and converted once, so it adds up exactly.
"""

from datetime import date, datetime

import msgspec

from tradovate_sim.core.ticks import to_price, to_ticks
from tradovate_sim.core.view import Value
from tradovate_sim.model.entities import Fill, Position, TradeDate
from tradovate_sim.model.enums import OrderAction
from tradovate_sim.model.ids import AccountId, ContractId, FillId, PositionId

_BUY, _SELL = OrderAction.Buy, OrderAction.Sell  # read once: a member read off its enum class is slow (3.11)


class Pairing(Value, frozen=True):
    """One fill pair to create: qty matched between a buy fill and a sell fill."""

    buy_fill_id: FillId
    sell_fill_id: FillId
    qty: int
    buy_price: float
    sell_price: float


class FillOutcome(Value, frozen=True):
    position: Position
    open_fills: tuple[Fill, ...]  # still (partly) unpaired, oldest first
    paired_fills: tuple[Fill, ...]  # fills whose finallyPaired changed (including the new fill)
    pairings: tuple[Pairing, ...]
    realized_ticks: int  # sum of (sell - buy) * qty in ticks over the pairings


def to_trade_date(day: date) -> TradeDate:
    return TradeDate(year=day.year, month=day.month, day=day.day)


def open_qty(fill: Fill) -> int:
    return fill.qty - fill.finally_paired


def signed(fill: Fill) -> int:
    return fill.qty if fill.action is _BUY else -fill.qty


def empty_position(position_id: PositionId, account_id: AccountId, contract_id: ContractId, now: datetime,
                   day: date) -> Position:
    return Position(
        id=position_id,
        account_id=account_id,
        contract_id=contract_id,
        timestamp=now,
        trade_date=to_trade_date(day),
        net_pos=0,
        bought=0,
        bought_value=0.0,
        sold=0,
        sold_value=0.0,
        prev_pos=0,
    )


def apply_fill(
    position: Position, open_fills: tuple[Fill, ...], fill: Fill, tick_size: float, day: date
) -> FillOutcome:
    """The position after `fill`, with the pairs it closes against `open_fills` (all of the other side)."""
    fill_ticks = to_ticks(fill.price, tick_size)
    if fill_ticks is None:
        raise ValueError(f"fill price {fill.price} is off the {tick_size} grid")
    remaining = fill.qty
    still_open: list[Fill] = []
    paired: list[Fill] = []
    pairings: list[Pairing] = []
    realized = 0
    for lot in open_fills:
        if remaining == 0 or lot.action is fill.action:
            still_open.append(lot)
            continue
        qty = min(open_qty(lot), remaining)
        remaining -= qty
        matched = msgspec.structs.replace(lot, finally_paired=lot.finally_paired + qty)
        paired.append(matched)
        if open_qty(matched) > 0:
            still_open.append(matched)
        lot_ticks = to_ticks(lot.price, tick_size)
        assert lot_ticks is not None
        buy, sell = (matched, fill) if fill.action is _SELL else (fill, matched)
        buy_ticks, sell_ticks = (lot_ticks, fill_ticks) if buy is matched else (fill_ticks, lot_ticks)
        realized += (sell_ticks - buy_ticks) * qty
        pairings.append(
            Pairing(buy_fill_id=buy.id, sell_fill_id=sell.id, qty=qty, buy_price=buy.price, sell_price=sell.price)
        )
    new_fill = msgspec.structs.replace(fill, finally_paired=fill.qty - remaining)
    paired.append(new_fill)
    if remaining > 0:
        still_open.append(new_fill)
    net_pos = position.net_pos + signed(fill)
    open_ticks = sum(open_qty(f) * (to_ticks(f.price, tick_size) or 0) for f in still_open)
    open_total = sum(open_qty(f) for f in still_open)
    assert open_total == abs(net_pos), "open lots must add up to the net position"
    is_buy = fill.action is _BUY
    updated = msgspec.structs.replace(
        position,
        timestamp=fill.timestamp,
        trade_date=to_trade_date(day),
        net_pos=net_pos,
        net_price=to_price_avg(open_ticks, open_total, tick_size),
        bought=position.bought + (fill.qty if is_buy else 0),
        bought_value=position.bought_value + (fill.qty * fill.price if is_buy else 0.0),
        sold=position.sold + (0 if is_buy else fill.qty),
        sold_value=position.sold_value + (0.0 if is_buy else fill.qty * fill.price),
    )
    return FillOutcome(
        position=updated,
        open_fills=tuple(still_open),
        paired_fills=tuple(paired),
        pairings=tuple(pairings),
        realized_ticks=realized,
    )


def to_price_avg(total_ticks: int, qty: int, tick_size: float) -> float | None:
    """Average price of `qty` lots worth `total_ticks`; None when flat. Not rounded to the grid."""
    if qty == 0:
        return None
    if total_ticks % qty == 0:
        return to_price(total_ticks // qty, tick_size)
    return float(f"{total_ticks * tick_size / qty:.12g}")
