"""Placing, cancelling, modifying and matching orders in the pure core: results, trails and fills."""

from typing import Any

import msgspec
import pytest
from builders import (
    NOW,
    Ids,
    entities,
    entity_types,
    fills_of,
    final_net_pos,
    final_orders,
    index_of,
    latest,
    make_account_state,
    make_book,
    make_caller,
    make_instrument,
    make_quote,
    make_view,
    make_working,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core import orders
from tradovate_sim.core.ticks import to_money
from tradovate_sim.core.view import Exposure, Fees, OrderView
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
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.enums import (
    AdminAction,
    CashChangeType,
    CommandStatus,
    CommandType,
    ExecType,
    FailureReason,
    OrderAction,
    OrderType,
    OrdStatus,
    ProductType,
    TimeInForce,
    TotalBy,
)
from tradovate_sim.model.ids import ContractId, ExchangeId, ProductId
from tradovate_sim.model.requests import (
    CancelOrder,
    ModifyOrder,
    PlaceOCO,
    PlaceOrder,
    PlaceOSO,
    RestrainedOrderVersion,
)

BUY, SELL = OrderAction.Buy, OrderAction.Sell
BID, ASK = 27_156, 27_157  # 6789.00 / 6789.25 on the 0.25 grid
BID_PRICE, ASK_PRICE = 6789.0, 6789.25
ACCEPTED_TRAIL = ["order", "orderVersion", "command", "commandReport", "executionReport"]


def order_req(action: OrderAction = BUY, qty: int = 1, order_type: OrderType = OrderType.Market,
              **fields: Any) -> PlaceOrder:
    return PlaceOrder(action=action, symbol="ESZ6", order_qty=qty, order_type=order_type, account_id=1, **fields)


def leg(action: OrderAction, order_type: OrderType, **fields: Any) -> RestrainedOrderVersion:
    return RestrainedOrderVersion(action=action, order_type=order_type, **fields)


def contract_limit(long_limit: int | None = None, short_limit: int | None = None,
                   total_by: TotalBy = TotalBy.Contract) -> UserAccountPositionLimit:
    return UserAccountPositionLimit(id=1, account_id=1, active=True, total_by=total_by,
                                    contract_id=4 if total_by is TotalBy.Contract else None,
                                    long_limit=long_limit, short_limit=short_limit)


# --- place: market orders -------------------------------------------------------------------------


def test_market_buy_fills_at_the_offer_when_the_touch_is_large_enough() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=10))

    decision = orders.place(view, order_req(BUY, 3), NOW, Ids())

    assert decision.result.failure_reason is None
    assert decision.result.order_id == 1000
    assert fills_of(decision) == [(3, ASK_PRICE)]
    assert final_orders(view, decision) == {1000: OrdStatus.Filled}
    assert final_net_pos(view, decision) == 3
    trade = [r for r in entities(decision, ExecutionReport) if r.exec_type is ExecType.Trade]
    assert [(r.cum_qty, r.last_qty, r.last_px, r.avg_px, r.ord_status) for r in trade] == [
        (3, 3, ASK_PRICE, ASK_PRICE, OrdStatus.Filled)]


def test_market_sell_fills_at_the_bid_when_the_touch_is_large_enough() -> None:
    view = make_view(quote=make_quote(BID, ASK, bid_size=5))

    decision = orders.place(view, order_req(SELL, 5), NOW, Ids())

    assert fills_of(decision) == [(5, BID_PRICE)]
    assert final_net_pos(view, decision) == -5


def test_accepted_order_has_its_full_trail_when_placed() -> None:
    view = make_view(quote=make_quote(BID, ASK))

    decision = orders.place(view, order_req(BUY, 1, OrderType.Limit, price=6780.0, cl_ord_id="abc",
                                            custom_tag50="tag", is_automated=True), NOW, Ids())

    assert entity_types(decision) == ACCEPTED_TRAIL
    [command] = entities(decision, Command)
    assert (command.command_type, command.command_status, command.cl_ord_id, command.custom_tag50,
            command.is_automated, command.sender_id, command.user_session_id) == (
        CommandType.New, CommandStatus.AtExecution, "abc", "tag", True, 2, 11)
    [report] = entities(decision, CommandReport)
    assert (report.command_id, report.ord_status) == (command.id, OrdStatus.Working)
    [order] = entities(decision, Order)
    assert (order.account_id, order.contract_id, order.action, order.ord_status, order.admin) == (
        1, 4, BUY, OrdStatus.Working, False)
    [version] = entities(decision, OrderVersion)
    assert (version.order_id, version.order_qty, version.order_type, version.price) == (
        order.id, 1, OrderType.Limit, 6780.0)
    [execution] = entities(decision, ExecutionReport)
    assert (execution.exec_type, execution.command_id, execution.order_id, execution.name) == (
        ExecType.New, command.id, order.id, "ESZ6")


def test_market_order_walks_the_depth_when_the_touch_is_too_small() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=2, depth_size=3, depth_levels=5))

    decision = orders.place(view, order_req(BUY, 7), NOW, Ids())

    assert fills_of(decision) == [(2, 6789.25), (3, 6789.5), (2, 6789.75)]
    assert final_orders(view, decision) == {1000: OrdStatus.Filled}
    last = entities(decision, ExecutionReport)[-1]
    assert (last.cum_qty, last.avg_px) == (7, pytest.approx((2 * 6789.25 + 3 * 6789.5 + 2 * 6789.75) / 7))
    position = entities(decision, Position)[-1]
    assert (position.net_pos, position.net_price) == (7, pytest.approx(6789.5))


