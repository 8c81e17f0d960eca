"""The order lifecycle: the transition table itself, and a property test that the core only ever emits legal moves.

The property test drives random sequences of commands through the core (orders of every supported type, OCO and
OSO brackets, multibracket strategies and their interruption, modifies, cancels, quotes that fill or trigger,
session closes, liquidations), folds each decision
into the next decision's view as the service does, and checks every `order` change and every execution report's
`ordStatus` against the table.
"""

from dataclasses import dataclass, field

import msgspec
import pytest
from builders import NOW, Ids, make_account_state, make_quote, make_view, make_working
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core import liquidation, multibracket, orders, strategies
from tradovate_sim.core.decision import Decision
from tradovate_sim.core.lifecycle import TERMINAL, TRANSITIONS, Cause, IllegalTransition, next_status
from tradovate_sim.core.ticks import to_price
from tradovate_sim.core.view import Book, OrderView, RunningStrategy, WorkingOrder
from tradovate_sim.model.entities import (
    AutoLiqTransaction,
    CashBalance,
    Command,
    ExecutionReport,
    Fill,
    Order,
    OrderStrategy,
    OrderStrategyLink,
    OrderVersion,
    Position,
)
from tradovate_sim.model.enums import (
    CommandType,
    EventType,
    ExecType,
    OrderAction,
    OrderStrategyStatus,
    OrderType,
    OrdStatus,
    TimeInForce,
)
from tradovate_sim.model.ids import CommandId, OrderId
from tradovate_sim.model.requests import (
    CancelOrder,
    InterruptOrderStrategy,
    LiquidatePosition,
    ModifyOrder,
    MultiBracketParams,
    PlaceOCO,
    PlaceOrder,
    PlaceOSO,
    RestrainedOrderVersion,
    StartOrderStrategy,
)

BUY, SELL = OrderAction.Buy, OrderAction.Sell
MID = 27_156  # ticks of 0.25
TICK = 0.25

# --- the table --------------------------------------------------------------------------------------


def test_terminal_statuses_are_never_left() -> None:
    for status in TERMINAL:
        for cause in Cause:
            with pytest.raises(IllegalTransition):
                next_status(status, cause)


def test_done_orders_are_the_terminal_statuses_of_the_table() -> None:
    assert {OrdStatus.Filled, OrdStatus.Canceled, OrdStatus.Rejected, OrdStatus.Expired, OrdStatus.Completed} == \
        TERMINAL


def test_expiry_is_declared_for_working_orders_and_suspended_bracket_legs() -> None:
    assert next_status(OrdStatus.Working, Cause.Expired) is OrdStatus.Expired
    assert next_status(OrdStatus.Suspended, Cause.Expired) is OrdStatus.Expired


def test_a_suspended_leg_is_released_only_to_working_and_never_fills_while_held() -> None:
    assert next_status(OrdStatus.Suspended, Cause.Released) is OrdStatus.Working
    with pytest.raises(IllegalTransition):
        next_status(OrdStatus.Suspended, Cause.Filled)


def test_every_status_in_the_table_is_reachable_from_a_new_order_except_completed() -> None:
    reached: set[OrdStatus] = set()
    frontier: list[OrdStatus | None] = [None]
    while frontier:
        for following in TRANSITIONS[frontier.pop()].values():
            if following not in reached:
                reached.add(following)
                frontier.append(following)
    assert {s for s in TRANSITIONS if s is not None} - reached == {OrdStatus.Completed}  # strategies will reach it


def test_the_blotter_raises_instead_of_emitting_an_illegal_transition_when_cancelling_a_done_order() -> None:
    # Arrange: a book that (by a bug elsewhere) holds a Filled order among its working ones
    view = make_view(book=Book(working=(make_working(10, status=OrdStatus.Filled),)))

    # Act / Assert
    with pytest.raises(IllegalTransition):
        orders.cancel(view, CancelOrder(order_id=10), OrderId(10), NOW, Ids())


