"""Order strategies: start, interrupt and modify a multibracket strategy (`orderStrategy/...`).

`parse` checks a strategy's `params` completely before anything is created: a bad one answers an `errorText` and
writes nothing. `start` sends the entry through the normal order path (pre-trade risk, matching) and lets
`multibracket.follow` carry the strategy on from there; what happens to it afterwards is `multibracket`'s.
"""

from datetime import datetime

import msgspec

from tradovate_sim.core import multibracket, orders, risk
from tradovate_sim.core.blotter import Blotter, Ids
from tradovate_sim.core.decision import Decision, created
from tradovate_sim.core.ticks import to_ticks
from tradovate_sim.core.view import OrderView, RunningStrategy
from tradovate_sim.model.entities import OrderStrategy, OrderStrategyLink
from tradovate_sim.model.enums import FailureReason, OrderAction, OrderStrategyStatus
from tradovate_sim.model.ids import OrderId, OrderStrategyId
from tradovate_sim.model.requests import (
    Bracket,
    InterruptOrderStrategy,
    ModifyOrderStrategy,
    MultiBracketParams,
    PlaceOrder,
    StartOrderStrategy,
)
from tradovate_sim.model.results import OrderStrategyStatusResponse

MULTIBRACKET = 2  # the only orderStrategyType: id 2, "multibracket"
ENTRY_TYPES = orders.SUPPORTED

_PARAMS = msgspec.json.Decoder(MultiBracketParams)


def refused(reason: FailureReason, text: str, strategy: OrderStrategy | None = None) -> OrderStrategyStatusResponse:
    return OrderStrategyStatusResponse(failure_reason=reason, error_text=text, order_strategy=strategy)


def parse(req: StartOrderStrategy, tick_size: float) -> MultiBracketParams | risk.Refusal:
    """The strategy's params, or why they cannot run: not JSON, wrong types, a target or stop on the wrong side of
    the entry, quantities that are not positive or do not add up to the entry's, offsets off the tick grid."""
    if req.order_strategy_type_id != MULTIBRACKET:
        return risk.Refusal(FailureReason.Unsupported, f"orderStrategyTypeId {req.order_strategy_type_id}: only 2 "
                                                       "(multibracket) is supported")
    if not req.params:
        return risk.Refusal(FailureReason.UnknownReason, "params: required (a JSON string with entryVersion and "
                                                         "brackets)")
    try:
        params = _PARAMS.decode(req.params)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        return risk.Refusal(FailureReason.UnknownReason, f"params: {error}")
    entry = params.entry_version
    if entry.order_qty <= 0:
        return risk.Refusal(FailureReason.UnknownReason, "params.entryVersion.orderQty: must be positive")
    if entry.order_type not in ENTRY_TYPES:
        return risk.Refusal(FailureReason.Unsupported, f"params.entryVersion.orderType: {entry.order_type} entries "
                                                       "are not supported by this server")
    if not params.brackets:
        return risk.Refusal(FailureReason.UnknownReason, "params.brackets: at least one bracket is required")
    for index, bracket in enumerate(params.brackets):
        refusal = _check_bracket(f"params.brackets[{index}]", bracket, req.action, tick_size)
        if refusal:
            return refusal
    total = sum(b.qty for b in params.brackets)
    if total != entry.order_qty:
        return risk.Refusal(FailureReason.UnknownReason, f"params.brackets: quantities add up to {total}, "
                                                         f"entryVersion.orderQty is {entry.order_qty}")
    return params


def _check_bracket(where: str, bracket: Bracket, action: OrderAction, tick_size: float) -> risk.Refusal | None:
    if bracket.qty <= 0:
        return risk.Refusal(FailureReason.UnknownReason, f"{where}.qty: must be positive")
    if bracket.trailing_stop and bracket.stop_loss is None:
        return risk.Refusal(FailureReason.UnknownReason, f"{where}.trailingStop: the stopLoss to trail is missing")
    if bracket.profit_target is None and bracket.stop_loss is None:
        return risk.Refusal(FailureReason.UnknownReason, f"{where}: needs a profitTarget or a stopLoss")
    up = 1 if action is OrderAction.Buy else -1  # the direction of profit
    side = "positive" if action is OrderAction.Buy else "negative"
    other = "negative" if action is OrderAction.Buy else "positive"
    if bracket.profit_target is not None and bracket.profit_target * up <= 0:
        return risk.Refusal(FailureReason.InvalidPrice, f"{where}.profitTarget: must be {side} for a {action} "
                                                        f"entry (an offset from the entry price)")
    if bracket.stop_loss is not None and bracket.stop_loss * up >= 0:
        return risk.Refusal(FailureReason.InvalidPrice, f"{where}.stopLoss: must be {other} for a {action} entry "
                                                        f"(an offset from the entry price)")
    if (bracket.break_even is not None or bracket.auto_trail is not None) and bracket.stop_loss is None:
        return risk.Refusal(FailureReason.UnknownReason, f"{where}: breakEven and autoTrail move the stopLoss, "
                                                         "which is missing")
    offsets = {"profitTarget": bracket.profit_target, "stopLoss": bracket.stop_loss,
               "breakEven": bracket.break_even, "breakEvenPlus": bracket.break_even_plus}
    if bracket.auto_trail is not None:
        offsets |= {"autoTrail.stopLoss": bracket.auto_trail.stop_loss, "autoTrail.trigger": bracket.auto_trail.trigger,
                    "autoTrail.freq": bracket.auto_trail.freq}
        if bracket.auto_trail.stop_loss == 0:
            return risk.Refusal(FailureReason.UnknownReason, f"{where}.autoTrail.stopLoss: must not be 0")
    for name, value in offsets.items():
        if value is not None and (abs(value) > 1e9 or to_ticks(value, tick_size) is None):
            return risk.Refusal(FailureReason.InvalidPrice, f"{where}.{name}: {value} is not a whole number of "
                                                            f"ticks of {tick_size}")
    if bracket.break_even is not None and bracket.break_even == 0:
        return risk.Refusal(FailureReason.UnknownReason, f"{where}.breakEven: must not be 0")
    if bracket.break_even is not None and abs(bracket.break_even_plus or 0.0) >= abs(bracket.break_even):
        return risk.Refusal(FailureReason.InvalidPrice, f"{where}.breakEvenPlus: must be less than breakEven (the "
                                                        "stop would be moved beyond the market)")
    return None