def test_market_remainder_stays_working_when_the_book_runs_out() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=2, depth_size=1, depth_levels=2))

    decision = orders.place(view, order_req(BUY, 10), NOW, Ids())

    assert fills_of(decision) == [(2, 6789.25), (1, 6789.5), (1, 6789.75)]
    assert final_orders(view, decision) == {1000: OrdStatus.Working}
    assert entities(decision, ExecutionReport)[-1].cum_qty == 4
    assert final_net_pos(view, decision) == 4


def test_execution_report_comes_before_fill_and_fill_before_position_when_an_order_fills() -> None:
    view = make_view(instrument=make_instrument(fees=Fees(commission=1.0)))

    changes = orders.place(view, order_req(BUY, 1), NOW, Ids()).changes

    trade = next(i for i, c in enumerate(changes)
                 if isinstance(c.entity, ExecutionReport) and c.entity.exec_type is ExecType.Trade)
    fill = index_of(changes, "fill")
    assert trade < fill < index_of(changes, "fillFee") < index_of(changes, "position") < \
        index_of(changes, "cashBalanceLog") < index_of(changes, "cashBalance")


def test_fees_are_charged_per_contract_when_an_order_fills() -> None:
    fees = Fees(commission=1.29, exchange_fee=1.38, clearing_fee=0.19, nfa_fee=0.02)
    view = make_view(instrument=make_instrument(fees=fees), account=make_account_state(amount=1000.0))

    decision = orders.place(view, order_req(BUY, 2), NOW, Ids())

    [fee] = entities(decision, FillFee)
    assert (fee.id, fee.commission, fee.exchange_fee, fee.clearing_fee, fee.nfa_fee) == (
        entities(decision, Fill)[0].id, 2.58, 2.76, 0.38, 0.04)
    assert [(log.cash_change_type, log.delta) for log in entities(decision, CashBalanceLog)] == [
        (CashChangeType.Commission, -2.58), (CashChangeType.ExchangeFee, -2.76), (CashChangeType.ClearingFee, -0.38),
        (CashChangeType.NfaFee, -0.04)]
    assert entities(decision, CashBalance)[-1].amount == pytest.approx(1000.0 - 5.76)


@pytest.mark.parametrize("held", [0, 2])
def test_cash_is_rounded_at_every_log_when_a_fill_books_fees_from_a_balance_not_to_the_cent(held: int) -> None:
    # `Blotter._cash` does not round again what it rounded itself: every log and the balance must still be what
    # rounding each running sum gives (opening: fees only; closing: the fill pair's P&L, then the fees)
    fees = Fees(commission=1.29, exchange_fee=1.38, clearing_fee=0.19, nfa_fee=0.02)
    account = make_account_state(amount=1000.0)
    start = msgspec.structs.replace(account.cash_balance, amount=1000.004, realized_pn_l=0.1 + 0.2,
                                    week_realized_pn_l=1 / 3)
    view = make_view(book=make_book(held, price_ticks=BID - 8), instrument=make_instrument(fees=fees),
                     account=msgspec.structs.replace(account, cash_balance=start))

    decision = orders.place(view, order_req(SELL, 2), NOW, Ids())

    amount, realized, week = start.amount, start.realized_pn_l or 0.0, start.week_realized_pn_l or 0.0
    logs = entities(decision, CashBalanceLog)
    assert len(logs) == (5 if held else 4)
    for log in logs:
        gain = log.realized_pn_l or 0.0
        amount, realized, week = to_money(amount + log.delta), to_money(realized + gain), to_money(week + gain)
        assert log.amount == amount
    final = entities(decision, CashBalance)[-1]
    assert (final.amount, final.realized_pn_l, final.week_realized_pn_l) == (amount, realized, week)


def test_realized_pnl_is_credited_per_fill_pair_when_a_position_closes() -> None:
    book = make_book(2, price_ticks=BID - 8)  # long 2 from 6787.00
    view = make_view(book=book, account=make_account_state(amount=1000.0))

    decision = orders.place(view, order_req(SELL, 2), NOW, Ids())

    [pair] = entities(decision, FillPair)
    assert (pair.buy_fill_id, pair.qty, pair.buy_price, pair.sell_price) == (50, 2, 6787.0, BID_PRICE)
    [log] = entities(decision, CashBalanceLog)
    assert (log.cash_change_type, log.delta, log.realized_pn_l, log.fill_pair_id) == (
        CashChangeType.TradePaired, 200.0, 200.0, pair.id)
    cash = entities(decision, CashBalance)[-1]
    assert (cash.amount, cash.realized_pn_l) == (1200.0, 200.0)
    position = entities(decision, Position)[-1]
    assert (position.net_pos, position.net_price, position.id) == (0, None, 7)
    assert latest(decision, Fill)[50].finally_paired == 2


def test_closing_fill_is_committed_fully_paired_when_it_closes_a_position() -> None:
    view = make_view(book=make_book(2, price_ticks=BID - 8))

    decision = orders.place(view, order_req(SELL, 2), NOW, Ids())

    assert {i: f.finally_paired for i, f in latest(decision, Fill).items()} == {50: 2, 1000: 2}


def test_oso_market_entry_takes_the_displayed_size_once_when_the_book_is_thin() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=1))

    decision = orders.place_oso(view, oso_req(OrderType.Market, entry_price=None, stop=None), NOW, Ids())

    result = decision.result
    assert fills_of(decision) == [(1, ASK_PRICE)]
    assert final_orders(view, decision) == {result.order_id: OrdStatus.Working, result.oso1_id: OrdStatus.Suspended}