def test_the_blotter_raises_instead_of_emitting_an_illegal_transition_when_modifying_a_rejected_order() -> None:
    # Arrange: a book that (by a bug elsewhere) holds a Rejected order among its working ones
    view = make_view(book=Book(working=(make_working(10, status=OrdStatus.Rejected),)))
    req = ModifyOrder(order_id=10, order_qty=2, order_type=OrderType.Limit, price=6700.0)

    # Act / Assert
    with pytest.raises(IllegalTransition):
        orders.modify(view, req, NOW, Ids())


# --- the commands of the property test ---------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    order_type: OrderType
    offset: int  # ticks from the mid
    tif: TimeInForce | None = None


@dataclass(frozen=True)
class Place:
    action: OrderAction
    qty: int
    leg: Leg


@dataclass(frozen=True)
class PlaceOco:
    action: OrderAction
    qty: int
    first: Leg
    other: Leg


@dataclass(frozen=True)
class PlaceOso:
    action: OrderAction
    qty: int
    entry: Leg
    brackets: tuple[Leg, ...]


@dataclass(frozen=True)
class Modify:
    pick: int
    qty: int
    offset: int


@dataclass(frozen=True)
class Cancel:
    pick: int


@dataclass(frozen=True)
class Move:
    """The market moves: a new quote, then matching."""

    delta: int
    bid_size: int
    ask_size: int
    depth: int


@dataclass(frozen=True)
class Session:
    is_open: bool


@dataclass(frozen=True)
class Liquidate:
    pass


@dataclass(frozen=True)
class StartStrategy:
    """A multibracket strategy: `qty` split into brackets of `split` (the last takes the rest)."""

    action: OrderAction
    qty: int
    entry: Leg
    split: int
    target: int  # ticks of profit
    stop: int  # ticks of loss
    break_even: int | None
    trailing: bool = False


@dataclass(frozen=True)
class Interrupt:
    pick: int


@dataclass(frozen=True)
class Expire:
    """Time in force runs out for one order (Day at the close, GTD at its expireTime)."""

    pick: int


Step = Place | PlaceOco | PlaceOso | Modify | Cancel | Move | Session | Liquidate | Expire | StartStrategy | Interrupt

CONDITIONAL = [OrderType.Stop, OrderType.StopLimit, OrderType.MIT, OrderType.LimitIfTouched, OrderType.TrailingStop,
               OrderType.TrailingStopLimit]

types = st.sampled_from([OrderType.Market, OrderType.Limit, *CONDITIONAL])
offsets = st.integers(-6, 6)
tifs = st.sampled_from([None, None, TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.Day])
legs = st.builds(Leg, types, offsets, tifs)
resting = st.builds(Leg, st.sampled_from([OrderType.Limit, *CONDITIONAL]), offsets,
                    st.sampled_from([None, TimeInForce.Day]))
actions = st.sampled_from([BUY, SELL])
qtys = st.integers(1, 5)
steps: st.SearchStrategy[Step] = st.one_of(
    st.builds(Place, actions, qtys, legs),
    st.builds(PlaceOco, actions, qtys, resting, resting),
    st.builds(PlaceOso, actions, qtys, legs, st.lists(resting, min_size=1, max_size=2).map(tuple)),
    st.builds(Modify, st.integers(0, 20), st.integers(1, 6), offsets),
    st.builds(Cancel, st.integers(0, 20)),
    st.builds(Move, st.integers(-5, 5), st.integers(1, 4), st.integers(1, 4), st.integers(0, 3)),
    st.builds(Session, st.sampled_from([True, True, True, False])),
    st.builds(Liquidate),
    st.builds(StartStrategy, actions, qtys, legs, st.integers(1, 3), st.integers(1, 4), st.integers(1, 4),
              st.sampled_from([None, 1, 2]), st.booleans()),
    st.builds(Interrupt, st.integers(0, 5)),
    st.builds(Expire, st.integers(0, 20)),
)


