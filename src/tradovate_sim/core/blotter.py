"""The working record of one decision on one account's book in one contract.

A `Blotter` starts from an immutable `OrderView`, records every entity it creates or updates as a `Change`,
and keeps its own copy of the book (position, open fills, working orders, cash) current as it goes, so later
steps of the same decision see earlier ones. It lives only inside one core call: the core stays pure.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import msgspec

from tradovate_sim.core import fills as book
from tradovate_sim.core import trailing
from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.lifecycle import TERMINAL, Cause, next_status
from tradovate_sim.core.positions import apply_fill, empty_position, to_trade_date
from tradovate_sim.core.rollover import roll_cash, roll_position, settlement_price
from tradovate_sim.core.ticks import to_money, to_price, to_ticks
from tradovate_sim.core.view import Fees, OrderView, Quote, WorkingOrder
from tradovate_sim.model.entities import (
    CashBalance,
    CashBalanceLog,
    Command,
    CommandReport,
    ExecutionReport,
    Fill,
    FillFee,
    FillPair,
    Order,
    OrderVersion,
    Position,
)
from tradovate_sim.model.enums import (
    CashChangeType,
    CommandStatus,
    CommandType,
    EventType,
    ExecType,
    FailureReason,
    OrderAction,
    OrderType,
    OrdStatus,
    TimeInForce,
)
from tradovate_sim.model.ids import AccountId, CommandId, ContractId, FillId, FillPairId, OrderId, PositionId
from tradovate_sim.model.kinds import ENTITY_TYPES

DONE = TERMINAL  # orders in these statuses leave the book

# The members every cancel uses, read once: a member read off its class goes through the slow attribute hook of
# `EnumType.__getattr__` (Python 3.11), and a liquidation cancels every working order.
_CANCEL, _AT_EXECUTION, _CANCELED, _EXEC_CANCELED, _SUSPENDED = (
    CommandType.Cancel, CommandStatus.AtExecution, Cause.Canceled, ExecType.Canceled, OrdStatus.Suspended)
_WORKING, _MARKET, _LIMIT, _FOK, _IOC = (
    OrdStatus.Working, OrderType.Market, OrderType.Limit, TimeInForce.FOK, TimeInForce.IOC)  # read per order matched
# What `created` makes, spelled out where a decision makes several of a kind (a call fewer per change)
_CREATED, _UPDATED = EventType.Created, EventType.Updated
_COMMAND, _COMMAND_REPORT, _EXECUTION_REPORT, _CASH_LOG, _ORDER = (
    ENTITY_TYPES[Command], ENTITY_TYPES[CommandReport], ENTITY_TYPES[ExecutionReport], ENTITY_TYPES[CashBalanceLog],
    ENTITY_TYPES[Order])
# ... and those every new order and every fill uses
_HELD, _ACCEPTED, _FILLED, _PARTLY_FILLED = Cause.Held, Cause.Accepted, Cause.Filled, Cause.PartlyFilled
_NEW, _EXEC_NEW, _EXEC_PENDING_NEW, _EXEC_TRADE = CommandType.New, ExecType.New, ExecType.PendingNew, ExecType.Trade
_TRADE_PAIRED, _CASH_SETTLEMENT = CashChangeType.TradePaired, CashChangeType.CashSettlement
_FEE_KINDS = (CashChangeType.Commission, CashChangeType.ExchangeFee, CashChangeType.ClearingFee,
              CashChangeType.NfaFee)  # the cash log of each fee, in this order

# What a conditional order works as once its trigger is reached; MIT / LimitIfTouched trigger when the market
# touches limitIfTouchedPrice (as a resting limit would fill), the others when it reaches stopPrice (as a stop).
TRIGGERED_TO = {
    OrderType.Stop: OrderType.Market, OrderType.StopLimit: OrderType.Limit,
    OrderType.TrailingStop: OrderType.Market, OrderType.TrailingStopLimit: OrderType.Limit,
    OrderType.MIT: OrderType.Market, OrderType.LimitIfTouched: OrderType.Limit,
}
TOUCHED = frozenset({OrderType.MIT, OrderType.LimitIfTouched})
# A new version at the trigger: the order works as a limit from then on, whatever the market does next (the trigger
# is remembered across quotes and restarts by the version itself)
BECOME_LIMIT = frozenset({OrderType.StopLimit, OrderType.TrailingStopLimit, OrderType.LimitIfTouched})


class Ids(Protocol):
    """Hands out the next id of an entity type; passed in so the core never owns a counter."""

    def next(self, entity_type: str) -> int: ...


class Tags(msgspec.Struct, frozen=True, kw_only=True):
    """What the client attaches to a command: its own id, the CME tag 50, and whether a program sent it."""

    cl_ord_id: str | None = None
    custom_tag50: str | None = None
    is_automated: bool | None = None


class Ticket(msgspec.Struct, frozen=True, kw_only=True):
    """What a new order asks for, prices already on the tick grid."""

    action: OrderAction
    order_type: OrderType
    qty: int
    price: float | None = None
    stop_price: float | None = None
    limit_if_touched_price: float | None = None
    peg_difference: float | None = None
    time_in_force: TimeInForce | None = None
    text: str | None = None
    cl_ord_id: str | None = None
    custom_tag50: str | None = None
    is_automated: bool | None = None
    max_show: int | None = None
    expire_time: datetime | None = None


def opposite(action: OrderAction) -> OrderAction:
    return OrderAction.Sell if action is OrderAction.Buy else OrderAction.Buy


class Blotter:
    def __init__(self, view: OrderView, now: datetime, ids: Ids) -> None:
        self.view = view
        self.now = now
        self.ids = ids
        self.changes: list[Change] = []
        self.emit: Callable[[Change], None] = self.changes.append  # the changes in commit order (a C call)
        self.account_id: AccountId = view.account.account.id
        self.contract_id: ContractId = view.instrument.contract.id
        self.position: Position | None = view.book.position
        self.open_fills = view.book.open_fills
        self.working: dict[OrderId, WorkingOrder] = {w.order.id: w for w in view.book.working}
        self.cash = view.account.cash_balance
        self.booked: CashBalance | None = None  # the balance `_cash` made last: rolled, every amount to the cent
        self.tick_size = view.instrument.product.tick_size
        self.trade_date = to_trade_date(view.trade_date)
        self.activated: set[OrderId] = set()  # bracket legs sent during this decision, matched as arriving

    @property
    def net_pos(self) -> int:
        return self.position.net_pos if self.position else 0

    # --- new orders -------------------------------------------------------------------------------

    def _command(self, order_id: OrderId, kind: CommandType, status: CommandStatus, tags: Tags | Ticket | None,
                 ) -> Command:
        command = Command(
            id=CommandId(self.ids.next("command")),
            order_id=order_id,
            timestamp=self.now,
            command_type=kind,
            command_status=status,
            sender_id=self.view.caller.user_id or None,
            user_session_id=self.view.caller.session_id,
            cl_ord_id=tags.cl_ord_id if tags else None,
            custom_tag50=tags.custom_tag50 if tags else None,
            is_automated=tags.is_automated if tags else None,
        )
        self.emit(Change(entity_type=_COMMAND, event_type=_CREATED, entity=command))
        return command

    def _report(self, command: Command, status: CommandStatus, ord_status: OrdStatus,
                reason: FailureReason | None = None, text: str | None = None) -> None:
        self.emit(Change(entity_type=_COMMAND_REPORT, event_type=_CREATED, entity=CommandReport(
            id=self.ids.next("commandReport"), command_id=command.id, timestamp=self.now,
            command_status=status, ord_status=ord_status, reject_reason=reason, text=text,
        )))

    def _execution(self, command_id: CommandId, order: Order, exec_type: ExecType, *, cum_qty: int | None = None,
                   avg_px: float | None = None, last_qty: int | None = None, last_px: float | None = None,
                   reject_reason: FailureReason | None = None, text: str | None = None) -> None:
        # the optional fields by name, their defaults the report's own (None): no `**fields` dict per report
        self.emit(Change(entity_type=_EXECUTION_REPORT, event_type=_CREATED, entity=ExecutionReport(
            id=self.ids.next("executionReport"), command_id=command_id, name=self.view.instrument.contract.name,
            account_id=self.account_id, contract_id=self.contract_id, timestamp=self.now, order_id=order.id,
            exec_type=exec_type, action=order.action, trade_date=self.trade_date, ord_status=order.ord_status,
            cum_qty=cum_qty, avg_px=avg_px, last_qty=last_qty, last_px=last_px, reject_reason=reject_reason,
            text=text,
        )))

    def open_order(self, ticket: Ticket, *, admin: bool = False, suspended: bool = False,
                   oco_id: OrderId | None = None, parent_id: OrderId | None = None,
                   order_id: OrderId | None = None) -> WorkingOrder:
        """Create an accepted order: order, version, command, report, execution report New (or a suspended leg)."""
        order_id = order_id or OrderId(self.ids.next("order"))
        status = next_status(None, _HELD if suspended else _ACCEPTED)
        if not suspended and ticket.order_type in trailing.TRAILING:
            ticket = self._start_trail(ticket)
        order = Order(
            id=order_id, account_id=self.account_id, contract_id=self.contract_id, timestamp=self.now,
            action=ticket.action, ord_status=status, admin=admin, oco_id=oco_id, parent_id=parent_id,
        )
        version = self._version(order_id, ticket, ticket.qty)
        self.emit(created(order))
        self.emit(created(version))
        command = self._command(order_id, _NEW, _AT_EXECUTION, ticket)
        self._report(command, _AT_EXECUTION, status)
        self._execution(command.id, order, _EXEC_PENDING_NEW if suspended else _EXEC_NEW)
        working = WorkingOrder(order=order, version=version, command_id=command.id)
        self.working[order_id] = working
        return working

    def _version(self, order_id: OrderId, ticket: Ticket, qty: int) -> OrderVersion:
        return OrderVersion(
            id=self.ids.next("orderVersion"), order_id=order_id, order_qty=qty, order_type=ticket.order_type,
            price=ticket.price, stop_price=ticket.stop_price, limit_if_touched_price=ticket.limit_if_touched_price,
            max_show=ticket.max_show, peg_difference=ticket.peg_difference, time_in_force=ticket.time_in_force,
            expire_time=ticket.expire_time, text=ticket.text,
        )

    def _start_trail(self, ticket: Ticket) -> Ticket:
        """A trailing order's first stop: the one given, or tighter when the market already allows it."""
        quote = self.view.quote
        if quote is None or not self.view.is_open:
            return ticket
        moved = trailing.follow(ticket.action, quote, self.tick_size, stop_price=ticket.stop_price, price=ticket.price,
                                peg_difference=ticket.peg_difference)
        return ticket if moved is None else msgspec.structs.replace(ticket, stop_price=moved[0], price=moved[1])

    def _trail(self, working: WorkingOrder, quote: Quote) -> WorkingOrder:
        """Move a working trailing order's stop (and its limit with it) after the market; a move is a new version."""
        version = working.version
        moved = trailing.follow(working.order.action, quote, self.tick_size, stop_price=version.stop_price,
                                price=version.price, peg_difference=version.peg_difference)
        if moved is None:
            return working
        version = msgspec.structs.replace(version, id=self.ids.next("orderVersion"), stop_price=moved[0],
                                          price=moved[1])
        self.emit(created(version))
        working = msgspec.structs.replace(working, version=version)
        self.working[working.order.id] = working
        return working

    def _become_limit(self, working: WorkingOrder, limit: int) -> WorkingOrder:
        """A triggered StopLimit / TrailingStopLimit / LimitIfTouched is from now on a plain limit order: a new
        version says so (and keeps it one whatever the market does next, also after a restart)."""
        version = msgspec.structs.replace(
            working.version, id=self.ids.next("orderVersion"), order_type=OrderType.Limit,
            price=to_price(limit, self.tick_size), stop_price=None, peg_difference=None, limit_if_touched_price=None)
        self.emit(created(version))
        return msgspec.structs.replace(working, version=version)

    def expire(self, order_id: OrderId, text: str) -> None:
        """Its time in force ran out: the order is Expired, with its execution report. Bracket legs still held for
        it expire with it, unless part of it filled: then they are sent for the filled quantity."""
        working = self._move(self.working[order_id], Cause.Expired)
        self._execution(working.command_id, working.order, ExecType.Expired, cum_qty=working.cum_qty, text=text)
        for child in [w for w in self.working.values() if w.order.parent_id == order_id
                      and w.order.ord_status is OrdStatus.Suspended]:
            if working.cum_qty <= 0:
                self.expire(child.order.id, "Parent order expired")
                continue
            if child.version.order_qty != working.cum_qty:
                self.replace(child.order.id, ticket_of(child.version, child.order.action, working.cum_qty))
            released = self._move(self.working[child.order.id], Cause.Released)
            self.activated.add(released.order.id)
            self._execution(released.command_id, released.order, ExecType.New)

    def reject_order(self, ticket: Ticket, reason: FailureReason, text: str, *, admin: bool = False) -> OrderId:
        """Record a refused order (risk rejection): the order exists, Rejected, with the reason on its trail."""
        order_id = OrderId(self.ids.next("order"))
        order = Order(
            id=order_id, account_id=self.account_id, contract_id=self.contract_id, timestamp=self.now,
            action=ticket.action, ord_status=next_status(None, Cause.Rejected), admin=admin,
        )
        self.emit(created(order))
        self.emit(created(self._version(order_id, ticket, ticket.qty)))
        command = self._command(order_id, CommandType.New, CommandStatus.RiskRejected, ticket)
        self._report(command, CommandStatus.RiskRejected, OrdStatus.Rejected, reason, text)
        self._execution(command.id, order, ExecType.Rejected, reject_reason=reason, text=text)
        return order_id

    # --- changes to working orders ----------------------------------------------------------------

    def _move(self, working: WorkingOrder, cause: Cause) -> WorkingOrder:
        """Move a working order along the lifecycle; its `order` update is emitted only when the status changes."""
        status = next_status(working.order.ord_status, cause)
        if status is not working.order.ord_status:
            order = msgspec.structs.replace(working.order, ord_status=status)
            working = msgspec.structs.replace(working, order=order)
            self.emit(Change(entity_type=_ORDER, event_type=_UPDATED, entity=order))
        if status in DONE:
            self.working.pop(working.order.id, None)
        else:
            self.working[working.order.id] = working
        return working

    def cancel(self, order_id: OrderId, *, tags: Tags | None = None, reason_text: str | None = None) -> CommandId:
        """Cancel a working or suspended order with its full trail; returns the command id."""
        working = self.working[order_id]
        command = self._command(order_id, _CANCEL, _AT_EXECUTION, tags)
        self._report(command, _AT_EXECUTION, next_status(working.order.ord_status, _CANCELED), text=reason_text)
        working = self._move(working, _CANCELED)
        self._execution(command.id, working.order, _EXEC_CANCELED, cum_qty=working.cum_qty, text=reason_text)
        for child in [w for w in self.working.values() if w.order.parent_id == order_id
                      and w.order.ord_status is _SUSPENDED]:
            if child.order.id in self.working:
                self.cancel(child.order.id, tags=tags,
                            reason_text=reason_text or "Parent order cancelled")
        return command.id

    def replace(self, order_id: OrderId, ticket: Ticket, *, command_ticket: Ticket | None = None) -> CommandId:
        """Give a working order a new version (modify); returns the command id."""
        working = self.working[order_id]
        next_status(working.order.ord_status, Cause.Replaced)  # a version change: the status stays
        command = self._command(order_id, CommandType.Modify, CommandStatus.AtExecution, command_ticket or ticket)
        self._report(command, CommandStatus.Replaced, working.order.ord_status)
        version = self._version(order_id, ticket, ticket.qty)
        self.emit(created(version))
        self.working[order_id] = msgspec.structs.replace(working, version=version)
        self._execution(command.id, working.order, ExecType.Replaced, cum_qty=working.cum_qty)
        return command.id

    def reject_command(self, order_id: OrderId, kind: CommandType, reason: FailureReason, text: str,
                       tags: Tags | Ticket | None = None) -> CommandId:
        command = self._command(order_id, kind, CommandStatus.RiskRejected, tags)
        working = self.working.get(order_id)  # a refused modify leaves the order as it was: its report says so
        self._report(command, CommandStatus.RiskRejected,
                     working.order.ord_status if working is not None else OrdStatus.Rejected, reason, text)
        return command.id

    # --- executions -------------------------------------------------------------------------------

    def fill(self, order_id: OrderId, qty: int, ticks: int, *, settlement: bool = False) -> None:
        """Execute `qty` of a working order at `ticks`: the whole trail from execution report to cash. A
        `settlement` fill (core/settlement.py: an expired contract closed at its final settlement price) is free of
        fees and books its P&L as `CashSettlement`."""
        working = self.working[order_id]
        price = to_price(ticks, self.tick_size)
        cum_qty = working.cum_qty + qty
        cum_value = working.cum_value + qty * price
        done = cum_qty >= working.version.order_qty
        working = msgspec.structs.replace(working, cum_qty=cum_qty, cum_value=cum_value)
        working = self._move(working, _FILLED if done else _PARTLY_FILLED)
        self._execution(
            working.command_id, working.order, _EXEC_TRADE, cum_qty=cum_qty, avg_px=round(cum_value / cum_qty, 10),
            last_qty=qty, last_px=price, text=working.version.text if settlement else None,
        )
        trade_date = self.trade_date
        fill = Fill(
            id=FillId(self.ids.next("fill")), order_id=order_id, contract_id=self.contract_id, timestamp=self.now,
            trade_date=trade_date, action=working.order.action, qty=qty, price=price, active=True, finally_paired=0,
        )
        position = self.position
        is_new = position is None
        if position is None:
            position = empty_position(PositionId(self.ids.next("position")), self.account_id, self.contract_id,
                                      self.now, self.view.trade_date)
        else:  # a fill on a new trade date before the roll reached this position: it rolls first
            position = roll_position(position, self.view.trade_date, self.now,
                                     settlement_price(self.view.quote, self.tick_size))
        outcome = apply_fill(position, self.open_fills, fill, self.tick_size, self.view.trade_date)
        for paired in outcome.paired_fills:
            if paired.id == fill.id:
                self.emit(created(paired))  # with finallyPaired as the pairing left it
        fees = Fees() if settlement else self.view.instrument.fees
        commission, exchange_fee = to_money(fees.commission * qty), to_money(fees.exchange_fee * qty)
        clearing_fee, nfa_fee = to_money(fees.clearing_fee * qty), to_money(fees.nfa_fee * qty)
        self.emit(created(FillFee(
            id=fill.id, clearing_fee=clearing_fee, exchange_fee=exchange_fee, nfa_fee=nfa_fee, commission=commission,
        )))
        for paired in outcome.paired_fills:
            if paired.id != fill.id:
                self.emit(updated(paired))
        self.position = outcome.position
        self.open_fills = outcome.open_fills
        self.emit(created(outcome.position) if is_new else updated(outcome.position))
        realized = 0.0
        point_value = self.view.instrument.product.value_per_point
        for pairing in outcome.pairings:
            pair = FillPair(
                id=FillPairId(self.ids.next("fillPair")), position_id=outcome.position.id,
                buy_fill_id=pairing.buy_fill_id, sell_fill_id=pairing.sell_fill_id, qty=pairing.qty,
                buy_price=pairing.buy_price, sell_price=pairing.sell_price, active=True,
            )
            self.emit(created(pair))
            pnl = to_money((pairing.sell_price - pairing.buy_price) * pairing.qty * point_value)
            realized += pnl
            self._cash(pnl, _CASH_SETTLEMENT if settlement else _TRADE_PAIRED,
                       fill_pair_id=pair.id, realized=pnl)
        for kind, fee, amount in zip(_FEE_KINDS, (fees.commission, fees.exchange_fee, fees.clearing_fee, fees.nfa_fee),
                                     (commission, exchange_fee, clearing_fee, nfa_fee), strict=True):
            if fee:  # each fee rounded once, for the fill's fees and its cash log
                self._cash(-amount, kind, fill_id=fill.id)
        self.emit(updated(self.cash))
        self._after_fill(working, done)

    def _cash(self, delta: float, kind: CashChangeType, *, fill_id: FillId | None = None,
              fill_pair_id: FillPairId | None = None, realized: float = 0.0) -> None:
        """A cash log of `delta` (and `realized`), both already rounded to the cent by `to_money`: rounding one
        again would change nothing, its sign included (`to_money` is idempotent and odd: tests/unit/test_ticks.py).
        Likewise a balance this blotter made (`booked`) is rolled already and holds amounts to the cent: with nothing
        realized (zero), its realized P&L plus zero is to the cent too, and `to_money` would give it back as is."""
        cash = self.cash
        booked = cash is self.booked
        if not booked:
            cash = roll_cash(cash, self.view.trade_date, self.now)
        if booked and not realized:
            realized_pn_l = (cash.realized_pn_l or 0.0) + realized
            week_realized_pn_l = (cash.week_realized_pn_l or 0.0) + realized
        else:
            realized_pn_l = to_money((cash.realized_pn_l or 0.0) + realized)
            week_realized_pn_l = to_money((cash.week_realized_pn_l or 0.0) + realized)
        self.cash = self.booked = msgspec.structs.replace(
            cash, timestamp=self.now, trade_date=self.trade_date, amount=to_money(cash.amount + delta),
            realized_pn_l=realized_pn_l, week_realized_pn_l=week_realized_pn_l,
        )
        self.emit(Change(entity_type=_CASH_LOG, event_type=_CREATED, entity=CashBalanceLog(
            id=self.ids.next("cashBalanceLog"), account_id=self.account_id, timestamp=self.now,
            trade_date=self.cash.trade_date, currency_id=self.cash.currency_id, amount=self.cash.amount,
            cash_change_type=kind, delta=delta, realized_pn_l=realized if realized else None,
            fill_id=fill_id, fill_pair_id=fill_pair_id,
        )))

    def _after_fill(self, working: WorkingOrder, done: bool) -> None:
        """OCO: the sibling shrinks to what is left, or is cancelled once this leg is done. OSO: a done entry
        sends its brackets."""
        order = working.order
        if order.oco_id is not None:
            for sibling in [w for w in self.working.values() if w.order.oco_id == order.oco_id]:
                if sibling.order.id == order.id:
                    continue
                left = working.version.order_qty - working.cum_qty
                if done or left <= 0:
                    self.cancel(sibling.order.id, reason_text="OCO sibling filled")
                elif left < sibling.version.order_qty - sibling.cum_qty:
                    self.replace(sibling.order.id, ticket_of(sibling.version, sibling.order.action,
                                                             left + sibling.cum_qty))
        if done:
            for child in [w for w in self.working.values() if w.order.parent_id == order.id]:
                if child.order.ord_status is OrdStatus.Suspended:
                    activated = self._move(child, Cause.Released)
                    self.activated.add(activated.order.id)
                    self._execution(activated.command_id, activated.order, ExecType.New)

    # --- matching ---------------------------------------------------------------------------------

    def match(self, arriving: frozenset[OrderId] = frozenset()) -> None:
        """Execute every working order that the current quote lets execute, oldest first; bracket legs that
        become working on the way are then matched as arriving orders (each order sees the book once)."""
        self._match(arriving, sorted(self.working))
        while self.activated:
            legs, self.activated = frozenset(self.activated), set()
            self._match(legs, sorted(legs))

    def _match(self, arriving: frozenset[OrderId], order_ids: list[OrderId]) -> None:
        quote = self.view.quote
        if quote is None or not self.view.is_open:
            return
        for order_id in order_ids:
            if order_id in self.activated and order_id not in arriving:
                continue  # a leg sent by an earlier fill of this pass: matched next, as arriving
            working = self.working.get(order_id)
            if working is None or working.order.ord_status is not _WORKING:
                continue
            kind = working.version.order_type
            if kind in trailing.TRAILING and not working.has_triggered:
                working = self._trail(working, quote)
            version, action = working.version, working.order.action
            remaining = version.order_qty - working.cum_qty
            limit = ticks_or_none(version.price, self.tick_size)
            stop = ticks_or_none(version.stop_price if version.stop_price is not None else version.price,
                                 self.tick_size)
            executions: list[tuple[int, int]] = []
            if kind in TRIGGERED_TO:
                if kind in TOUCHED:
                    touch = ticks_or_none(version.limit_if_touched_price, self.tick_size)
                    reached = touch is not None and book.is_limit_crossed(action, touch, quote)
                else:
                    reached = stop is not None and book.is_stop_triggered(action, stop, quote)
                if not (working.has_triggered or reached):
                    continue
                became = TRIGGERED_TO[kind]
                if became is OrderType.Limit:
                    limit = ticks_or_none(version.price if version.price is not None else version.stop_price,
                                          self.tick_size)
                else:
                    limit = None
                if not working.has_triggered:
                    working = self._move(working, Cause.Triggered)
                    if kind in BECOME_LIMIT and limit is not None:
                        working = self._become_limit(working, limit)
                working = msgspec.structs.replace(working, triggered=True)
                self.working[order_id] = working
                kind = became
                arriving = arriving | {order_id}
            if kind is _MARKET:
                executions = book.take(quote, action, remaining)
            elif kind is _LIMIT and limit is not None:
                if order_id in arriving:
                    executions = book.take(quote, action, remaining, limit)
                elif book.is_limit_crossed(action, limit, quote):
                    executions = [(remaining, limit)]
            tif = version.time_in_force
            if order_id in arriving and tif is _FOK and sum(q for q, _ in executions) < remaining:
                self.cancel(order_id, reason_text="Fill or kill: not enough liquidity")
                continue
            for qty, ticks in executions:
                if order_id in self.working:
                    self.fill(order_id, qty, ticks)
            if order_id in arriving and tif is _IOC and order_id in self.working:
                self.cancel(order_id, reason_text="Immediate or cancel: remainder cancelled")


def ticks_or_none(price: float | None, tick_size: float) -> int | None:
    return None if price is None else to_ticks(price, tick_size)


def ticket_of(version: OrderVersion, action: OrderAction, qty: int) -> Ticket:
    return Ticket(
        action=action, order_type=version.order_type, qty=qty, price=version.price, stop_price=version.stop_price,
        limit_if_touched_price=version.limit_if_touched_price, peg_difference=version.peg_difference,
        time_in_force=version.time_in_force, text=version.text, max_show=version.max_show,
        expire_time=version.expire_time,
    )