@given(qty=st.integers(min_value=1, max_value=60), top=st.integers(min_value=1, max_value=20),
       depth=st.integers(min_value=0, max_value=10), levels=st.integers(min_value=0, max_value=4),
       action=st.sampled_from([BUY, SELL]))
@settings(max_examples=60, deadline=None)
def test_market_order_fills_what_the_book_shows_when_placed_against_any_depth(
        *, qty: int, top: int, depth: int, levels: int, action: OrderAction) -> None:
    view = make_view(quote=make_quote(BID, ASK, bid_size=top, ask_size=top, depth_size=depth, depth_levels=levels))

    decision = orders.place(view, order_req(action, qty), NOW, Ids())

    shown = top + (depth * levels if depth else 0)
    filled = sum(q for q, _ in fills_of(decision))
    assert filled == min(qty, shown)
    assert final_net_pos(view, decision) == (filled if action is BUY else -filled)
    assert final_orders(view, decision)[1000] is (OrdStatus.Filled if filled == qty else OrdStatus.Working)


# --- place: limit, stop, time in force -------------------------------------------------------------


def test_limit_rests_when_it_is_not_marketable() -> None:
    view = make_view()

    decision = orders.place(view, order_req(BUY, 2, OrderType.Limit, price=BID_PRICE), NOW, Ids())

    assert entity_types(decision) == ACCEPTED_TRAIL
    assert final_orders(view, decision) == {1000: OrdStatus.Working}


def test_marketable_limit_takes_the_book_up_to_its_price_and_rests_the_rest_when_placed() -> None:
    view = make_view(quote=make_quote(BID, ASK, bid_size=1, depth_size=2, depth_levels=5))

    decision = orders.place(view, order_req(SELL, 6, OrderType.Limit, price=6788.5), NOW, Ids())

    assert fills_of(decision) == [(1, 6789.0), (2, 6788.75), (2, 6788.5)]
    assert final_orders(view, decision) == {1000: OrdStatus.Working}


def test_ioc_cancels_the_remainder_when_the_book_fills_part() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=2))

    decision = orders.place(view, order_req(BUY, 5, OrderType.Limit, price=ASK_PRICE,
                                            time_in_force=TimeInForce.IOC), NOW, Ids())

    assert fills_of(decision) == [(2, ASK_PRICE)]
    assert final_orders(view, decision) == {1000: OrdStatus.Canceled}
    canceled = entities(decision, ExecutionReport)[-1]
    assert (canceled.exec_type, canceled.cum_qty) == (ExecType.Canceled, 2)
    assert final_net_pos(view, decision) == 2


def test_ioc_cancels_everything_when_the_limit_is_not_marketable() -> None:
    view = make_view()

    decision = orders.place(view, order_req(BUY, 5, OrderType.Limit, price=BID_PRICE,
                                            time_in_force=TimeInForce.IOC), NOW, Ids())

    assert fills_of(decision) == []
    assert final_orders(view, decision) == {1000: OrdStatus.Canceled}


def test_fok_is_cancelled_whole_when_the_book_cannot_fill_it_all() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=2, depth_size=1, depth_levels=2))

    decision = orders.place(view, order_req(BUY, 5, time_in_force=TimeInForce.FOK), NOW, Ids())

    assert fills_of(decision) == []
    assert final_orders(view, decision) == {1000: OrdStatus.Canceled}
    assert entities(decision, Position) == []


def test_fok_fills_when_the_book_fills_it_all() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=2, depth_size=1, depth_levels=3))

    decision = orders.place(view, order_req(BUY, 5, time_in_force=TimeInForce.FOK), NOW, Ids())

    assert fills_of(decision) == [(2, 6789.25), (1, 6789.5), (1, 6789.75), (1, 6790.0)]
    assert final_orders(view, decision) == {1000: OrdStatus.Filled}


def test_fok_limit_is_cancelled_when_the_book_within_the_limit_is_too_small() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=2, depth_size=10, depth_levels=3))

    decision = orders.place(view, order_req(BUY, 3, OrderType.Limit, price=ASK_PRICE,
                                            time_in_force=TimeInForce.FOK), NOW, Ids())

    assert fills_of(decision) == []
    assert final_orders(view, decision) == {1000: OrdStatus.Canceled}


def test_stop_rests_when_not_triggered() -> None:
    view = make_view()

    decision = orders.place(view, order_req(BUY, 1, OrderType.Stop, stop_price=6790.0), NOW, Ids())

    assert fills_of(decision) == []
    [version] = entities(decision, OrderVersion)
    assert (version.stop_price, version.price) == (6790.0, None)


def test_stop_takes_its_level_from_price_when_stop_price_is_absent() -> None:
    decision = orders.place(make_view(), order_req(SELL, 1, OrderType.Stop, price=6780.0), NOW, Ids())

    [version] = entities(decision, OrderVersion)
    assert (version.stop_price, version.price) == (6780.0, None)


def test_stop_fills_as_market_when_already_triggered_on_arrival() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=1, depth_size=1, depth_levels=2))

    decision = orders.place(view, order_req(BUY, 2, OrderType.Stop, stop_price=6789.0), NOW, Ids())

    assert fills_of(decision) == [(1, 6789.25), (1, 6789.5)]


