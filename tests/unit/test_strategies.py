"""Multibracket order strategies in the pure core: params checked before anything is made, the entry, brackets
placed at offsets from the entry's fill, OCO pairs, the end of a strategy, break-even and auto-trail stops."""

from typing import Any

import msgspec
import pytest
from builders import (
    Ids,
    entities,
    final_net_pos,
    final_orders,
    latest,
    make_account_state,
    make_book,
    make_quote,
    make_running,
    make_strategy_params,
    make_view,
    make_working,
)

from tradovate_sim.core import orders, strategies
from tradovate_sim.core.liquidation import liquidate_position
from tradovate_sim.core.resets import flat_book
from tradovate_sim.core.view import Book, OrderView, WorkingOrder
from tradovate_sim.model.entities import Order, OrderStrategy, OrderStrategyLink, OrderVersion
from tradovate_sim.model.enums import (
    FailureReason,
    OrderAction,
    OrderStrategyStatus,
    OrderType,
    OrdStatus,
)
from tradovate_sim.model.requests import (
    InterruptOrderStrategy,
    LiquidatePosition,
    MultiBracketParams,
    PlaceOrder,
    StartOrderStrategy,
)

BUY, SELL = OrderAction.Buy, OrderAction.Sell
NOW = make_view().quote.timestamp  # type: ignore[union-attr]


def start_req(params: str, action: OrderAction = BUY, type_id: int = 2) -> StartOrderStrategy:
    return StartOrderStrategy(account_id=1, symbol="ESZ6", order_strategy_type_id=type_id, action=action,
                              params=params)


def started(view: OrderView, params: str, action: OrderAction = BUY) -> Any:
    req = start_req(params, action)
    parsed = strategies.parse(req, 0.25)
    assert isinstance(parsed, MultiBracketParams), parsed
    return strategies.start(view, req, parsed, NOW, Ids())


def by_label(decision: Any) -> dict[str, int]:
    return {link.label: link.order_id for link in entities(decision, OrderStrategyLink)}


def version_of(decision: Any, order_id: int) -> OrderVersion:
    return [v for v in entities(decision, OrderVersion) if v.order_id == order_id][-1]


def status_of(decision: Any, strategy_id: int) -> OrderStrategyStatus:
    return latest(decision, OrderStrategy)[strategy_id].status


# --- params -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "action", "field"), [
    ("not json", BUY, "params"),
    ('{"entryVersion": {"orderQty": "one"}, "brackets": []}', BUY, "params"),
    (make_strategy_params(BUY, target=-2.5), BUY, "profitTarget"),
    (make_strategy_params(BUY, stop=1.25), BUY, "stopLoss"),
    ('{"entryVersion": {"orderQty": 1}, "brackets": [{"qty": 1, "profitTarget": 2.5}]}', SELL, "profitTarget"),
    ('{"entryVersion": {"orderQty": 1}, "brackets": [{"qty": 1, "stopLoss": -1.25}]}', SELL, "stopLoss"),
    (make_strategy_params(BUY, qty=0), BUY, "orderQty"),
    ('{"entryVersion": {"orderQty": 2}, "brackets": [{"qty": 1, "profitTarget": 1.0}]}', BUY, "brackets"),
    ('{"entryVersion": {"orderQty": 1}, "brackets": []}', BUY, "brackets"),
    ('{"entryVersion": {"orderQty": 1}, "brackets": [{"qty": 1}]}', BUY, "brackets[0]"),
    (make_strategy_params(BUY, target=2.3), BUY, "profitTarget"),
    (make_strategy_params(BUY, stop=None, trailingStop=True), BUY, "trailingStop"),
    (make_strategy_params(BUY, stop=None, breakEven=1.0), BUY, "breakEven"),
    (make_strategy_params(BUY, breakEven=1.0, breakEvenPlus=1.0), BUY, "breakEvenPlus"),
])
def test_bad_params_are_refused_with_a_text_naming_the_field_when_parsed(params: str, action: OrderAction,
                                                                          field: str) -> None:
    # Act
    refusal = strategies.parse(start_req(params, action), 0.25)
    # Assert
    assert not isinstance(refusal, MultiBracketParams)
    assert field in refusal.text


