"""Liquidating a position in the pure core: who may, what is cancelled, the one closing order, and the audit."""

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
from tradovate_sim.core.liquidation import liquidate_position
from tradovate_sim.core.view import Book, Fees, OrderView, WorkingOrder
from tradovate_sim.model.entities import (
    AutoLiqTransaction,
    Command,
    ExecutionReport,
    Fill,
    Order,
    OrderVersion,
    Position,
)
from tradovate_sim.model.enums import (
    AdminAction,
    CommandType,
    EventType,
    ExecType,
    FailureReason,
    Initiator,
    OrderAction,
    OrderType,
    OrdStatus,
)
from tradovate_sim.model.requests import LiquidatePosition

BUY, SELL = OrderAction.Buy, OrderAction.Sell
BID, ASK = 27_156, 27_157
BID_PRICE, ASK_PRICE = 6789.0, 6789.25


def liquidate_req(admin: bool = False, **fields: Any) -> LiquidatePosition:
    return LiquidatePosition(account_id=1, contract_id=4, admin=admin, **fields)


def created_orders(decision: Any) -> list[Order]:
    return entities(decision, Order, EventType.Created)


def mixed_book(net_pos: int = 3) -> Book:
    """A position with working orders on both sides, a partly filled stop and a suspended OSO bracket."""
    return make_book(net_pos, working=(
        make_working(10, BUY, 2, price=6780.0),
        make_working(11, BUY, 3, order_type=OrderType.Stop, stop_price=6800.0, cum_qty=1),
        make_working(12, SELL, 4, price=6800.0),
        make_working(13, SELL, 1, order_type=OrderType.StopLimit, stop_price=6770.0, price=6769.0),
        make_working(14, SELL, 5, price=6810.0, status=OrdStatus.Suspended, parent_id=10),
    ))


# --- what a liquidation does ----------------------------------------------------------------------


def test_liquidation_cancels_every_order_and_closes_with_one_market_order_when_long() -> None:
    view = make_view(book=mixed_book(3))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    result = decision.result
    assert result.failure_reason is None
    assert result.order_id == 1000
    statuses = final_orders(view, decision)
    assert statuses == {10: OrdStatus.Canceled, 11: OrdStatus.Canceled, 12: OrdStatus.Canceled,
                        13: OrdStatus.Canceled, 14: OrdStatus.Canceled, 1000: OrdStatus.Filled}
    [closing] = created_orders(decision)
    assert (closing.id, closing.action, closing.admin) == (1000, SELL, False)
    [version] = entities(decision, OrderVersion)
    assert (version.order_type, version.order_qty, version.text) == (OrderType.Market, 3, "Liquidation")
    assert fills_of(decision) == [(3, BID_PRICE)]
    assert final_net_pos(view, decision) == 0


def test_liquidation_buys_back_abs_net_pos_when_short() -> None:
    view = make_view(book=make_book(-4))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    [closing] = created_orders(decision)
    assert closing.action is BUY
    assert entities(decision, OrderVersion)[0].order_qty == 4
    assert fills_of(decision) == [(4, ASK_PRICE)]
    assert final_net_pos(view, decision) == 0


def test_cancels_carry_the_liquidation_trail_when_orders_are_cancelled() -> None:
    view = make_view(book=mixed_book(0))

    decision = liquidate_position(view, liquidate_req(custom_tag50="flatten", is_automated=True), NOW, Ids())

    cancels = [c for c in entities(decision, Command) if c.command_type is CommandType.Cancel]
    assert sorted(c.order_id for c in cancels) == [10, 11, 12, 13, 14]
    assert {(c.custom_tag50, c.is_automated) for c in cancels} == {("flatten", True)}
    reports = [r for r in entities(decision, ExecutionReport) if r.exec_type is ExecType.Canceled]
    assert {r.text for r in reports} == {"Liquidation"}
    assert {r.order_id: r.cum_qty for r in reports}[11] == 1