def test_stop_limit_takes_only_up_to_its_limit_when_triggered_on_arrival() -> None:
    view = make_view(quote=make_quote(BID, ASK, ask_size=1, depth_size=1, depth_levels=5))

    decision = orders.place(view, order_req(BUY, 5, OrderType.StopLimit, stop_price=6789.0, price=6789.5),
                            NOW, Ids())

    assert fills_of(decision) == [(1, 6789.25), (1, 6789.5)]
    assert final_orders(view, decision) == {1000: OrdStatus.Working}


# --- place: refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(("req", "reason"), [
    (order_req(BUY, 1, OrderType.Limit, price=6789.1), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.Limit), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.StopLimit, price=6790.0), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.Stop), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.Stop, stop_price=6790.3), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.QTS, price=6790.0), FailureReason.Unsupported),
    (order_req(BUY, 1, OrderType.TrailingStop, stop_price=6790.0), FailureReason.InvalidPrice),
    (order_req(SELL, 1, OrderType.TrailingStop, peg_difference=0.0), FailureReason.InvalidPrice),
    (order_req(SELL, 1, OrderType.TrailingStop, peg_difference=1.0), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.TrailingStopLimit, peg_difference=-1.0), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.TrailingStop, peg_difference=1.1), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.TrailingStopLimit, peg_difference=1.0, price=6790.0), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.MIT), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.LimitIfTouched, limit_if_touched_price=6780.0), FailureReason.InvalidPrice),
    (order_req(BUY, 1, OrderType.Limit, price=6780.0, time_in_force=TimeInForce.GTD), FailureReason.UnknownReason),
    (order_req(BUY, 1, OrderType.Limit, price=6780.0, time_in_force=TimeInForce.GTD, expire_time=NOW),
     FailureReason.UnknownReason),
])
def test_place_changes_nothing_when_the_request_is_invalid(req: PlaceOrder, reason: FailureReason) -> None:
    decision = orders.place(make_view(), req, NOW, Ids())

    assert decision.result.failure_reason is reason
    assert decision.result.failure_text
    assert decision.result.order_id is None
    assert decision.changes == ()