def test_a_strategy_type_other_than_multibracket_is_unsupported_when_parsed() -> None:
    # Act
    refusal = strategies.parse(start_req(make_strategy_params(), type_id=3), 0.25)
    # Assert
    assert not isinstance(refusal, MultiBracketParams)
    assert refusal.reason is FailureReason.Unsupported


# --- start ------------------------------------------------------------------------------------------------------


def test_brackets_are_placed_at_offsets_from_the_fill_when_a_market_entry_fills() -> None:
    # Arrange: ask 6789.25
    view = make_view()
    # Act
    decision = started(view, make_strategy_params(BUY, target=2.5, stop=-1.25))
    # Assert
    labels = by_label(decision)
    assert set(labels) == {"entry", "profitTarget1", "stopLoss1"}
    target, stop = version_of(decision, labels["profitTarget1"]), version_of(decision, labels["stopLoss1"])
    assert (target.order_type, target.price) == (OrderType.Limit, 6791.75)
    assert (stop.order_type, stop.stop_price) == (OrderType.Stop, 6788.0)
    legs = latest(decision, Order)
    assert legs[labels["profitTarget1"]].oco_id == legs[labels["stopLoss1"]].oco_id is not None
    assert legs[labels["profitTarget1"]].action is SELL
    assert decision.result.order_strategy.status is OrderStrategyStatus.ActiveStrategy
    assert final_net_pos(view, decision) == 1


def test_a_sells_target_is_below_and_its_stop_above_the_fill_when_a_sell_entry_fills() -> None:
    # Arrange: bid 6789.00
    view = make_view()
    # Act
    decision = started(view, make_strategy_params(SELL, target=2.5, stop=-1.25), SELL)
    # Assert
    labels = by_label(decision)
    assert version_of(decision, labels["profitTarget1"]).price == 6786.5
    assert version_of(decision, labels["stopLoss1"]).stop_price == 6790.25


def test_only_the_entry_works_when_a_limit_entry_does_not_cross() -> None:
    # Arrange
    params = msgspec.json.encode({"entryVersion": {"orderQty": 1, "orderType": "Limit", "price": 6780.0},
                                  "brackets": [{"qty": 1, "profitTarget": 2.0, "stopLoss": -1.0}]}).decode()
    # Act
    decision = started(make_view(), params)
    # Assert
    assert set(by_label(decision)) == {"entry"}
    assert decision.result.order_strategy.status is OrderStrategyStatus.ActiveStrategy


def test_the_strategy_fails_with_its_rejected_entry_when_risk_refuses_it() -> None:
    # Arrange: liquidation-only
    account = make_account_state(liquidate_only=NOW)
    # Act
    decision = started(make_view(account=account), make_strategy_params())
    # Assert
    assert decision.result.failure_reason is FailureReason.LiquidationOnly
    assert decision.result.order_strategy.status is OrderStrategyStatus.ExecutionFailed
    assert [o.ord_status for o in entities(decision, Order)] == [OrdStatus.Rejected]


# --- a running strategy -----------------------------------------------------------------------------------------

ENTRY_ID, TARGET_ID, STOP_ID = 20, 21, 22


def bracketed_view(quote_bid: int, quote_ask: int, *, params: str | None = None, action: OrderAction = BUY,
                   extra: tuple[WorkingOrder, ...] = ()) -> OrderView:
    """Long (or short) 1 from 6789.25, target at 6791.75 and stop at 6788.00 (mirrored for a Sell) working."""
    sign = 1 if action is BUY else -1
    exit_action = SELL if action is BUY else BUY
    target = make_working(TARGET_ID, exit_action, order_type=OrderType.Limit, price=6789.25 + 2.5 * sign,
                          oco_id=STOP_ID, parent_id=ENTRY_ID)
    stop = make_working(STOP_ID, exit_action, order_type=OrderType.Stop, stop_price=6789.25 - 1.25 * sign,
                        oco_id=STOP_ID, parent_id=ENTRY_ID)
    running = make_running(7, params or make_strategy_params(action), {"entry": ENTRY_ID, "profitTarget1": TARGET_ID,
                                                                     "stopLoss1": STOP_ID},
                           action=action, entry_qty=1, entry_price=6789.25)
    book = make_book(sign, price_ticks=27_157)
    book = Book(position=book.position, open_fills=book.open_fills, working=(target, stop, *extra),
                strategies=(running,))
    return make_view(book=book, quote=make_quote(quote_bid, quote_ask))


