"""Trailing stops, market- and limit-if-touched orders, and expiry by time in force, in the pure core."""

from typing import Any

from builders import (
    NOW,
    Ids,
    entities,
    fills_of,
    final_orders,
    make_book,
    make_quote,
    make_view,
    make_working,
)

from tradovate_sim.core import orders
from tradovate_sim.core.decision import Decision
from tradovate_sim.core.view import Book, OrderView, Quote, WorkingOrder
from tradovate_sim.model.entities import ExecutionReport, Order, OrderVersion
from tradovate_sim.model.enums import (
    EventType,
    ExecType,
    FailureReason,
    OrderAction,
    OrderType,
    OrdStatus,
)
from tradovate_sim.model.ids import OrderId
from tradovate_sim.model.requests import ModifyOrder, PlaceOrder, PlaceOSO, RestrainedOrderVersion

BUY, SELL = OrderAction.Buy, OrderAction.Sell


def order_req(action: OrderAction, order_type: OrderType, qty: int = 1, **fields: Any) -> PlaceOrder:
    return PlaceOrder(action=action, symbol="ESZ6", order_qty=qty, order_type=order_type, account_id=1, **fields)


def versions(decision: Decision[object]) -> list[OrderVersion]:
    return entities(decision, OrderVersion, EventType.Created)


def then(view: OrderView, decision: Decision[object], quote: Quote) -> OrderView:
    """The next view: the decision's orders and versions folded into the book, under a new quote."""
    working = {w.order.id: w for w in view.book.working}
    for change in decision.changes:
        entity = change.entity
        if isinstance(entity, Order):
            if entity.ord_status in (OrdStatus.Working, OrdStatus.Suspended):
                known = working.get(entity.id)
                working[entity.id] = WorkingOrder(order=entity, version=known.version, command_id=known.command_id) \
                    if known else make_working(entity.id, entity.action, status=entity.ord_status)
            else:
                working.pop(entity.id, None)
    for change in decision.changes:
        entity = change.entity
        if isinstance(entity, OrderVersion) and entity.order_id in working:
            known = working[entity.order_id]
            working[entity.order_id] = WorkingOrder(order=known.order, version=entity, command_id=known.command_id)
    return make_view(book=Book(position=view.book.position, open_fills=view.book.open_fills,
                               working=tuple(working.values())), quote=quote)


# --- trailing stops -------------------------------------------------------------------------------


def test_a_sell_trailing_stop_starts_peg_difference_below_the_bid_when_placed_without_a_stop() -> None:
    view = make_view(quote=make_quote(27_156, 27_157))  # 6789.00 / 6789.25

    decision = orders.place(view, order_req(SELL, OrderType.TrailingStop, peg_difference=-2.0), NOW, Ids())

    assert decision.result.failure_reason is None
    assert [v.stop_price for v in versions(decision)] == [6787.0]
    assert versions(decision)[0].peg_difference == -2.0
    assert final_orders(view, decision) == {1000: OrdStatus.Working}


def test_a_sell_trailing_stop_follows_the_highest_bid_never_moves_back_and_fills_when_the_bid_falls_to_it() -> None:
    # Arrange: working at 6787.00, 2 points below the bid
    view = make_view(quote=make_quote(27_156, 27_157))
    placed = orders.place(view, order_req(SELL, OrderType.TrailingStop, peg_difference=-2.0), NOW, Ids())
    ids = Ids(start=2000)

    # Act: the bid rises 4 ticks, falls 2, then falls to the trailed stop
    up = then(view, placed, make_quote(27_160, 27_161))
    rose = orders.match(up, NOW, ids)
    down = then(up, rose, make_quote(27_158, 27_159))
    fell = orders.match(down, NOW, ids)
    hit = then(down, fell, make_quote(27_152, 27_153))
    triggered = orders.match(hit, NOW, ids)

    # Assert
    assert [v.stop_price for v in versions(rose)] == [6788.0]  # 6790.00 - 2
    assert versions(fell) == [] and fell.changes == ()
    assert fills_of(triggered) == [(1, 6788.0)]  # a market order at the bid
    assert final_orders(hit, triggered) == {1000: OrdStatus.Filled}


def test_a_buy_trailing_stop_follows_the_lowest_offer_down() -> None:
    view = make_view(quote=make_quote(27_156, 27_157))
    placed = orders.place(view, order_req(BUY, OrderType.TrailingStop, peg_difference=1.0, stop_price=6791.0),
                          NOW, Ids())

    lower = then(view, placed, make_quote(27_150, 27_151))  # offer 6787.75
    moved = orders.match(lower, NOW, Ids(start=2000))

    assert [v.stop_price for v in versions(placed)] == [6790.25]  # tighter than the 6791.00 given: 6789.25 + 1
    assert [v.stop_price for v in versions(moved)] == [6788.75]
    assert versions(moved)[0].order_type is OrderType.TrailingStop