def test_place_changes_nothing_when_the_caller_cannot_trade() -> None:
    view = make_view(account=make_account_state(can_trade=False))

    decision = orders.place(view, order_req(BUY, 1), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.Unauthorized
    assert decision.changes == ()


def test_place_is_accepted_when_an_organization_admin_without_permission_sends_it() -> None:
    view = make_view(account=make_account_state(can_trade=False), caller=make_caller(organization_admin=True))

    decision = orders.place(view, order_req(BUY, 1), NOW, Ids())

    assert decision.result.failure_reason is None
    assert fills_of(decision) == [(1, ASK_PRICE)]


RISK_REFUSALS = [
    pytest.param(make_view(account=make_account_state(closed=True)), order_req(BUY, 1),
                 FailureReason.AccountClosed, id="closed-account"),
    pytest.param(make_view(account=make_account_state(admin_action=AdminAction.LockTradingImmediately)),
                 order_req(BUY, 1), FailureReason.TradingLocked, id="locked"),
    pytest.param(make_view(account=make_account_state(admin_action=AdminAction.LiquidateImmediately)),
                 order_req(SELL, 1), FailureReason.TradingLocked, id="liquidate-immediately"),
    pytest.param(make_view(account=make_account_state(admin_action=AdminAction.LiquidateOnlyModeImmediately)),
                 order_req(BUY, 1), FailureReason.LiquidationOnly, id="liquidation-only-opening"),
    pytest.param(make_view(account=make_account_state(liquidate_only=NOW), book=make_book(2)),
                 order_req(SELL, 3), FailureReason.LiquidationOnly, id="liquidation-only-flipping"),
    pytest.param(make_view(trade_date=make_instrument().last_trade_date.replace(day=19)), order_req(BUY, 1),
                 FailureReason.TooLate, id="expired"),
    pytest.param(make_view(is_open=False), order_req(BUY, 1, OrderType.Limit, price=6780.0),
                 FailureReason.SessionClosed, id="session-closed"),
    pytest.param(make_view(no_quote=True), order_req(BUY, 1), FailureReason.NoQuote, id="no-quote"),
    pytest.param(make_view(quote=make_quote(BID, None)), order_req(BUY, 1), FailureReason.NoQuote,
                 id="no-offer"),
    pytest.param(make_view(account=make_account_state(position_limits=(contract_limit(long_limit=5),)),
                            book=make_book(3)), order_req(BUY, 3), FailureReason.MaxPosLimitReached,
                 id="long-limit"),
    pytest.param(make_view(account=make_account_state(position_limits=(contract_limit(short_limit=2),)),
                            book=make_book(working=(make_working(20, SELL, 2),))),
                 order_req(SELL, 1, OrderType.Limit, price=6800.0), FailureReason.MaxPosLimitReached,
                 id="short-limit-counting-working"),
    pytest.param(make_view(account=make_account_state(
        position_limits=(contract_limit(long_limit=5, total_by=TotalBy.Overall),),
        exposures=(Exposure(contract_id=ContractId(99), product_id=ProductId(99), exchange_id=ExchangeId(99),
                            product_type=ProductType.Futures, net_pos=4),))), order_req(BUY, 2),
                 FailureReason.MaxTotalPosLimitReached, id="overall-limit"),
    pytest.param(make_view(account=make_account_state(risk_parameters=(
        UserAccountRiskParameter(id=1, user_account_position_limit_id=1, max_opening_order_qty=3),))),
                 order_req(BUY, 4), FailureReason.MaxOrderQtyLimitReached, id="max-opening-qty"),
    pytest.param(make_view(book=make_book(5), account=make_account_state(risk_parameters=(
        UserAccountRiskParameter(id=1, user_account_position_limit_id=1, contract_id=4, max_closing_order_qty=2),))),
                 order_req(SELL, 3), FailureReason.MaxOrderQtyLimitReached, id="max-closing-qty"),
]


@pytest.mark.parametrize(("view", "req", "reason"), RISK_REFUSALS)
def test_risk_refusal_records_a_rejected_order_when_pre_trade_checks_fail(view: OrderView, req: PlaceOrder,
                                                                          reason: FailureReason) -> None:
    decision = orders.place(view, req, NOW, Ids())

    result = decision.result
    assert (result.failure_reason, result.order_id) == (reason, 1000)
    assert result.failure_text
    assert entity_types(decision) == ACCEPTED_TRAIL
    [command] = entities(decision, Command)
    assert (command.command_type, command.command_status) == (CommandType.New, CommandStatus.RiskRejected)
    [report] = entities(decision, CommandReport)
    assert (report.command_status, report.ord_status, report.reject_reason, report.text) == (
        CommandStatus.RiskRejected, OrdStatus.Rejected, reason, result.failure_text)
    [order] = entities(decision, Order)
    assert (order.id, order.ord_status) == (1000, OrdStatus.Rejected)
    [execution] = entities(decision, ExecutionReport)
    assert (execution.exec_type, execution.ord_status, execution.reject_reason, execution.text) == (
        ExecType.Rejected, OrdStatus.Rejected, reason, result.failure_text)


@pytest.mark.parametrize("account", [
    make_account_state(admin_action=AdminAction.LiquidateOnlyModeImmediately),
    make_account_state(position_limits=(contract_limit(long_limit=1, short_limit=1),)),
    make_account_state(risk_parameters=(
        UserAccountRiskParameter(id=1, user_account_position_limit_id=1, max_opening_order_qty=1),)),
])
def test_reducing_order_is_accepted_when_limits_or_liquidation_only_refuse_opening(account: Any) -> None:
    view = make_view(account=account, book=make_book(4))

    decision = orders.place(view, order_req(SELL, 3), NOW, Ids())

    assert decision.result.failure_reason is None
    assert final_net_pos(view, decision) == 1


def test_place_also_fills_resting_orders_when_the_quote_crosses_them() -> None:
    resting = make_working(10, SELL, 2, price=BID_PRICE)
    view = make_view(book=make_book(working=(resting,)))

    decision = orders.place(view, order_req(BUY, 1, OrderType.Limit, price=6780.0), NOW, Ids())

    assert final_orders(view, decision) == {10: OrdStatus.Filled, 1000: OrdStatus.Working}


# --- OCO ------------------------------------------------------------------------------------------


def oco_req(qty: int = 2, price: float = 6795.0, stop: float = 6780.0) -> PlaceOCO:
    return PlaceOCO(action=SELL, symbol="ESZ6", order_qty=qty, order_type=OrderType.Limit, price=price,
                    other=leg(SELL, OrderType.Stop, stop_price=stop))


def test_oco_legs_rest_linked_when_neither_can_execute() -> None:
    view = make_view(book=make_book(2))

    decision = orders.place_oco(view, oco_req(), NOW, Ids())

    result = decision.result
    assert result.failure_reason is None
    by_id = {o.id: o for o in entities(decision, Order)}
    assert set(by_id) == {result.order_id, result.oco_id}
    assert {o.oco_id for o in by_id.values()} == {result.oco_id}
    versions = {v.order_id: v for v in entities(decision, OrderVersion)}
    assert (versions[result.order_id].order_type, versions[result.order_id].order_qty) == (OrderType.Limit, 2)
    assert (versions[result.oco_id].order_type, versions[result.oco_id].order_qty) == (OrderType.Stop, 2)
    assert versions[result.oco_id].stop_price == 6780.0
    assert fills_of(decision) == []


def test_oco_sibling_is_cancelled_when_a_leg_fills_completely() -> None:
    view = make_view(book=make_book(2), quote=make_quote(BID, ASK, bid_size=5))

    decision = orders.place_oco(view, oco_req(price=BID_PRICE), NOW, Ids())

    result = decision.result
    assert fills_of(decision) == [(2, BID_PRICE)]
    assert final_orders(view, decision) == {result.order_id: OrdStatus.Filled, result.oco_id: OrdStatus.Canceled}
    assert final_net_pos(view, decision) == 0


def test_oco_sibling_shrinks_when_a_leg_fills_partly() -> None:
    view = make_view(book=make_book(3), quote=make_quote(BID, ASK, bid_size=1))

    decision = orders.place_oco(view, oco_req(qty=3, price=BID_PRICE), NOW, Ids())

    result = decision.result
    assert fills_of(decision) == [(1, BID_PRICE)]
    assert final_orders(view, decision) == {result.order_id: OrdStatus.Working, result.oco_id: OrdStatus.Working}
    latest = {v.order_id: v.order_qty for v in entities(decision, OrderVersion)}
    assert latest == {result.order_id: 3, result.oco_id: 2}
    replaced = entities(decision, ExecutionReport)[-1]
    assert (replaced.order_id, replaced.exec_type) == (result.oco_id, ExecType.Replaced)


def test_oco_sibling_is_cancelled_when_the_market_fills_a_resting_leg() -> None:
    take_profit = make_working(10, SELL, 2, price=6795.0, oco_id=11)
    stop_loss = make_working(11, SELL, 2, order_type=OrderType.Stop, stop_price=6780.0, oco_id=11)
    view = make_view(book=make_book(2, working=(take_profit, stop_loss)), quote=make_quote(27_180, 27_181))

    decision = orders.match(view, NOW, Ids())

    assert fills_of(decision) == [(2, 6795.0)]
    assert final_orders(view, decision) == {10: OrdStatus.Filled, 11: OrdStatus.Canceled}


def test_oco_changes_nothing_when_a_leg_price_is_off_the_grid() -> None:
    req = PlaceOCO(action=SELL, symbol="ESZ6", order_qty=1, order_type=OrderType.Limit, price=6795.0,
                   other=leg(SELL, OrderType.Stop, stop_price=6780.1))

    decision = orders.place_oco(make_view(), req, NOW, Ids())

    assert decision.result.failure_reason is FailureReason.InvalidPrice
    assert decision.changes == ()


def test_oco_records_a_rejected_order_when_risk_refuses_a_leg() -> None:
    view = make_view(account=make_account_state(position_limits=(contract_limit(short_limit=1),)))

    decision = orders.place_oco(view, oco_req(qty=2), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.MaxPosLimitReached
    assert [o.ord_status for o in entities(decision, Order)] == [OrdStatus.Rejected]


# --- OSO ------------------------------------------------------------------------------------------


def oso_req(entry_type: OrderType = OrderType.Limit, entry_price: float | None = 6780.0, qty: int = 2,
            take_profit: float = 6800.0, stop: float | None = 6770.0) -> PlaceOSO:
    return PlaceOSO(
        action=BUY, symbol="ESZ6", order_qty=qty, order_type=entry_type, price=entry_price,
        bracket1=leg(SELL, OrderType.Limit, price=take_profit),
        bracket2=leg(SELL, OrderType.Stop, stop_price=stop) if stop is not None else None,
    )


def test_oso_brackets_are_suspended_and_oco_linked_when_the_entry_rests() -> None:
    view = make_view()

    decision = orders.place_oso(view, oso_req(), NOW, Ids())

    result = decision.result
    assert result.failure_reason is None
    assert result.oso1_id is not None
    assert result.oso2_id is not None
    statuses = final_orders(view, decision)
    assert statuses == {result.order_id: OrdStatus.Working, result.oso1_id: OrdStatus.Suspended,
                        result.oso2_id: OrdStatus.Suspended}
    legs = [o for o in entities(decision, Order) if o.id != result.order_id]
    assert {o.parent_id for o in legs} == {result.order_id}
    assert len({o.oco_id for o in legs}) == 1
    assert legs[0].oco_id is not None
    pending = [r for r in entities(decision, ExecutionReport) if r.order_id != result.order_id]
    assert {r.exec_type for r in pending} == {ExecType.PendingNew}
    assert {v.order_qty for v in entities(decision, OrderVersion)} == {2}


def test_oso_with_one_bracket_has_no_oco_link_when_placed() -> None:
    decision = orders.place_oso(make_view(), oso_req(stop=None), NOW, Ids())

    assert decision.result.oso2_id is None
    [bracket] = [o for o in entities(decision, Order) if o.id == decision.result.oso1_id]
    assert (bracket.oco_id, bracket.parent_id, bracket.ord_status) == (None, decision.result.order_id,
                                                                       OrdStatus.Suspended)


def test_oso_brackets_start_working_when_the_entry_fills() -> None:
    view = make_view()

    decision = orders.place_oso(view, oso_req(OrderType.Market, entry_price=None), NOW, Ids())

    result = decision.result
    assert fills_of(decision) == [(2, ASK_PRICE)]
    assert final_orders(view, decision) == {result.order_id: OrdStatus.Filled, result.oso1_id: OrdStatus.Working,
                                            result.oso2_id: OrdStatus.Working}
    activated = [r for r in entities(decision, ExecutionReport)
                 if r.order_id in (result.oso1_id, result.oso2_id) and r.exec_type is ExecType.New]
    assert len(activated) == 2


def test_oso_brackets_start_working_when_the_market_fills_a_resting_entry() -> None:
    entry = make_working(10, BUY, 1, price=6790.0)
    take_profit = make_working(11, SELL, 1, price=6800.0, status=OrdStatus.Suspended, parent_id=10)
    view = make_view(book=make_book(working=(entry, take_profit)))

    decision = orders.match(view, NOW, Ids())

    assert final_orders(view, decision) == {10: OrdStatus.Filled, 11: OrdStatus.Working}


def test_oso_brackets_stay_suspended_when_the_entry_fills_partly() -> None:
    entry = make_working(10, BUY, 3, order_type=OrderType.Market)
    take_profit = make_working(11, SELL, 3, price=6800.0, status=OrdStatus.Suspended, parent_id=10)
    view = make_view(book=make_book(working=(entry, take_profit)), quote=make_quote(BID, ASK, ask_size=1))

    decision = orders.match(view, NOW, Ids())

    assert fills_of(decision) == [(1, ASK_PRICE)]
    assert final_orders(view, decision) == {10: OrdStatus.Working, 11: OrdStatus.Suspended}


def test_oso_changes_nothing_when_a_bracket_is_on_the_entry_side() -> None:
    req = PlaceOSO(action=BUY, symbol="ESZ6", order_qty=1, order_type=OrderType.Market,
                   bracket1=leg(BUY, OrderType.Limit, price=6800.0))

    decision = orders.place_oso(make_view(), req, NOW, Ids())

    assert decision.result.failure_reason is FailureReason.UnknownReason
    assert decision.changes == ()


def test_marketable_bracket_takes_the_book_when_the_entry_fills() -> None:
    req = oso_req(OrderType.Market, entry_price=None, take_profit=6788.0, stop=6780.0)

    decision = orders.place_oso(make_view(), req, NOW, Ids())

    assert fills_of(decision) == [(2, ASK_PRICE), (2, BID_PRICE)]


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_records_the_full_trail_when_the_order_is_working() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 3, price=6780.0, cum_qty=1),)))

    decision = orders.cancel(view, CancelOrder(order_id=10, cl_ord_id="c1"), 10, NOW, Ids())

    assert decision.result.failure_reason is None
    assert entity_types(decision) == ["command", "commandReport", "order", "executionReport"]
    [command] = entities(decision, Command)
    assert (command.id, command.order_id, command.command_type, command.cl_ord_id) == (
        decision.result.command_id, 10, CommandType.Cancel, "c1")
    assert final_orders(view, decision) == {10: OrdStatus.Canceled}
    [report] = entities(decision, ExecutionReport)
    assert (report.exec_type, report.cum_qty, report.command_id) == (ExecType.Canceled, 1, command.id)