def prices(leg: Leg, action: OrderAction, mid: int) -> dict[str, float | None]:
    """Price fields for a leg `offset` ticks from the mid; a stop limit's limit is two ticks beyond its stop."""
    level = to_price(mid + leg.offset, TICK)
    beyond = to_price(mid + leg.offset + (2 if action is BUY else -2), TICK)
    match leg.order_type:
        case OrderType.Limit:
            return {"price": level}
        case OrderType.Stop:
            return {"stop_price": level}
        case OrderType.StopLimit:
            return {"stop_price": level, "price": beyond}
        case OrderType.MIT:
            return {"limit_if_touched_price": level}
        case OrderType.LimitIfTouched:
            return {"limit_if_touched_price": level, "price": beyond}
        case OrderType.TrailingStop | OrderType.TrailingStopLimit:
            peg = (abs(leg.offset) + 1) * TICK * (1 if action is BUY else -1)  # signed: a Sell's stop is below
            if leg.order_type is OrderType.TrailingStop or leg.offset % 2:
                return {"peg_difference": peg}
            return {"peg_difference": peg, "stop_price": level, "price": beyond}
        case _:
            return {}


def restrained(leg: Leg, action: OrderAction, mid: int) -> RestrainedOrderVersion:
    return RestrainedOrderVersion(action=action, order_type=leg.order_type, time_in_force=leg.tif,
                                  **prices(leg, action, mid))


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def opposite(action: OrderAction) -> OrderAction:
    return SELL if action is BUY else BUY


# --- the world the commands run in: the service's fold of decisions, and the lifecycle checks ----------