def start(view: OrderView, req: StartOrderStrategy, params: MultiBracketParams, now: datetime,
          ids: Ids) -> Decision[OrderStrategyStatusResponse]:
    """Create the strategy and send its entry; brackets follow when the entry is done (see `multibracket`)."""
    refusal = orders.can_act(view)
    if refusal:
        return Decision(result=refused(refusal.reason, refusal.text))
    entry = params.entry_version
    order = PlaceOrder(action=req.action, symbol=view.instrument.contract.name, order_qty=entry.order_qty,
                       order_type=entry.order_type, price=entry.price, stop_price=entry.stop_price,
                       limit_if_touched_price=entry.limit_if_touched_price, peg_difference=entry.peg_difference,
                       time_in_force=entry.time_in_force, expire_time=entry.expire_time, text=entry.text,
                       custom_tag50=req.custom_tag50, is_automated=req.is_automated)
    ticket = orders.to_ticket(order, req.action, entry.order_qty, view.instrument.product.tick_size, now)
    if isinstance(ticket, risk.Refusal):
        return Decision(result=refused(ticket.reason, f"params.entryVersion: {ticket.text}"))
    blotter = Blotter(view, now, ids)
    strategy = OrderStrategy(
        id=OrderStrategyId(ids.next("orderStrategy")), account_id=blotter.account_id, timestamp=now,
        contract_id=blotter.contract_id, order_strategy_type_id=MULTIBRACKET, action=req.action,
        status=OrderStrategyStatus.ActiveStrategy, initiator_id=view.caller.user_id or None, params=req.params,
        uuid=req.uuid, sender_id=view.caller.user_id or None, custom_tag50=req.custom_tag50,
        user_session_id=view.caller.session_id,
    )
    refusal = orders.admit(view, blotter, ticket)
    if refusal:
        order_id = blotter.reject_order(ticket, refusal.reason, refusal.text)
        failed = msgspec.structs.replace(strategy, status=OrderStrategyStatus.ExecutionFailed,
                                         failure_message=refusal.text)
        blotter.emit(created(failed))
        blotter.emit(created(_link(ids, failed, order_id)))
        return Decision(result=refused(refusal.reason, refusal.text, failed), changes=tuple(blotter.changes))
    blotter.emit(created(strategy))
    working = blotter.open_order(ticket)
    link = _link(ids, strategy, working.order.id)
    blotter.emit(created(link))
    blotter.match(arriving=frozenset({working.order.id}))
    running = RunningStrategy(strategy=strategy, links=(link,))
    latest = multibracket.follow(blotter, started=(running,))
    return Decision(result=OrderStrategyStatusResponse(order_strategy=latest[strategy.id]),
                    changes=tuple(blotter.changes))


def _link(ids: Ids, strategy: OrderStrategy, order_id: OrderId) -> OrderStrategyLink:
    return OrderStrategyLink(id=ids.next("orderStrategyLink"), order_strategy_id=strategy.id, order_id=order_id,
                             label=multibracket.ENTRY)


def interrupt(view: OrderView, req: InterruptOrderStrategy, now: datetime,
              ids: Ids) -> Decision[OrderStrategyStatusResponse]:
    """Stop a running strategy: its working orders are cancelled, its position (if any) stays."""
    refusal = orders.can_act(view)
    if refusal:
        return Decision(result=refused(refusal.reason, refusal.text))
    running = next((r for r in view.book.strategies if r.strategy.id == req.order_strategy_id), None)
    if running is None:
        return Decision(result=refused(FailureReason.TooLate, f"Order strategy {req.order_strategy_id} is not "
                                                              "running"))
    blotter = Blotter(view, now, ids)
    strategy = multibracket.end(blotter, running, OrderStrategyStatus.ExecutionInterrupted, "Interrupted by user")
    return Decision(result=OrderStrategyStatusResponse(order_strategy=strategy), changes=tuple(blotter.changes))


def modify(view: OrderView, req: ModifyOrderStrategy) -> Decision[OrderStrategyStatusResponse]:
    """Tradovate does not document the `command` grammar: no command is understood, nothing changes."""
    running = next((r for r in view.book.strategies if r.strategy.id == req.order_strategy_id), None)
    strategy = running.strategy if running else None
    if running is None:
        return Decision(result=refused(FailureReason.TooLate, f"Order strategy {req.order_strategy_id} is not "
                                                              "running"))
    return Decision(result=refused(FailureReason.Unsupported, f"command {req.command[:64]!r}: modifyOrderStrategy "
                                                              "commands are not supported by this server; interrupt "
                                                              "the strategy and start a new one", strategy))