def test_cancel_works_when_the_order_is_a_suspended_bracket() -> None:
    bracket = make_working(11, SELL, 1, price=6800.0, status=OrdStatus.Suspended, parent_id=10)
    view = make_view(book=make_book(working=(make_working(10, BUY, 1, price=6780.0), bracket)))

    decision = orders.cancel(view, CancelOrder(order_id=11), 11, NOW, Ids())

    assert final_orders(view, decision) == {10: OrdStatus.Working, 11: OrdStatus.Canceled}


def test_cancel_answers_too_late_when_the_order_is_not_working() -> None:
    decision = orders.cancel(make_view(), CancelOrder(order_id=10), 10, NOW, Ids())

    assert decision.result.failure_reason is FailureReason.TooLate
    assert decision.changes == ()


def test_cancel_changes_nothing_when_the_caller_cannot_trade() -> None:
    view = make_view(account=make_account_state(can_trade=False), book=make_book(working=(make_working(10),)))

    decision = orders.cancel(view, CancelOrder(order_id=10), 10, NOW, Ids())

    assert decision.result.failure_reason is FailureReason.Unauthorized
    assert decision.changes == ()


def test_cancel_cancels_the_suspended_brackets_when_the_oso_entry_is_cancelled() -> None:
    bracket = make_working(11, SELL, 1, price=6800.0, status=OrdStatus.Suspended, parent_id=10)
    view = make_view(book=make_book(working=(make_working(10, BUY, 1, price=6780.0), bracket)))

    decision = orders.cancel(view, CancelOrder(order_id=10), 10, NOW, Ids())

    assert final_orders(view, decision) == {10: OrdStatus.Canceled, 11: OrdStatus.Canceled}