@dataclass
class World:
    mid: int = MID
    bid_size: int = 3
    ask_size: int = 3
    depth: int = 1
    is_open: bool = True
    ids: Ids = field(default_factory=Ids)
    orders: dict[OrderId, Order] = field(default_factory=dict)
    versions: dict[OrderId, OrderVersion] = field(default_factory=dict)
    new_command: dict[OrderId, CommandId] = field(default_factory=dict)
    fills: dict[int, Fill] = field(default_factory=dict)
    position: Position | None = None
    cash: CashBalance | None = None
    closing: set[OrderId] = field(default_factory=set)
    reported: dict[OrderId, OrdStatus] = field(default_factory=dict)  # status as of its last execution report
    strategies: dict[int, OrderStrategy] = field(default_factory=dict)
    links: dict[int, list[OrderStrategyLink]] = field(default_factory=dict)  # by strategy
    moves: int = 0  # transitions checked

    def view(self) -> OrderView:
        account = make_account_state()
        if self.cash is not None:
            account = msgspec.structs.replace(account, cash_balance=self.cash)
        working = []
        for order_id, order in sorted(self.orders.items()):
            if order.ord_status in TERMINAL:
                continue
            done = [f for f in self.fills.values() if f.order_id == order_id]
            working.append(WorkingOrder(order=order, version=self.versions[order_id],
                                        command_id=self.new_command[order_id], cum_qty=sum(f.qty for f in done),
                                        cum_value=sum(f.qty * f.price for f in done)))
        open_fills = tuple(f for _, f in sorted(self.fills.items()) if f.active and f.finally_paired < f.qty)
        book = Book(position=self.position, open_fills=open_fills, working=tuple(working),
                    closing_orders=frozenset(w.order.id for w in working if w.order.id in self.closing),
                    strategies=self.running())
        quote = make_quote(self.mid, self.mid + 1, bid_size=self.bid_size, ask_size=self.ask_size,
                           depth_size=self.depth, depth_levels=2 if self.depth else 0)
        return make_view(account=account, book=book, quote=quote, is_open=self.is_open)

    def running(self) -> tuple[RunningStrategy, ...]:
        found = []
        for strategy_id, strategy in sorted(self.strategies.items()):
            if strategy.status is not OrderStrategyStatus.ActiveStrategy:
                continue
            links = tuple(self.links.get(strategy_id, ()))
            entry = [f for link in links if link.label == multibracket.ENTRY for f in self.fills.values()
                     if f.order_id == link.order_id]
            exits = [f for link in links if link.label != multibracket.ENTRY for f in self.fills.values()
                     if f.order_id == link.order_id]
            found.append(RunningStrategy(strategy=strategy, links=links, entry_qty=sum(f.qty for f in entry),
                                         entry_value=sum(f.qty * f.price for f in entry),
                                         exit_qty=sum(f.qty for f in exits)))
        return tuple(found)

    def start(self, step: StartStrategy, view: OrderView) -> Decision[object]:
        sign = 1 if step.action is BUY else -1
        sizes = [min(step.split, step.qty - i) for i in range(0, step.qty, step.split)]
        brackets = [{"qty": size, "profitTarget": step.target * TICK * sign, "stopLoss": -step.stop * TICK * sign,
                     "trailingStop": step.trailing,
                     **({"breakEven": step.break_even * TICK} if step.break_even else {})} for size in sizes]
        entry = {"orderQty": step.qty, "orderType": step.entry.order_type, "timeInForce": step.entry.tif,
                 **{to_camel(k): v for k, v in prices(step.entry, step.action, self.mid).items()}}
        params = msgspec.json.encode({"entryVersion": {k: v for k, v in entry.items() if v is not None},
                                      "brackets": brackets}).decode()
        req = StartOrderStrategy(account_id=1, symbol="ESZ6", order_strategy_type_id=2, action=step.action,
                                 params=params)
        parsed = strategies.parse(req, TICK)
        assert isinstance(parsed, MultiBracketParams), parsed
        return strategies.start(view, req, parsed, NOW, self.ids)  # type: ignore[return-value]

    def live(self, pick: int) -> Order | None:
        known = sorted(self.orders)
        return self.orders[known[pick % len(known)]] if known else None

    def run(self, step: Step) -> Decision[object]:
        view, ids, mid = self.view(), self.ids, self.mid
        match step:
            case Place(action, qty, leg):
                return orders.place(view, PlaceOrder(action=action, symbol="ESZ6", order_qty=qty, account_id=1,
                                                     order_type=leg.order_type, time_in_force=leg.tif,
                                                     **prices(leg, action, mid)), NOW, ids)
            case PlaceOco(action, qty, first, other):
                return orders.place_oco(view, PlaceOCO(action=action, symbol="ESZ6", order_qty=qty, account_id=1,
                                                       order_type=first.order_type, **prices(first, action, mid),
                                                       other=restrained(other, opposite(action), mid)), NOW, ids)
            case PlaceOso(action, qty, entry, brackets):
                legs_ = [restrained(b, opposite(action), mid) for b in brackets]
                return orders.place_oso(view, PlaceOSO(action=action, symbol="ESZ6", order_qty=qty, account_id=1,
                                                       order_type=entry.order_type, time_in_force=entry.tif,
                                                       **prices(entry, action, mid), bracket1=legs_[0],
                                                       bracket2=legs_[1] if len(legs_) > 1 else None), NOW, ids)
            case Modify(pick, qty, offset):
                order = self.live(pick)
                if order is None:
                    return Decision(result=None)
                version = self.versions[order.id]
                leg = Leg(version.order_type, offset)
                return orders.modify(view, ModifyOrder(order_id=order.id, order_qty=qty,
                                                       order_type=version.order_type,
                                                       **prices(leg, order.action, mid)), NOW, ids)
            case Cancel(pick):
                order = self.live(pick)
                if order is None:
                    return Decision(result=None)
                return orders.cancel(view, CancelOrder(order_id=order.id), order.id, NOW, ids)
            case Move(delta, bid_size, ask_size, depth):
                self.mid, self.bid_size, self.ask_size, self.depth = mid + delta, bid_size, ask_size, depth
                return orders.match(self.view(), NOW, ids)
            case Session(is_open):
                self.is_open = is_open
                return orders.match(self.view(), NOW, ids)
            case Liquidate():
                return liquidation.liquidate_position(view, LiquidatePosition(account_id=1, contract_id=4,
                                                                              admin=False), NOW, ids)
            case StartStrategy():
                return self.start(step, view)
            case Interrupt(pick):
                known = sorted(self.strategies)
                if not known:
                    return Decision(result=None)
                chosen = known[pick % len(known)]
                return strategies.interrupt(view, InterruptOrderStrategy(order_strategy_id=chosen),  # type: ignore[return-value]
                                            NOW, ids)
            case Expire(pick):
                order = self.live(pick)
                if order is None:
                    return Decision(result=None)
                return orders.expire(view, {order.id: "expired"}, NOW, ids)

    def check(self, decision: Decision[object]) -> None:
        """Every order change and execution report of the decision is a legal move; then fold it in."""
        for change in decision.changes:
            entity = change.entity
            if isinstance(entity, Order):
                self._check_order(entity, change.event_type)
                self.orders[entity.id] = entity
            elif isinstance(entity, OrderVersion):
                self.versions[entity.order_id] = entity
            elif isinstance(entity, Command) and entity.command_type is CommandType.New:
                self.new_command.setdefault(entity.order_id, entity.id)
            elif isinstance(entity, ExecutionReport):
                self._check_report(entity)
            elif isinstance(entity, Fill):
                self.fills[entity.id] = entity
            elif isinstance(entity, Position):
                self.position = entity
            elif isinstance(entity, CashBalance):
                self.cash = entity
            elif isinstance(entity, AutoLiqTransaction) and entity.order_id is not None:
                self.closing.add(entity.order_id)
            elif isinstance(entity, OrderStrategy):
                self._check_strategy(entity, change.event_type)
                self.strategies[entity.id] = entity
            elif isinstance(entity, OrderStrategyLink):
                self.links.setdefault(entity.order_strategy_id, []).append(entity)
        for order_id, order in self.orders.items():  # no order change without its execution report
            assert self.reported.get(order_id) is order.ord_status, order

    def _check_order(self, order: Order, event: EventType) -> None:
        before = self.orders.get(order.id)
        if event is EventType.Created:
            assert before is None, f"order {order.id} created twice"
            assert order.ord_status in TRANSITIONS[None].values()
            return
        assert before is not None, f"order {order.id} updated before it was created"
        assert before.ord_status not in TERMINAL, f"order {order.id} left {before.ord_status} for {order.ord_status}"
        assert order.ord_status is not before.ord_status, f"order {order.id} updated without a status change"
        assert order.ord_status in TRANSITIONS[before.ord_status].values(), (before.ord_status, order.ord_status)
        self.moves += 1

    def _check_strategy(self, strategy: OrderStrategy, event: EventType) -> None:
        """A strategy is created running (or failed) and ends once; an ended strategy has no working order."""
        before = self.strategies.get(strategy.id)
        if event is EventType.Created:
            assert before is None
            return
        assert before is not None and before.status is OrderStrategyStatus.ActiveStrategy, (before, strategy)
        assert strategy.status is not OrderStrategyStatus.ActiveStrategy

    def check_ended_strategies(self) -> None:
        for strategy_id, strategy in self.strategies.items():
            if strategy.status is not OrderStrategyStatus.ActiveStrategy:
                for link in self.links.get(strategy_id, ()):
                    assert self.orders[link.order_id].ord_status in TERMINAL, (strategy, link)

    def _check_report(self, report: ExecutionReport) -> None:
        before = self.reported.get(report.order_id)
        assert before not in TERMINAL, f"order {report.order_id} reported {report.exec_type} after {before}"
        cause = self._cause(report, before)
        assert report.ord_status is next_status(before, cause), (before, cause, report.ord_status)
        assert report.ord_status is self.orders[report.order_id].ord_status  # the report and the order agree
        self.reported[report.order_id] = report.ord_status
        self.moves += 1

    def _cause(self, report: ExecutionReport, before: OrdStatus | None) -> Cause:
        match report.exec_type:
            case ExecType.New:
                return Cause.Accepted if before is None else Cause.Released
            case ExecType.PendingNew:
                return Cause.Held
            case ExecType.Trade:
                filled = (report.cum_qty or 0) >= self.versions[report.order_id].order_qty
                return Cause.Filled if filled else Cause.PartlyFilled
            case ExecType.Replaced:
                return Cause.Replaced
            case ExecType.Canceled:
                return Cause.Canceled
            case ExecType.Rejected:
                return Cause.Rejected
            case ExecType.Expired:
                return Cause.Expired
            case other:
                raise AssertionError(f"unexpected execution report {other}")