def test_a_trailing_stop_limit_moves_its_limit_with_its_stop_and_rests_as_that_limit_once_triggered() -> None:
    # Arrange: stop 6787.00, limit 6786.50 (half a point below)
    view = make_view(quote=make_quote(27_156, 27_157))
    placed = orders.place(view, order_req(SELL, OrderType.TrailingStopLimit, peg_difference=-2.0,
                                          stop_price=6787.0, price=6786.5), NOW, Ids())
    ids = Ids(start=2000)
    up = then(view, placed, make_quote(27_164, 27_165))  # bid 6791.00
    rose = orders.match(up, NOW, ids)

    # Act: the bid gaps below the limit: triggered, the limit rests
    gap = then(up, rose, make_quote(27_140, 27_141))
    triggered = orders.match(gap, NOW, ids)

    # Assert
    assert [(v.stop_price, v.price) for v in versions(rose)] == [(6789.0, 6788.5)]
    assert fills_of(triggered) == []
    assert [(v.order_type, v.price, v.stop_price) for v in versions(triggered)] == [(OrderType.Limit, 6788.5, None)]
    assert final_orders(gap, triggered) == {1000: OrdStatus.Working}


def test_a_triggered_trailing_stop_limit_stays_a_limit_when_the_market_comes_back() -> None:
    # Arrange: triggered at 6787.00 with its limit at 6786.50 left resting, the market back above the stop
    view = make_view(quote=make_quote(27_156, 27_157))
    placed = orders.place(view, order_req(SELL, OrderType.TrailingStopLimit, peg_difference=-2.0,
                                          stop_price=6787.0, price=6786.5), NOW, Ids())
    ids = Ids(start=2000)
    gap = then(view, placed, make_quote(27_140, 27_141))
    triggered = orders.match(gap, NOW, ids)

    # Act: the bid comes back to 6790.00, above the old stop and the limit
    back = then(gap, triggered, make_quote(27_160, 27_161))
    decision = orders.match(back, NOW, ids)

    # Assert: no trailing any more; the resting sell limit fills at its price
    assert versions(decision) == []
    assert fills_of(decision) == [(1, 6786.5)]


def test_a_trailing_stop_bracket_leg_starts_trailing_when_its_entry_fills() -> None:
    view = make_view(quote=make_quote(27_156, 27_157))
    req = PlaceOSO(action=BUY, symbol="ESZ6", order_qty=1, order_type=OrderType.Market, account_id=1,
                   bracket1=RestrainedOrderVersion(action=SELL, order_type=OrderType.TrailingStop,
                                                   peg_difference=-1.0))

    decision = orders.place_oso(view, req, NOW, Ids())

    assert fills_of(decision) == [(1, 6789.25)]
    leg = decision.result.oso1_id
    assert [v.stop_price for v in versions(decision) if v.order_id == leg] == [None, 6788.0]  # bid 6789 - 1
    assert final_orders(view, decision)[leg] is OrdStatus.Working


def test_only_the_quantity_of_a_trailing_stop_can_be_modified() -> None:
    working = make_working(10, SELL, order_type=OrderType.TrailingStop, stop_price=6787.0, peg_difference=-2.0)
    view = make_view(book=make_book(working=(working,)))

    moved = orders.modify(view, ModifyOrder(order_id=10, order_qty=1, order_type=OrderType.TrailingStop,
                                            peg_difference=-1.0), NOW, Ids())
    resized = orders.modify(view, ModifyOrder(order_id=10, order_qty=3, order_type=OrderType.TrailingStop,
                                              stop_price=6700.0), NOW, Ids())

    assert moved.result.failure_reason is FailureReason.TrailingStopNonOrderQtyModify
    assert moved.changes == ()
    assert resized.result.failure_reason is None
    assert [(v.order_qty, v.stop_price, v.peg_difference) for v in versions(resized)] == [(3, 6787.0, -2.0)]


# --- market / limit if touched ------------------------------------------------------------------------


def test_a_buy_mit_rests_above_the_market_and_fills_at_the_offer_once_the_market_trades_down_to_it() -> None:
    view = make_view(quote=make_quote(27_156, 27_157))
    placed = orders.place(view, order_req(BUY, OrderType.MIT, limit_if_touched_price=6788.0), NOW, Ids())

    touched = then(view, placed, make_quote(27_150, 27_152))  # offer 6788.00
    decision = orders.match(touched, NOW, Ids(start=2000))

    assert fills_of(placed) == []
    assert [v.limit_if_touched_price for v in versions(placed)] == [6788.0]
    assert fills_of(decision) == [(1, 6788.0)]