def test_closing_command_carries_tag50_and_automation_flag_when_given() -> None:
    view = make_view(book=make_book(1))

    decision = liquidate_position(view, liquidate_req(custom_tag50="flatten", is_automated=True), NOW, Ids())

    [command] = entities(decision, Command)
    assert (command.command_type, command.custom_tag50, command.is_automated, command.order_id) == (
        CommandType.New, "flatten", True, decision.result.order_id)


def test_liquidation_answers_success_without_an_order_when_flat() -> None:
    view = make_view(book=mixed_book(0))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert decision.result.failure_reason is None
    assert decision.result.order_id is None
    assert created_orders(decision) == []
    assert set(final_orders(view, decision).values()) == {OrdStatus.Canceled}
    [audit] = entities(decision, AutoLiqTransaction)
    assert (audit.liquidated_net_pos, audit.order_id) == (0, None)


def test_liquidation_only_cancels_when_flat_and_there_is_no_quote() -> None:
    view = make_view(book=mixed_book(0), no_quote=True)

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert decision.result.failure_reason is None
    assert set(final_orders(view, decision).values()) == {OrdStatus.Canceled}


def test_liquidation_writes_only_the_audit_when_there_is_nothing_to_do() -> None:
    decision = liquidate_position(make_view(), liquidate_req(), NOW, Ids())

    assert entity_types(decision) == ["autoLiqTransaction"]


def test_oco_legs_are_each_cancelled_once_when_liquidating() -> None:
    view = make_view(book=make_book(2, working=(make_working(10, SELL, 2, price=6800.0, oco_id=11),
                                                make_working(11, SELL, 2, order_type=OrderType.Stop,
                                                             stop_price=6770.0, oco_id=11))))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    cancels = [c.order_id for c in entities(decision, Command) if c.command_type is CommandType.Cancel]
    assert cancels == [10, 11]
    [audit] = entities(decision, AutoLiqTransaction)
    assert (audit.cancelled_sell_limit_qty, audit.cancelled_sell_stop_qty) == (2, 2)


# --- the audit ------------------------------------------------------------------------------------


def test_audit_counts_cancelled_quantities_by_side_and_kind_when_liquidating() -> None:
    view = make_view(book=mixed_book(3))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids(), admin_action=AdminAction.LiquidateImmediately)

    [audit] = entities(decision, AutoLiqTransaction)
    assert (audit.cancelled_buy_limit_qty, audit.cancelled_buy_stop_qty, audit.cancelled_sell_limit_qty,
            audit.cancelled_sell_stop_qty) == (2, 2, 9, 1)
    assert (audit.account_id, audit.contract_id, audit.liquidated_net_pos, audit.order_id, audit.user_id) == (
        1, 4, 3, decision.result.order_id, 2)
    assert (audit.initiator, audit.admin_action, audit.timestamp) == (Initiator.Customer,
                                                                      AdminAction.LiquidateImmediately, NOW)


def test_audit_names_the_admin_when_an_organization_admin_liquidates() -> None:
    view = make_view(book=make_book(-2), caller=make_caller(organization_admin=True),
                     account=make_account_state(can_trade=False))

    decision = liquidate_position(view, liquidate_req(admin=True), NOW, Ids())

    assert decision.result.failure_reason is None
    [audit] = entities(decision, AutoLiqTransaction)
    assert (audit.initiator, audit.admin_action, audit.liquidated_net_pos) == (Initiator.Admin, AdminAction.Normal,
                                                                               -2)
    assert created_orders(decision)[0].admin is True


def test_audit_has_no_user_when_the_server_liquidates() -> None:
    view = make_view(book=make_book(1), caller=make_caller(user_id=0, organization_admin=True))

    decision = liquidate_position(view, liquidate_req(admin=True), NOW, Ids())

    assert entities(decision, AutoLiqTransaction)[0].user_id is None


# --- order of changes -----------------------------------------------------------------------------