# --- modify ---------------------------------------------------------------------------------------


def modify_req(order_id: int = 10, qty: int = 2, order_type: OrderType = OrderType.Limit,
               **fields: Any) -> ModifyOrder:
    return ModifyOrder(order_id=order_id, order_qty=qty, order_type=order_type, **fields)


def test_modify_gives_the_order_a_new_version_when_the_order_is_working() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 2, price=6780.0),)))

    decision = orders.modify(view, modify_req(qty=3, price=6781.0), NOW, Ids())

    assert decision.result.failure_reason is None
    assert entity_types(decision) == ["command", "commandReport", "orderVersion", "executionReport"]
    [command] = entities(decision, Command)
    assert (command.command_type, command.id) == (CommandType.Modify, decision.result.command_id)
    [report] = entities(decision, CommandReport)
    assert report.command_status is CommandStatus.Replaced
    [version] = entities(decision, OrderVersion)
    assert (version.order_id, version.order_qty, version.price) == (10, 3, 6781.0)
    [execution] = entities(decision, ExecutionReport)
    assert (execution.exec_type, execution.ord_status) == (ExecType.Replaced, OrdStatus.Working)


def test_modify_fills_the_order_when_the_new_price_is_marketable() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 2, price=6780.0),)),
                     quote=make_quote(BID, ASK, ask_size=1, depth_size=5, depth_levels=1))

    decision = orders.modify(view, modify_req(qty=2, price=6789.5), NOW, Ids())

    assert fills_of(decision) == [(1, 6789.25), (1, 6789.5)]
    assert final_orders(view, decision) == {10: OrdStatus.Filled}


def test_modify_fills_the_order_when_converted_to_market() -> None:
    view = make_view(book=make_book(working=(make_working(10, SELL, 2, price=6800.0),)))

    decision = orders.modify(view, modify_req(qty=2, order_type=OrderType.Market), NOW, Ids())

    assert fills_of(decision) == [(2, BID_PRICE)]


def test_modify_does_not_execute_a_suspended_bracket_when_its_price_becomes_marketable() -> None:
    bracket = make_working(11, SELL, 1, price=6800.0, status=OrdStatus.Suspended, parent_id=10)
    view = make_view(book=make_book(working=(make_working(10, BUY, 1, price=6780.0), bracket)))

    decision = orders.modify(view, modify_req(order_id=11, qty=1, price=6785.0), NOW, Ids())

    assert fills_of(decision) == []
    assert final_orders(view, decision) == {10: OrdStatus.Working, 11: OrdStatus.Suspended}