def test_a_sell_mit_given_its_trigger_in_stop_price_fills_when_the_bid_reaches_it() -> None:
    view = make_view(quote=make_quote(27_156, 27_157))
    placed = orders.place(view, order_req(SELL, OrderType.MIT, stop_price=6790.0), NOW, Ids())

    touched = then(view, placed, make_quote(27_161, 27_162))  # bid 6790.25
    decision = orders.match(touched, NOW, Ids(start=2000))

    assert [(v.limit_if_touched_price, v.stop_price) for v in versions(placed)] == [(6790.0, None)]
    assert fills_of(decision) == [(1, 6790.25)]


def test_a_limit_if_touched_becomes_its_limit_when_touched() -> None:
    view = make_view(quote=make_quote(27_156, 27_157))
    placed = orders.place(view, order_req(BUY, OrderType.LimitIfTouched, limit_if_touched_price=6788.0,
                                          price=6787.5), NOW, Ids())

    touched = then(view, placed, make_quote(27_151, 27_152))  # offer 6788.00: touched, limit 6787.50 not reached
    decision = orders.match(touched, NOW, Ids(start=2000))

    assert fills_of(decision) == []
    assert final_orders(touched, decision) == {1000: OrdStatus.Working}


def test_a_triggered_stop_limit_stays_a_limit_when_the_market_falls_back_below_its_stop() -> None:
    # Arrange: a Buy stop 6789.00, limit 6788.00 (below the stop)
    view = make_view(quote=make_quote(27_150, 27_151))  # 6787.50 / 6787.75
    placed = orders.place(view, order_req(BUY, OrderType.StopLimit, stop_price=6789.0, price=6788.0), NOW, Ids())
    triggered = then(view, placed, make_quote(27_156, 27_157))  # offer 6789.25: triggered, limit not reached
    at_trigger = orders.match(triggered, NOW, Ids(start=2000))
    # Act: the offer falls back to the limit, below the stop
    back = then(triggered, at_trigger, make_quote(27_151, 27_152))  # offer 6788.00
    decision = orders.match(back, NOW, Ids(start=3000))
    # Assert: the trigger is remembered (a new version works as a limit), and the limit fills
    assert fills_of(at_trigger) == []
    assert [(v.order_type, v.price, v.stop_price) for v in versions(at_trigger)] == [(OrderType.Limit, 6788.0, None)]
    assert fills_of(decision) == [(1, 6788.0)]


# --- expiry ---------------------------------------------------------------------------------------


def test_an_expired_order_leaves_the_book_with_an_expired_execution_report() -> None:
    view = make_view(book=make_book(working=(make_working(10), make_working(11))))

    decision = orders.expire(view, {OrderId(10): "Day order expired at the session close"}, NOW, Ids())

    assert final_orders(view, decision) == {10: OrdStatus.Expired, 11: OrdStatus.Working}
    [report] = entities(decision, ExecutionReport)
    assert (report.exec_type, report.ord_status, report.order_id) == (ExecType.Expired, OrdStatus.Expired, 10)
    assert report.text == "Day order expired at the session close"


def test_the_held_bracket_legs_of_an_expired_entry_expire_with_it() -> None:
    entry = make_working(10)
    legs = (make_working(11, SELL, status=OrdStatus.Suspended, parent_id=10, oco_id=12),
            make_working(12, SELL, order_type=OrderType.Stop, status=OrdStatus.Suspended, parent_id=10, oco_id=12))
    view = make_view(book=make_book(working=(entry, *legs)))

    decision = orders.expire(view, {OrderId(10): "GTD order expired"}, NOW, Ids())

    assert final_orders(view, decision) == {10: OrdStatus.Expired, 11: OrdStatus.Expired, 12: OrdStatus.Expired}
    assert [r.text for r in entities(decision, ExecutionReport)][1:] == ["Parent order expired"] * 2


def test_the_bracket_legs_of_a_partly_filled_entry_are_sent_for_the_filled_quantity_when_it_expires() -> None:
    entry = make_working(10, qty=3, cum_qty=2)
    leg = make_working(11, SELL, qty=3, status=OrdStatus.Suspended, parent_id=10)
    view = make_view(book=make_book(net_pos=2, working=(entry, leg)))

    decision = orders.expire(view, {OrderId(10): "Day order expired at the session close"}, NOW, Ids())

    assert final_orders(view, decision) == {10: OrdStatus.Expired, 11: OrdStatus.Working}
    assert [v.order_qty for v in versions(decision)] == [2]


def test_a_due_order_that_is_no_longer_working_is_left_alone() -> None:
    view = make_view(book=make_book(working=(make_working(10),)))

    decision = orders.expire(view, {OrderId(99): "gone"}, NOW, Ids())

    assert decision.changes == ()