def test_changes_come_in_commit_order_when_liquidating() -> None:
    view = make_view(book=mixed_book(3), instrument=make_instrument(fees=Fees(commission=1.0)))

    changes = liquidate_position(view, liquidate_req(), NOW, Ids()).changes

    kinds = [(c.entity_type, c.entity) for c in changes]
    cancel_updates = [i for i, (_, e) in enumerate(kinds) if isinstance(e, Order) and e.ord_status is
                      OrdStatus.Canceled]
    closing_created = next(i for i, (_, e) in enumerate(kinds) if isinstance(e, Order) and e.id == 1000)
    trade = next(i for i, (_, e) in enumerate(kinds) if isinstance(e, ExecutionReport) and
                 e.exec_type is ExecType.Trade)
    fill = next(i for i, c in enumerate(changes) if c.entity_type == "fill" and c.event_type is EventType.Created)
    position = next(i for i, (t, _) in enumerate(kinds) if t == "position")
    pair = next(i for i, (t, _) in enumerate(kinds) if t == "fillPair")
    cash_logs = [i for i, (t, _) in enumerate(kinds) if t == "cashBalanceLog"]
    cash = next(i for i, (t, _) in enumerate(kinds) if t == "cashBalance")
    assert len(cancel_updates) == 5
    assert max(cancel_updates) < closing_created < trade < fill < position < pair < min(cash_logs)
    assert position < cash
    assert max(cash_logs) < cash
    assert kinds[-1][0] == "autoLiqTransaction"


# --- thin books -----------------------------------------------------------------------------------


def test_closing_order_stays_working_when_the_book_is_thin() -> None:
    view = make_view(book=make_book(10), quote=make_quote(BID, ASK, bid_size=2, depth_size=1, depth_levels=3))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert fills_of(decision) == [(2, 6789.0), (1, 6788.75), (1, 6788.5), (1, 6788.25)]
    assert final_orders(view, decision) == {1000: OrdStatus.Working}
    assert final_net_pos(view, decision) == 5


def test_closing_order_finishes_the_liquidation_when_the_next_quote_shows_size() -> None:
    view = make_view(book=make_book(6), quote=make_quote(BID, ASK, bid_size=2))
    first = liquidate_position(view, liquidate_req(), NOW, Ids())
    closing = latest(first, Order)[1000]
    version = entities(first, OrderVersion)[-1]
    lots = tuple(f for f in latest(first, Fill).values() if f.finally_paired < f.qty and f.action is BUY)
    after = make_view(book=Book(position=entities(first, Position)[-1], open_fills=lots,
                                working=(WorkingOrder(order=closing, version=version, command_id=1000, cum_qty=2,
                                                      cum_value=2 * BID_PRICE),)),
                      quote=make_quote(BID - 1, ASK - 1, bid_size=10))

    decision = orders.match(after, NOW, Ids(2000))

    assert fills_of(decision) == [(4, 6788.75)]
    assert final_orders(after, decision) == {1000: OrdStatus.Filled}
    assert final_net_pos(after, decision) == 0


def test_liquidation_answers_another_command_pending_when_the_closing_order_is_still_working() -> None:
    working = make_working(20, SELL, 10, order_type=OrderType.Market, cum_qty=4)
    book = make_book(6, working=(working, make_working(10, BUY, 1)))
    view = make_view(book=msgspec.structs.replace(book, closing_orders=frozenset({20})))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert decision.result.failure_reason is FailureReason.AnotherCommandPending
    assert decision.result.failure_text
    assert decision.changes == ()


def test_traders_working_market_order_is_cancelled_when_it_is_not_a_closing_order() -> None:
    working = make_working(20, SELL, 10, order_type=OrderType.Market, cum_qty=4)
    view = make_view(book=make_book(6, working=(working,)))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert decision.result.failure_reason is None
    assert final_orders(view, decision)[20] is OrdStatus.Canceled