def test_modify_answers_too_late_when_the_order_is_not_working() -> None:
    decision = orders.modify(make_view(), modify_req(price=6780.0), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.TooLate
    assert decision.changes == ()


def test_modify_changes_nothing_when_the_quantity_is_not_above_the_filled_quantity() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 5, price=6780.0, cum_qty=3),)))

    decision = orders.modify(view, modify_req(qty=3, price=6780.0), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.UnknownReason
    assert decision.changes == ()


def test_modify_changes_nothing_when_the_new_price_is_off_the_grid() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 2, price=6780.0),)))

    decision = orders.modify(view, modify_req(price=6780.3), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.InvalidPrice
    assert decision.changes == ()


def test_modify_changes_nothing_when_the_caller_cannot_trade() -> None:
    view = make_view(account=make_account_state(can_trade=False),
                     book=make_book(working=(make_working(10, BUY, 2, price=6780.0),)))

    decision = orders.modify(view, modify_req(price=6781.0), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.Unauthorized
    assert decision.changes == ()


def test_modify_records_a_rejected_command_when_trading_is_locked() -> None:
    view = make_view(account=make_account_state(admin_action=AdminAction.LockTradingImmediately),
                     book=make_book(working=(make_working(10, BUY, 2, price=6780.0),)))

    decision = orders.modify(view, modify_req(price=6781.0), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.TradingLocked
    assert entity_types(decision) == ["command", "commandReport"]
    [command] = entities(decision, Command)
    assert (command.command_type, command.command_status, command.id) == (
        CommandType.Modify, CommandStatus.RiskRejected, decision.result.command_id)
    [report] = entities(decision, CommandReport)
    assert report.reject_reason is FailureReason.TradingLocked
    assert report.ord_status is OrdStatus.Working  # the refused modify left the order working


def test_modify_is_refused_when_the_new_quantity_breaks_the_position_limit() -> None:
    view = make_view(account=make_account_state(position_limits=(contract_limit(long_limit=5),)),
                     book=make_book(working=(make_working(10, BUY, 2, price=6780.0),)))

    decision = orders.modify(view, modify_req(qty=50, price=6780.0), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.MaxPosLimitReached


# --- match ----------------------------------------------------------------------------------------


def test_match_fills_a_resting_buy_limit_at_its_price_when_the_offer_reaches_it() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 3, price=6789.25),)),
                     quote=make_quote(BID, ASK, ask_size=1))

    decision = orders.match(view, NOW, Ids())

    assert fills_of(decision) == [(3, 6789.25)]
    assert final_orders(view, decision) == {10: OrdStatus.Filled}
    assert entities(decision, ExecutionReport)[0].command_id == 10


def test_match_fills_a_resting_sell_limit_when_the_last_trade_reaches_it() -> None:
    view = make_view(book=make_book(working=(make_working(10, SELL, 1, price=6790.0),)),
                     quote=make_quote(BID, ASK, last=27_160))

    decision = orders.match(view, NOW, Ids())

    assert fills_of(decision) == [(1, 6790.0)]


def test_match_changes_nothing_when_no_resting_order_is_crossed() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 1, price=6789.0),
                                             make_working(11, SELL, 1, price=6789.5))))

    assert orders.match(view, NOW, Ids()).changes == ()


def test_match_changes_nothing_when_the_session_is_closed() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 1, price=6790.0),)), is_open=False)

    assert orders.match(view, NOW, Ids()).changes == ()


def test_match_changes_nothing_when_there_is_no_quote() -> None:
    view = make_view(book=make_book(working=(make_working(10, BUY, 1, price=6790.0),)), no_quote=True)

    assert orders.match(view, NOW, Ids()).changes == ()


def test_match_fills_a_stop_at_the_touch_when_the_bid_reaches_it() -> None:
    stop = make_working(10, SELL, 2, order_type=OrderType.Stop, stop_price=6789.5)
    view = make_view(book=make_book(2, working=(stop,)), quote=make_quote(BID, ASK, bid_size=1, depth_size=1,
                                                                             depth_levels=1))

    decision = orders.match(view, NOW, Ids())

    assert fills_of(decision) == [(1, 6789.0), (1, 6788.75)]
    assert final_net_pos(view, decision) == 0


def test_match_rests_a_triggered_stop_limit_when_the_book_is_past_its_limit() -> None:
    stop = make_working(10, SELL, 2, order_type=OrderType.StopLimit, stop_price=6790.0, price=6789.5)
    view = make_view(book=make_book(working=(stop,)))

    decision = orders.match(view, NOW, Ids())

    assert fills_of(decision) == []


def test_match_fills_the_remainder_of_a_market_order_when_a_new_quote_shows_size() -> None:
    working = make_working(10, BUY, 5, order_type=OrderType.Market, cum_qty=2)
    view = make_view(book=make_book(2, working=(working,)), quote=make_quote(BID, ASK, ask_size=10))

    decision = orders.match(view, NOW, Ids())

    assert fills_of(decision) == [(3, ASK_PRICE)]
    assert final_orders(view, decision) == {10: OrdStatus.Filled}
    assert entities(decision, ExecutionReport)[-1].cum_qty == 5
    assert final_net_pos(view, decision) == 5


def test_match_fills_oldest_first_when_several_orders_are_crossed() -> None:
    view = make_view(book=make_book(working=(make_working(12, BUY, 1, price=6790.0),
                                             make_working(10, BUY, 1, price=6789.5))))

    decision = orders.match(view, NOW, Ids())

    assert [f.order_id for f in entities(decision, Fill)] == [10, 12]
    assert final_net_pos(view, decision) == 2