@given(st.lists(steps, min_size=1, max_size=30))
@settings(max_examples=150, deadline=None)
def test_every_emitted_order_status_is_a_legal_transition_and_terminal_statuses_are_never_left(
        script: list[Step]) -> None:
    world = World()
    for step in script:
        world.check(world.run(step))
        world.check_ended_strategies()


def test_a_bracketed_entry_through_fill_release_partial_fill_and_liquidation_is_checked() -> None:
    # Arrange: the property test's world on a fixed script, so its checks are known to see every kind of move
    world = World(bid_size=1, ask_size=1, depth=0)
    script: list[Step] = [
        PlaceOso(BUY, 2, Leg(OrderType.Limit, 0), (Leg(OrderType.Limit, 3), Leg(OrderType.Stop, -3))),
        Move(-1, 4, 4, 0),  # the entry's limit is now crossed: it fills, its legs are released
        Modify(1, 3, 4),  # a released leg gets a new version
        Move(4, 1, 1, 0),  # the target is reached: one of two fills
        Liquidate(),
        Place(SELL, 1, Leg(OrderType.Market, 0)),
        Session(is_open=False),
        Place(BUY, 1, Leg(OrderType.Market, 0)),  # refused while closed: recorded Rejected
    ]

    # Act
    for step in script:
        world.check(world.run(step))

    # Assert
    statuses = [o.ord_status for _, o in sorted(world.orders.items())]
    assert OrdStatus.Filled in statuses
    assert OrdStatus.Canceled in statuses
    assert statuses[-1] is OrdStatus.Rejected
    assert world.moves > len(statuses) * 2