def test_suspended_market_bracket_is_cancelled_not_pending_when_liquidating() -> None:
    bracket = make_working(11, SELL, 1, order_type=OrderType.Market, status=OrdStatus.Suspended, parent_id=10)
    view = make_view(book=make_book(1, working=(make_working(10, BUY, 1), bracket)))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert decision.result.failure_reason is None
    assert final_orders(view, decision)[11] is OrdStatus.Canceled


# --- refusals -------------------------------------------------------------------------------------


REFUSALS = [
    pytest.param(make_view(book=mixed_book(2), account=make_account_state(can_trade=False)), False,
                 FailureReason.Unauthorized, id="no-permission"),
    pytest.param(make_view(book=mixed_book(2)), True, FailureReason.Unauthorized, id="admin-flag-without-admin"),
    pytest.param(make_view(book=mixed_book(2), account=make_account_state(can_trade=False),
                           caller=make_caller(organization_admin=True)), False, FailureReason.Unauthorized,
                 id="admin-without-admin-flag-or-permission"),
    pytest.param(make_view(book=mixed_book(2), account=make_account_state(closed=True)), False,
                 FailureReason.AccountClosed, id="closed-account"),
    pytest.param(make_view(book=mixed_book(2), caller=make_caller(organization_admin=True),
                           account=make_account_state(closed=True)), True, FailureReason.AccountClosed,
                 id="closed-account-admin"),
    pytest.param(make_view(book=mixed_book(2), account=make_account_state(
        admin_action=AdminAction.LockTradingImmediately)), False, FailureReason.TradingLocked, id="locked"),
    pytest.param(make_view(book=mixed_book(2), account=make_account_state(
        admin_action=AdminAction.LiquidateImmediately)), False, FailureReason.TradingLocked,
                 id="liquidate-immediately"),
    pytest.param(make_view(book=mixed_book(2), is_open=False), False, FailureReason.SessionClosed,
                 id="session-closed"),
    pytest.param(make_view(book=mixed_book(0), is_open=False), False, FailureReason.SessionClosed,
                 id="session-closed-flat"),
    pytest.param(make_view(book=mixed_book(2), quote=make_quote(None, ASK)), False, FailureReason.NoQuote,
                 id="no-bid-to-sell-into"),
    pytest.param(make_view(book=mixed_book(-2), quote=make_quote(BID, None)), False, FailureReason.NoQuote,
                 id="no-offer-to-buy-from"),
    pytest.param(make_view(book=mixed_book(2), no_quote=True), False, FailureReason.NoQuote, id="no-quote"),
    pytest.param(make_view(book=mixed_book(2), trade_date=make_instrument().last_trade_date.replace(day=21)), False,
                 FailureReason.TooLate, id="expired"),
]


@pytest.mark.parametrize(("view", "admin", "reason"), REFUSALS)
def test_liquidation_changes_nothing_when_refused(view: OrderView, admin: bool, reason: FailureReason) -> None:
    decision = liquidate_position(view, liquidate_req(admin=admin), NOW, Ids())

    assert decision.result.failure_reason is reason
    assert decision.result.failure_text
    assert decision.result.order_id is None
    assert decision.changes == ()


@pytest.mark.parametrize("admin_action", [AdminAction.LockTradingImmediately, AdminAction.LiquidateImmediately])
def test_admin_liquidation_goes_through_when_trading_is_locked(admin_action: AdminAction) -> None:
    view = make_view(book=mixed_book(2), caller=make_caller(organization_admin=True),
                     account=make_account_state(admin_action=admin_action))

    decision = liquidate_position(view, liquidate_req(admin=True), NOW, Ids())

    assert decision.result.failure_reason is None
    assert final_net_pos(view, decision) == 0


def test_liquidation_goes_through_when_the_account_is_in_liquidation_only_mode() -> None:
    view = make_view(book=mixed_book(2), account=make_account_state(
        admin_action=AdminAction.LiquidateOnlyModeImmediately))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert decision.result.failure_reason is None
    assert final_net_pos(view, decision) == 0