def test_the_target_fills_its_stop_is_cancelled_and_the_strategy_finishes_when_the_market_reaches_it() -> None:
    # Arrange: bid at the target
    view = bracketed_view(27_167, 27_168)
    # Act
    decision = orders.match(view, NOW, Ids())
    # Assert
    statuses = final_orders(view, decision)
    assert (statuses[TARGET_ID], statuses[STOP_ID]) == (OrdStatus.Filled, OrdStatus.Canceled)
    assert status_of(decision, 7) is OrderStrategyStatus.ExecutionFinished
    assert final_net_pos(view, decision) == 0


def test_the_stop_fills_its_target_is_cancelled_and_the_strategy_finishes_when_the_market_falls() -> None:
    # Arrange: bid below the stop
    view = bracketed_view(27_150, 27_151)
    # Act
    decision = orders.match(view, NOW, Ids())
    # Assert
    statuses = final_orders(view, decision)
    assert (statuses[TARGET_ID], statuses[STOP_ID]) == (OrdStatus.Canceled, OrdStatus.Filled)
    assert status_of(decision, 7) is OrderStrategyStatus.ExecutionFinished
    assert final_net_pos(view, decision) == 0


def test_brackets_are_placed_when_a_working_limit_entry_fills_on_a_later_quote() -> None:
    # Arrange
    params = msgspec.json.encode({"entryVersion": {"orderQty": 2, "orderType": "Limit", "price": 6789.0},
                                  "brackets": [{"qty": 1, "profitTarget": 1.0, "stopLoss": -1.0},
                                               {"qty": 1, "profitTarget": 2.0, "stopLoss": -1.0}]}).decode()
    entry = make_working(ENTRY_ID, BUY, 2, order_type=OrderType.Limit, price=6789.0)
    running = make_running(7, params, {"entry": ENTRY_ID})
    view = make_view(book=Book(working=(entry,), strategies=(running,)), quote=make_quote(27_155, 27_156))
    # Act
    decision = orders.match(view, NOW, Ids())
    # Assert
    labels = by_label(decision)
    assert set(labels) == {"profitTarget1", "stopLoss1", "profitTarget2", "stopLoss2"}
    assert version_of(decision, labels["profitTarget2"]).price == 6791.0
    assert sum(version_of(decision, labels[f"stopLoss{i}"]).order_qty for i in (1, 2)) == 2
    assert OrderStrategy not in {type(e.entity) for e in decision.changes}  # still active: no update


def test_the_strategy_ends_and_its_orders_are_cancelled_when_the_account_is_flattened_otherwise() -> None:
    # Arrange: the user sells 1 at market on the account
    view = bracketed_view(27_156, 27_157)
    req = PlaceOrder(account_id=1, symbol="ESZ6", action=SELL, order_qty=1, order_type=OrderType.Market)
    # Act
    decision = orders.place(view, req, NOW, Ids())
    # Assert
    statuses = final_orders(view, decision)
    assert statuses[TARGET_ID] is statuses[STOP_ID] is OrdStatus.Canceled
    assert status_of(decision, 7) is OrderStrategyStatus.ExecutionFinished
    assert final_net_pos(view, decision) == 0


def test_a_liquidation_cancels_the_strategys_orders_ends_it_and_sends_one_closing_order() -> None:
    # Arrange
    view = bracketed_view(27_156, 27_157)
    # Act
    decision = liquidate_position(view, LiquidatePosition(account_id=1, contract_id=4, admin=False), NOW, Ids())
    # Assert
    statuses = final_orders(view, decision)
    assert statuses[TARGET_ID] is statuses[STOP_ID] is OrdStatus.Canceled
    assert status_of(decision, 7) is OrderStrategyStatus.ExecutionInterrupted
    created = [o for o in entities(decision, Order) if o.id not in (TARGET_ID, STOP_ID)]
    assert len({o.id for o in created}) == 1
    assert final_net_pos(view, decision) == 0


def test_interrupting_cancels_the_working_orders_and_keeps_the_position() -> None:
    # Arrange
    view = bracketed_view(27_156, 27_157)
    # Act
    decision = strategies.interrupt(view, InterruptOrderStrategy(order_strategy_id=7), NOW, Ids())
    # Assert
    statuses = final_orders(view, decision)
    assert statuses[TARGET_ID] is statuses[STOP_ID] is OrdStatus.Canceled
    assert decision.result.order_strategy.status is OrderStrategyStatus.ExecutionInterrupted
    assert final_net_pos(view, decision) == 1