def test_a_strategy_through_entry_brackets_target_and_interruption_is_checked() -> None:
    # Arrange: two strategies, one run to its target, one interrupted with its brackets working
    world = World(bid_size=5, ask_size=5, depth=0)
    script: list[Step] = [
        StartStrategy(BUY, 2, Leg(OrderType.Market, 0), 1, 2, 3, 1),
        Move(1, 5, 5, 0),  # a tick of profit: both stops move to break-even
        Move(2, 5, 5, 0),  # the targets (entry + 2 ticks) are reached
        StartStrategy(SELL, 1, Leg(OrderType.Market, 0), 1, 2, 2, None, trailing=True),
        Interrupt(1),
    ]

    # Act
    for step in script:
        world.check(world.run(step))
        world.check_ended_strategies()

    # Assert
    assert [s.status for _, s in sorted(world.strategies.items())] == [
        OrderStrategyStatus.ExecutionFinished, OrderStrategyStatus.ExecutionInterrupted]
    assert sum(len(links) for links in world.links.values()) == 1 + 4 + 1 + 2


def test_a_trailing_stop_that_trails_and_fills_and_an_entry_that_expires_with_its_legs_are_checked() -> None:
    # Arrange: the property test's world on a fixed script with the conditional types and expiry
    world = World()
    script: list[Step] = [
        Place(SELL, 1, Leg(OrderType.TrailingStop, 1)),  # order 1000: its stop 2 ticks below the bid
        Move(3, 3, 3, 1),  # the bid rises: the stop follows (a new version)
        Move(-5, 3, 3, 1),  # the bid falls through it: triggered, filled
        PlaceOso(BUY, 1, Leg(OrderType.Limit, -4, TimeInForce.Day), (Leg(OrderType.MIT, 4), Leg(OrderType.Stop, -8))),
        Expire(1),  # the entry (the second order known) runs out of time: its held legs expire with it
    ]
    trails: list[OrderVersion] = []

    # Act
    for step in script:
        decision = world.run(step)
        trails += [c.entity for c in decision.changes if isinstance(c.entity, OrderVersion)
                   and c.entity.order_type is OrderType.TrailingStop]
        world.check(decision)

    # Assert
    statuses = [o.ord_status for _, o in sorted(world.orders.items())]
    assert statuses == [OrdStatus.Filled, OrdStatus.Expired, OrdStatus.Expired, OrdStatus.Expired]
    assert len({v.stop_price for v in trails}) >= 2
