"""Builders with defaults for the pure core's inputs, and small readers for the decisions it returns.

Prices given to `make_quote` are integer ticks, as the core keeps them; prices on entities (orders, fills) are
Tradovate's floats. Ids of entities built here are small (below `Ids.START`), so they never collide with the ids
the core hands out through `Ids` during a decision.
"""

from collections import defaultdict
from datetime import UTC, date, datetime
from typing import TypeVar

import msgspec

from tradovate_sim.core.decision import Change, Decision
from tradovate_sim.core.positions import empty_position, to_trade_date
from tradovate_sim.core.ticks import to_price
from tradovate_sim.core.view import (
    AccountState,
    Book,
    Caller,
    Exposure,
    Fees,
    Instrument,
    OrderView,
    Quote,
    RunningStrategy,
    WorkingOrder,
)
from tradovate_sim.model.entities import (
    Account,
    AccountRiskStatus,
    CashBalance,
    Contract,
    ContractMaturity,
    Entity,
    Fill,
    Order,
    OrderStrategy,
    OrderStrategyLink,
    OrderVersion,
    Position,
    Product,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.enums import (
    AccountType,
    AdminAction,
    EventType,
    LegalStatus,
    MarginAccountType,
    OrderAction,
    OrderStrategyStatus,
    OrderType,
    OrdStatus,
    PriceFormatType,
    ProductStatus,
    ProductType,
    TimeInForce,
)

E = TypeVar("E", bound=Entity)

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TRADE_DATE = date(2026, 11, 24)
LAST_TRADE_DATE = date(2026, 12, 18)

ACCOUNT_ID = 1
USER_ID = 2
ORGANIZATION_ID = 3
CONTRACT_ID = 4
PRODUCT_ID = 5
EXCHANGE_ID = 6
POSITION_ID = 7


class Ids:
    """A counter per entity type: the core's id source in tests."""

    START = 1000

    def __init__(self, start: int = START) -> None:
        self._next: defaultdict[str, int] = defaultdict(lambda: start)
        self.taken: list[tuple[str, int]] = []

    def next(self, entity_type: str) -> int:
        value = self._next[entity_type]
        self._next[entity_type] = value + 1
        self.taken.append((entity_type, value))
        return value


# --- the instrument -------------------------------------------------------------------------------


def make_instrument(tick_size: float = 0.25, value_per_point: float = 50.0, *, fees: Fees | None = None,
                    contract_id: int = CONTRACT_ID, name: str = "ESZ6",
                    last_trade_date: date = LAST_TRADE_DATE) -> Instrument:
    product = Product(
        id=PRODUCT_ID, name=name[:-2], currency_id=1, product_type=ProductType.Futures, description=name[:-2],
        exchange_id=EXCHANGE_ID, contract_group_id=1, status=ProductStatus.Verified, months="HMUZ",
        value_per_point=value_per_point, price_format_type=PriceFormatType.Decimal, price_format=-2,
        tick_size=tick_size,
    )
    maturity = ContractMaturity(id=9, product_id=PRODUCT_ID, expiration_month=12,
                                expiration_date=datetime(2026, 12, 18, tzinfo=UTC), is_front=True)
    contract = Contract(id=contract_id, name=name, contract_maturity_id=maturity.id)
    return Instrument(contract=contract, maturity=maturity, product=product, fees=fees or Fees(),
                      last_trade_date=last_trade_date)


# --- the account ----------------------------------------------------------------------------------


def make_account_state(*, can_trade: bool = True, closed: bool = False, admin_action: AdminAction | None = None,
                       liquidate_only: datetime | None = None, amount: float = 50_000.0,
                       position_limits: tuple[UserAccountPositionLimit, ...] = (),
                       risk_parameters: tuple[UserAccountRiskParameter, ...] = (),
                       positions: tuple[Position, ...] = (), exposures: tuple[Exposure, ...] = ()) -> AccountState:
    account = Account(
        id=ACCOUNT_ID, name="DEMO0001", user_id=USER_ID, account_type=AccountType.Customer, restricted=False,
        closed=closed, active=not closed, archived=closed, clearing_house_id=1, risk_category_id=1,
        auto_liq_profile_id=1, margin_account_type=MarginAccountType.Speculator, legal_status=LegalStatus.Individual,
        timestamp=NOW,
    )
    return AccountState(
        account=account,
        risk_status=AccountRiskStatus(id=ACCOUNT_ID, admin_action=admin_action, liquidate_only=liquidate_only),
        cash_balance=CashBalance(id=ACCOUNT_ID, account_id=ACCOUNT_ID, timestamp=NOW,
                                 trade_date=to_trade_date(TRADE_DATE), currency_id=1, amount=amount,
                                 realized_pn_l=0.0),
        position_limits=position_limits,
        risk_parameters=risk_parameters,
        can_trade=can_trade,
        positions=positions,
        exposures=exposures,
    )


def make_caller(*, user_id: int = USER_ID, organization_admin: bool = False) -> Caller:
    return Caller(user_id=user_id, organization_id=ORGANIZATION_ID, organization_admin=organization_admin,
                  session_id=11)


# --- the market -----------------------------------------------------------------------------------


def make_quote(bid: int | None = 27_156, ask: int | None = 27_157, *, bid_size: int = 10, ask_size: int = 10,
               depth_size: int = 0, depth_levels: int = 0, last: int | None = None,
               contract_id: int = CONTRACT_ID) -> Quote:
    """A quote in ticks (27_156 ticks of 0.25 is 6789.00)."""
    return Quote(contract_id=contract_id, timestamp=NOW, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size,
                 last=last, last_size=1 if last is not None else 0, depth_size=depth_size,
                 depth_levels=depth_levels)


# --- the book -------------------------------------------------------------------------------------


def make_fill(fill_id: int, action: OrderAction, qty: int, price: float, *, finally_paired: int = 0,
              order_id: int = 1) -> Fill:
    return Fill(id=fill_id, order_id=order_id, contract_id=CONTRACT_ID, timestamp=NOW,
                trade_date=to_trade_date(TRADE_DATE), action=action, qty=qty, price=price, active=True,
                finally_paired=finally_paired)


def make_position(net_pos: int = 0, net_price: float | None = None) -> Position:
    position = empty_position(POSITION_ID, ACCOUNT_ID, CONTRACT_ID, NOW, TRADE_DATE)
    if net_pos == 0:
        return position
    qty = abs(net_pos)
    value = qty * (net_price or 0.0)
    if net_pos > 0:
        return msgspec.structs.replace(position, net_pos=net_pos, net_price=net_price, bought=qty, bought_value=value)
    return msgspec.structs.replace(position, net_pos=net_pos, net_price=net_price, sold=qty, sold_value=value)


def make_holding(net_pos: int, price_ticks: int = 27_156, tick_size: float = 0.25,
                 fill_id: int = 50) -> tuple[Position | None, tuple[Fill, ...]]:
    """A position of `net_pos` opened by one fill at `price_ticks`, and that open fill; (None, ()) when flat."""
    if net_pos == 0:
        return None, ()
    price = to_price(price_ticks, tick_size)
    action = OrderAction.Buy if net_pos > 0 else OrderAction.Sell
    return make_position(net_pos, price), (make_fill(fill_id, action, abs(net_pos), price),)


def make_working(order_id: int, action: OrderAction = OrderAction.Buy, qty: int = 1, *,
                 order_type: OrderType = OrderType.Limit, price: float | None = None,
                 stop_price: float | None = None, status: OrdStatus = OrdStatus.Working, cum_qty: int = 0,
                 time_in_force: TimeInForce | None = None, oco_id: int | None = None,
                 parent_id: int | None = None, peg_difference: float | None = None,
                 limit_if_touched_price: float | None = None, expire_time: datetime | None = None) -> WorkingOrder:
    if order_type is OrderType.Limit and price is None:
        price = 6700.0 if action is OrderAction.Buy else 6900.0
    if order_type in (OrderType.Stop, OrderType.StopLimit) and stop_price is None:
        stop_price = 6900.0 if action is OrderAction.Buy else 6700.0
        if order_type is OrderType.StopLimit and price is None:
            price = stop_price
    order = Order(id=order_id, account_id=ACCOUNT_ID, contract_id=CONTRACT_ID, timestamp=NOW, action=action,
                  ord_status=status, admin=False, oco_id=oco_id, parent_id=parent_id)
    version = OrderVersion(id=order_id, order_id=order_id, order_qty=qty, order_type=order_type, price=price,
                           stop_price=stop_price, time_in_force=time_in_force, peg_difference=peg_difference,
                           limit_if_touched_price=limit_if_touched_price, expire_time=expire_time)
    return WorkingOrder(order=order, version=version, command_id=order_id, cum_qty=cum_qty)


def make_book(net_pos: int = 0, *, price_ticks: int = 27_156, tick_size: float = 0.25,
              working: tuple[WorkingOrder, ...] = ()) -> Book:
    position, open_fills = make_holding(net_pos, price_ticks, tick_size)
    return Book(position=position, open_fills=open_fills, working=working)


def make_view(*, account: AccountState | None = None, instrument: Instrument | None = None,
              book: Book | None = None, quote: Quote | None = None, caller: Caller | None = None,
              is_open: bool = True, trade_date: date = TRADE_DATE, no_quote: bool = False) -> OrderView:
    return OrderView(
        caller=caller or make_caller(),
        account=account or make_account_state(),
        instrument=instrument or make_instrument(),
        book=book or Book(),
        quote=None if no_quote else (quote or make_quote()),
        is_open=is_open,
        trade_date=trade_date,
    )


# --- reading decisions ----------------------------------------------------------------------------


def entities(decision: Decision[object], kind: type[E], event_type: EventType | None = None) -> list[E]:
    """Every entity of one type among a decision's changes (only `event_type` ones when given), in commit order."""
    return [c.entity for c in decision.changes
            if isinstance(c.entity, kind) and (event_type is None or c.event_type is event_type)]


def latest(decision: Decision[object], kind: type[E]) -> dict[int, E]:
    """The last version of each entity of one type that a decision commits, by id."""
    return {e.id: e for e in entities(decision, kind)}


def fills_of(decision: Decision[object]) -> list[tuple[int, float]]:
    """(qty, price) of each fill a decision creates, in order."""
    return [(f.qty, f.price) for f in entities(decision, Fill, EventType.Created)]


def entity_types(decision: Decision[object]) -> list[str]:
    return [c.entity_type for c in decision.changes]


def final_orders(view: OrderView, decision: Decision[object]) -> dict[int, OrdStatus]:
    """The status of every order of the book after the decision: the view's, overwritten by the changes."""
    statuses = {w.order.id: w.order.ord_status for w in view.book.working}
    for change in decision.changes:
        if isinstance(change.entity, Order):
            statuses[change.entity.id] = change.entity.ord_status
    return statuses


def final_net_pos(view: OrderView, decision: Decision[object]) -> int:
    positions = entities(decision, Position)
    if positions:
        return positions[-1].net_pos
    return view.book.position.net_pos if view.book.position else 0


def index_of(changes: tuple[Change, ...], entity_type: str, start: int = 0) -> int:
    """The position of the first change of `entity_type` at or after `start`."""
    return next(i for i, c in enumerate(changes) if i >= start and c.entity_type == entity_type)


# --- order strategies -----------------------------------------------------------------------------


def make_strategy_params(action: OrderAction = OrderAction.Buy, *, qty: int = 1, order_type: str = "Market",
                         target: float | None = 2.5, stop: float | None = -1.25, **bracket: object) -> str:
    """A multibracket `params` string: one bracket of `qty` at signed offsets (a Sell's are mirrored)."""
    sign = 1 if action is OrderAction.Buy else -1
    body: dict[str, object] = {"qty": qty, **bracket}
    if target is not None:
        body["profitTarget"] = target * sign
    if stop is not None:
        body["stopLoss"] = stop * sign
    return msgspec.json.encode({"entryVersion": {"orderQty": qty, "orderType": order_type},
                                "brackets": [body]}).decode()


def make_running(strategy_id: int, params: str, links: dict[str, int], *, action: OrderAction = OrderAction.Buy,
                 entry_qty: int = 0, entry_price: float = 0.0, exit_qty: int = 0) -> RunningStrategy:
    """An active strategy whose orders are linked by label (`{"entry": 20, "profitTarget1": 21, ...}`)."""
    strategy = OrderStrategy(id=strategy_id, account_id=ACCOUNT_ID, timestamp=NOW, contract_id=CONTRACT_ID,
                             order_strategy_type_id=2, action=action, status=OrderStrategyStatus.ActiveStrategy,
                             params=params)
    linked = tuple(OrderStrategyLink(id=100 + i, order_strategy_id=strategy_id, order_id=order_id, label=label)
                   for i, (label, order_id) in enumerate(links.items()))
    return RunningStrategy(strategy=strategy, links=linked, entry_qty=entry_qty,
                           entry_value=entry_qty * entry_price, exit_qty=exit_qty)