def test_interrupting_a_strategy_that_is_not_running_is_too_late() -> None:
    # Act
    decision = strategies.interrupt(make_view(), InterruptOrderStrategy(order_strategy_id=7), NOW, Ids())
    # Assert
    assert decision.result.failure_reason is FailureReason.TooLate
    assert decision.changes == ()


# --- break-even and auto-trail ------------------------------------------------------------------------------------


def test_the_stop_moves_to_the_entry_when_the_profit_reaches_break_even() -> None:
    # Arrange: breakEven 1.0; bid 6790.25 = entry + 1.0
    view = bracketed_view(27_161, 27_162, params=make_strategy_params(BUY, breakEven=1.0))
    # Act
    decision = orders.match(view, NOW, Ids())
    # Assert
    assert version_of(decision, STOP_ID).stop_price == 6789.25
    assert OrderStrategy not in {type(e.entity) for e in decision.changes}


def test_the_stop_stays_when_the_profit_is_a_tick_short_of_break_even() -> None:
    # Arrange
    view = bracketed_view(27_160, 27_161, params=make_strategy_params(BUY, breakEven=1.0))
    # Act
    decision = orders.match(view, NOW, Ids())
    # Assert
    assert decision.changes == ()


def test_the_stop_trails_behind_the_market_when_auto_trail_has_triggered_for_a_sell() -> None:
    # Arrange: short from 6789.25, stop 6790.50; ask 6788.00 = 1.25 of profit; trail 0.75 behind after 1.0
    params = make_strategy_params(SELL, autoTrail={"stopLoss": 0.75, "trigger": 1.0, "freq": 0.25})
    view = bracketed_view(27_151, 27_152, params=params, action=SELL)
    # Act
    decision = orders.match(view, NOW, Ids())
    # Assert
    assert version_of(decision, STOP_ID).stop_price == 6788.75


def test_an_account_reset_ends_the_strategy_and_cancels_its_orders() -> None:
    # Arrange
    view = bracketed_view(27_156, 27_157)
    # Act
    changes = flat_book(view, NOW, Ids(), view.trade_date)
    # Assert
    strategies_ = [c.entity for c in changes if isinstance(c.entity, OrderStrategy)]
    assert [s.status for s in strategies_] == [OrderStrategyStatus.ExecutionInterrupted]
    cancelled = {c.entity.id for c in changes
                 if isinstance(c.entity, Order) and c.entity.ord_status is OrdStatus.Canceled}
    assert cancelled == {TARGET_ID, STOP_ID}


def test_a_trailing_bracket_stop_is_a_trailing_stop_pegged_at_the_stop_loss_offset() -> None:
    # Arrange: ask 6789.25; stopLoss -1.25 trails 1.25 below the bid
    view = make_view()
    # Act
    decision = started(view, make_strategy_params(BUY, target=2.5, stop=-1.25, trailingStop=True))
    # Assert
    stop = version_of(decision, by_label(decision)["stopLoss1"])
    assert (stop.order_type, stop.stop_price, stop.peg_difference) == (OrderType.TrailingStop, 6788.0, -1.25)


def test_a_trailing_bracket_stop_follows_the_bid_up_when_the_market_rises() -> None:
    # Arrange: long from 6789.25, trailing stop at 6788.00 pegged 1.25 below the bid
    running_params = make_strategy_params(BUY, trailingStop=True)
    view = bracketed_view(27_156, 27_157, params=running_params)
    stop = make_working(STOP_ID, SELL, order_type=OrderType.TrailingStop, stop_price=6788.0, oco_id=STOP_ID,
                        parent_id=ENTRY_ID)
    stop = msgspec.structs.replace(stop, version=msgspec.structs.replace(stop.version, peg_difference=-1.25))
    book = msgspec.structs.replace(view.book, working=(view.book.working[0], stop))
    view = msgspec.structs.replace(view, book=book, quote=make_quote(27_160, 27_161))  # bid 6790.00
    # Act
    decision = orders.match(view, NOW, Ids())
    # Assert
    assert version_of(decision, STOP_ID).stop_price == 6788.75
