"""Final settlement of an expired contract (core/settlement.py): pure, on built views."""

from datetime import UTC, date, datetime

import msgspec
from builders import (
    NOW,
    Ids,
    entities,
    fills_of,
    final_net_pos,
    final_orders,
    make_book,
    make_instrument,
    make_running,
    make_strategy_params,
    make_view,
    make_working,
)

from tradovate_sim.core import settlement
from tradovate_sim.core.sessions import Interval, Schedule
from tradovate_sim.core.view import Book, Fees
from tradovate_sim.model.entities import (
    CashBalance,
    CashBalanceLog,
    ExecutionReport,
    FillFee,
    Order,
    OrderStrategy,
    OrderVersion,
)
from tradovate_sim.model.enums import (
    CashChangeType,
    EventType,
    ExecType,
    OrderAction,
    OrderStrategyStatus,
    OrderType,
    OrdStatus,
)

BUY, SELL = OrderAction.Buy, OrderAction.Sell
AFTER = datetime(2026, 12, 18, 22, 0, tzinfo=UTC)  # 16:00 CT on ESZ6's last trade date
FEES = Fees(commission=0.59, exchange_fee=1.38, clearing_fee=0.10, nfa_fee=0.02)


def test_a_contract_expires_at_the_close_of_its_last_session_when_the_calendar_has_one() -> None:
    # Arrange: the ES session of 2026-12-18, and an early close the library would impose
    normal = Schedule(intervals=(Interval(open=datetime(2026, 12, 17, 23, tzinfo=UTC), close=AFTER),))
    early = Schedule(intervals=(Interval(open=datetime(2026, 12, 17, 23, tzinfo=UTC),
                                         close=datetime(2026, 12, 18, 18, 15, tzinfo=UTC)),))
    # Act / Assert
    assert settlement.expires_at(normal, date(2026, 12, 18)) == AFTER
    assert settlement.expires_at(early, date(2026, 12, 18)) == datetime(2026, 12, 18, 18, 15, tzinfo=UTC)


def test_a_contract_without_a_session_on_its_last_trade_date_expires_when_that_trade_date_ends() -> None:
    assert settlement.expires_at(Schedule(), date(2026, 12, 18)) == datetime(2026, 12, 18, 23, 0, tzinfo=UTC)


def test_a_long_position_is_closed_at_the_settlement_price_free_of_fees_as_cash_settlement() -> None:
    # Arrange: long 3 at 6789.00 (27_156 ticks), fees on the instrument
    view = make_view(book=make_book(3), instrument=make_instrument(fees=FEES), is_open=False)
    # Act
    decision = settlement.settle(view, AFTER, Ids(), 6791.5)
    # Assert: one admin Market sell of 3, filled at the settlement price; P&L 2.5 points x 3 x $50
    order = entities(decision, Order, EventType.Created)[0]
    version = entities(decision, OrderVersion)[0]
    assert (order.action, order.admin, version.order_type, version.order_qty, version.text) == \
        (SELL, True, OrderType.Market, 3, settlement.SETTLEMENT_TEXT)
    assert fills_of(decision) == [(3, 6791.5)]
    assert final_net_pos(view, decision) == 0
    assert final_orders(view, decision)[order.id] is OrdStatus.Filled
    logs = entities(decision, CashBalanceLog)
    assert [(log.cash_change_type, log.delta, log.realized_pn_l) for log in logs] == \
        [(CashChangeType.CashSettlement, 375.0, 375.0)]
    assert logs[0].fill_pair_id is not None
    fee = entities(decision, FillFee)[0]
    assert (fee.commission, fee.exchange_fee, fee.clearing_fee, fee.nfa_fee) == (0, 0, 0, 0)
    assert entities(decision, CashBalance)[-1].amount == 50_375.0
    trade = next(r for r in entities(decision, ExecutionReport) if r.exec_type is ExecType.Trade)
    assert trade.text == settlement.SETTLEMENT_TEXT


def test_a_short_position_is_bought_back_at_the_settlement_price() -> None:
    view = make_view(book=make_book(-2), is_open=False)
    decision = settlement.settle(view, AFTER, Ids(), 6788.0)
    assert entities(decision, Order, EventType.Created)[0].action is BUY
    assert fills_of(decision) == [(2, 6788.0)]
    assert [log.delta for log in entities(decision, CashBalanceLog)] == [100.0]


def test_without_a_settlement_price_the_position_settles_at_its_last_settlement_else_its_own_price() -> None:
    # Arrange: long 1 at 6789.00, once with yesterday's settlement 6790.00 carried as prevPrice
    book = make_book(1)
    assert book.position is not None
    carried = Book(position=msgspec.structs.replace(book.position, prev_price=6790.0), open_fills=book.open_fills)
    # Act
    own = settlement.settle(make_view(book=book), AFTER, Ids(), None)
    rolled = settlement.settle(make_view(book=carried), AFTER, Ids(), None)
    # Assert: no P&L is invented
    assert fills_of(own) == [(1, 6789.0)]
    assert fills_of(rolled) == [(1, 6790.0)]


def test_working_orders_expire_and_held_legs_expire_without_being_sent() -> None:
    # Arrange: a resting GTC limit and an entry partly filled with its held bracket leg
    resting = make_working(20, BUY)
    entry = make_working(21, BUY, qty=2, cum_qty=1)
    held = make_working(22, SELL, status=OrdStatus.Suspended, parent_id=21)
    view = make_view(book=make_book(1, working=(resting, entry, held)))
    # Act
    decision = settlement.settle(view, AFTER, Ids(), 6789.0)
    # Assert
    statuses = final_orders(view, decision)
    assert [statuses[i] for i in (20, 21, 22)] == [OrdStatus.Expired] * 3
    expired = [r for r in entities(decision, ExecutionReport) if r.exec_type is ExecType.Expired]
    assert sorted(r.order_id for r in expired) == [20, 21, 22]
    assert {r.text for r in expired} == {"Contract ESZ6 expired"}
    assert not [r for r in entities(decision, ExecutionReport) if r.exec_type is ExecType.New and r.order_id == 22]


def test_a_running_strategy_ends_interrupted_with_its_orders_expired() -> None:
    # Arrange: a strategy long 1 with its target and stop working
    target = make_working(31, SELL, oco_id=31)
    stop = make_working(32, SELL, order_type=OrderType.Stop, oco_id=31)
    running = make_running(40, make_strategy_params(), {"entry": 30, "profitTarget1": 31, "stopLoss1": 32},
                           entry_qty=1, entry_price=6789.0)
    position_book = make_book(1, working=(target, stop))
    view = make_view(book=Book(position=position_book.position, open_fills=position_book.open_fills,
                               working=(target, stop), strategies=(running,)))
    # Act
    decision = settlement.settle(view, AFTER, Ids(), 6789.0)
    # Assert
    strategy = entities(decision, OrderStrategy)[-1]
    assert (strategy.status, strategy.failure_message) == \
        (OrderStrategyStatus.ExecutionInterrupted, "Contract ESZ6 expired")
    statuses = final_orders(view, decision)
    assert (statuses[31], statuses[32]) == (OrdStatus.Expired, OrdStatus.Expired)
    assert final_net_pos(view, decision) == 0


def test_a_book_with_nothing_open_changes_nothing() -> None:
    assert settlement.settle(make_view(book=make_book(0)), NOW, Ids(), 6789.0).changes == ()