# --- properties -----------------------------------------------------------------------------------

KINDS = (OrderType.Limit, OrderType.Stop, OrderType.StopLimit)


@st.composite
def working_orders(draw: st.DrawFn) -> tuple[WorkingOrder, ...]:
    specs = draw(st.lists(st.tuples(st.sampled_from([BUY, SELL]), st.sampled_from(KINDS),
                                    st.integers(min_value=1, max_value=10), st.booleans(),
                                    st.integers(min_value=0, max_value=9)), max_size=6))
    return tuple(
        make_working(10 + i, action, qty, order_type=kind, cum_qty=min(filled, qty - 1),
                     status=OrdStatus.Suspended if suspended else OrdStatus.Working,
                     parent_id=9 if suspended else None)
        for i, (action, kind, qty, suspended, filled) in enumerate(specs)
    )


@given(net_pos=st.integers(min_value=-30, max_value=30), working=working_orders(),
       top=st.integers(min_value=0, max_value=40), depth=st.integers(min_value=0, max_value=10),
       levels=st.integers(min_value=0, max_value=5))
@settings(max_examples=120, deadline=None)
def test_liquidation_moves_net_pos_toward_zero_and_never_past_it_when_books_are_random(
        *, net_pos: int, working: tuple[WorkingOrder, ...], top: int, depth: int, levels: int) -> None:
    view = make_view(book=make_book(net_pos, working=working),
                     quote=make_quote(BID, ASK, bid_size=top, ask_size=top, depth_size=depth, depth_levels=levels))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert decision.result.failure_reason is None
    shown = top + depth * levels if top else 0
    filled = min(abs(net_pos), shown)
    after = final_net_pos(view, decision)
    assert abs(after) == abs(net_pos) - filled
    assert after * net_pos >= 0  # never flips
    statuses = final_orders(view, decision)
    assert all(statuses[w.order.id] is OrdStatus.Canceled for w in working)
    new_orders = created_orders(decision)
    if net_pos == 0:
        assert new_orders == []
    else:
        [closing] = new_orders
        assert closing.action is (SELL if net_pos > 0 else BUY)
        assert entities(decision, OrderVersion, EventType.Created)[0].order_qty == abs(net_pos)
        assert statuses[closing.id] is (OrdStatus.Filled if filled == abs(net_pos) else OrdStatus.Working)
    [audit] = entities(decision, AutoLiqTransaction)
    left = {(a, s): 0 for a in (BUY, SELL) for s in (False, True)}
    for w in working:
        left[(w.order.action, w.version.order_type is not OrderType.Limit)] += w.version.order_qty - w.cum_qty
    assert (audit.cancelled_buy_limit_qty, audit.cancelled_buy_stop_qty, audit.cancelled_sell_limit_qty,
            audit.cancelled_sell_stop_qty) == (left[(BUY, False)], left[(BUY, True)], left[(SELL, False)],
                                               left[(SELL, True)])
    assert audit.liquidated_net_pos == net_pos


@given(net_pos=st.integers(min_value=-30, max_value=30).filter(bool), working=working_orders(),
       spare=st.integers(min_value=0, max_value=20), levels=st.integers(min_value=0, max_value=5))
@settings(max_examples=80, deadline=None)
def test_liquidation_ends_flat_with_nothing_working_when_the_book_is_deep_enough(
        *, net_pos: int, working: tuple[WorkingOrder, ...], spare: int, levels: int) -> None:
    top = max(1, abs(net_pos) - levels * 2) + spare
    view = make_view(book=make_book(net_pos, working=working),
                     quote=make_quote(BID, ASK, bid_size=top, ask_size=top, depth_size=2, depth_levels=levels))

    decision = liquidate_position(view, liquidate_req(), NOW, Ids())

    assert final_net_pos(view, decision) == 0
    assert set(final_orders(view, decision).values()) <= {OrdStatus.Canceled, OrdStatus.Filled}
    assert entities(decision, Position)[-1].net_price is None
