"""The shell around the core: owns the store, the in-memory state, the clock, the market and the locks.

Every command follows one path: take the account's lock, build the view, call the core, commit the decision's
changes durably, apply them to memory, publish them, answer.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime, timedelta
from operator import attrgetter
from types import TracebackType
from typing import TypeVar, overload

import msgspec

from tradovate_sim.core import multibracket, sessions
from tradovate_sim.core.blotter import Ids
from tradovate_sim.core.decision import Change
from tradovate_sim.core.view import (
    AccountState,
    Book,
    Caller,
    Exposure,
    Fees,
    Instrument,
    OrderView,
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
    RiskCategory,
    UserAccountAutoLiq,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.enums import EventType, OrderAction
from tradovate_sim.model.ids import AccountId, ContractId, ProductId
from tradovate_sim.model.kinds import KINDS
from tradovate_sim.service.clock import Clock
from tradovate_sim.service.periodic import doubling
from tradovate_sim.service.ports import Coordination, Publisher, Store, Telemetry
from tradovate_sim.service.state import State
from tradovate_sim.venue.calendar import CmeCalendar
from tradovate_sim.venue.catalogue import ProductSpec
from tradovate_sim.venue.market import Market

CLASSES: dict[str, type[Entity]] = {kind.name: kind.struct for kind in KINDS}
_BY_ID: Callable[[Fill], int] = attrgetter("id")
E = TypeVar("E", bound=Entity)
_log = logging.getLogger("tradovate_sim")


class StateIds:
    """Next ids per entity type, continuing from the largest id loaded (the state's `max_ids`, which every applied
    change raises; a state keeps its dict for its life)."""

    __slots__ = ("max_ids", "state")

    def __init__(self, state: State) -> None:
        self.state = state
        self.max_ids = state.max_ids

    def next(self, entity_type: str) -> int:
        max_ids = self.max_ids
        value = max_ids[entity_type] = max_ids[entity_type] + 1
        return value


class Fanout:
    """Publishes committed changes to every subscriber callback (the WebSocket layer registers here)."""

    def __init__(self) -> None:
        self.subscribers: list[Publisher] = []
        # hear only this process's own commits, not those it follows from other processes (service/replica.py): what
        # is counted per process and summed over processes (the server's metrics) counts each commit once
        self.own: list[Publisher] = []
        # the subscribers whose last call raised, with how many commits in a row: one failing on every commit is
        # logged at its 1st, 2nd, 4th, 8th, ... failure and when it recovers, not once a commit
        self.failing: dict[int, int] = {}  # by id(): a subscriber need not be hashable

    def publish(self, changes: Sequence[Change], seq: int, *, followed: bool = False) -> None:
        """Every subscriber hears every commit, whatever another one does: one that raises is logged and skipped."""
        self.deliver(self.subscribers, changes, seq)
        if not followed:
            self.deliver(self.own, changes, seq)

    def deliver(self, subscribers: list[Publisher], changes: Sequence[Change], seq: int) -> None:
        for subscriber in subscribers:
            try:
                subscriber.publish(changes, seq)
            except Exception:
                count = self.failing[id(subscriber)] = self.failing.get(id(subscriber), 0) + 1
                if doubling(count):
                    _log.exception("subscriber %s failed on commit %d (%d in a row); the others heard it",
                                   _named(subscriber), seq, count)
            else:
                if self.failing and id(subscriber) in self.failing:
                    _log.warning("subscriber %s recovered at commit %d after failing on %d commits",
                                 _named(subscriber), seq, self.failing.pop(id(subscriber)))


def _named(subscriber: Publisher) -> str:
    return f"{type(subscriber).__module__}.{type(subscriber).__qualname__}"


class Unobserved:
    """The telemetry of a platform no one measures."""

    def auto_liq_breached(self) -> None:
        pass


class AccountLock:
    """Serializes one account's commands; dropped when nobody holds or waits for it (thousands of idle accounts
    keep no lock objects alive for the garbage collector to scan)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0

    def leave(self, locks: dict[AccountId, "AccountLock"], account_id: AccountId) -> None:
        """One user fewer; the last one drops the lock from `locks` (if it is still this one)."""
        self.users -= 1
        if self.users == 0 and locks.get(account_id) is self:
            del locks[account_id]


class AccountHold:
    """`Platform.account`: holds the account's lock (and, with several processes, the cluster's hold on the account)
    for the body of an `async with`. A class rather than an `asynccontextmanager`: every command enters one, and an
    async generator per command cost more than the lock itself."""

    __slots__ = ("account_id", "entry", "inner", "platform")

    def __init__(self, platform: "Platform", account_id: AccountId) -> None:
        self.platform = platform
        self.account_id = account_id
        self.entry: AccountLock | None = None
        self.inner: AbstractAsyncContextManager[None] | None = None

    async def __aenter__(self) -> None:
        locks = self.platform.locks
        entry = locks.get(self.account_id)
        if entry is None:
            entry = locks[self.account_id] = AccountLock()
        entry.users += 1
        self.entry = entry
        try:
            await entry.lock.acquire()
        except BaseException:
            entry.leave(locks, self.account_id)
            raise
        cluster = self.platform.cluster
        if cluster is not None:
            try:
                inner = cluster.holding(self.account_id)
                await inner.__aenter__()
            except BaseException:
                entry.lock.release()
                entry.leave(locks, self.account_id)
                raise
            self.inner = inner

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> bool | None:
        entry = self.entry
        assert entry is not None
        inner, self.inner = self.inner, None
        try:
            if inner is not None:
                return await inner.__aexit__(exc_type, exc, traceback)
            return None
        finally:
            entry.lock.release()
            entry.leave(self.platform.locks, self.account_id)


class Platform:
    def __init__(self, store: Store, clock: Clock, catalogue: dict[str, ProductSpec], calendar: CmeCalendar,
                 market: Market) -> None:
        self.store = store
        self.clock = clock
        self.catalogue = catalogue
        self.calendar = calendar
        self.market = market
        self.state = State()
        self.ids: Ids = StateIds(self.state)
        self.cluster: Coordination | None = None  # several processes on one PostgreSQL database (service/replica.py)
        self.fanout = Fanout()
        self.telemetry: Telemetry = Unobserved()  # the server's metrics replace it
        self.locks: dict[AccountId, AccountLock] = {}  # only while a command of that account runs or waits
        self.schedules: dict[str, tuple[date, sessions.Schedule]] = {}
        self.encoder = msgspec.json.Encoder()
        self.decoders = {name: msgspec.json.Decoder(cls) for name, cls in CLASSES.items()}
        self.spec_of_product: dict[ProductId, ProductSpec] = {}
        self.quote_listeners: list[Callable[[Sequence[ContractId]], None]] = []
        # What follows from a batch of changes and is committed with it (margin snapshots of accounts whose
        # positions change); registered by the runtime.
        self.consequences: list[Callable[[Sequence[Change]], Sequence[Change]]] = []
        self._trade_dates: dict[datetime, date] = {}  # UTC hour -> trade date
        self._trade_hour: tuple[datetime, datetime, date] | None = None  # the last hour asked: start, end, date

    def quotes_changed(self, contract_ids: Sequence[ContractId]) -> None:
        """Tell market-data subscribers which quotes moved."""
        if contract_ids:
            for listener in self.quote_listeners:
                listener(contract_ids)

    # --- durability -------------------------------------------------------------------------------

    def load(self) -> None:
        """Read every entity from the store into memory (start-up)."""
        self.state = State()
        if self.cluster is None:  # else ids come in blocks from the database
            self.ids = StateIds(self.state)
        decoders, created = self.decoders, EventType.Created
        self.state.load(Change(entity_type=entity_type, event_type=created, entity=decoders[entity_type].decode(body))
                        for entity_type, _id, body in sorted(self.store.load(), key=_load_order)
                        if entity_type in decoders)
        for product in self.state.table(Product).values():
            spec = self.catalogue.get(product.name)
            if spec is not None:
                self.spec_of_product[product.id] = spec

    async def later_id(self, entity_type: str) -> int:
        """A new id larger than every id of that type in memory. With several processes, ids come from each one's
        blocks and another process's may be larger: where id order must be the order entities were made (a user's
        sessions: a login ends the oldest, on every process alike), an entity made after another was acknowledged
        anywhere (and so followed into memory before this request was served) gets the larger id."""
        if self.cluster is not None:
            await self.cluster.ids_above(entity_type)
        return self.ids.next(entity_type)

    async def clock_confirmed(self) -> bool:
        """Whether this process's simulated clock is the one last set anywhere (always, on one process). Asked
        under an account's lock by a timer that cannot be undone: with several processes, a `/sim/clock` served
        by another may be decided while its control is on its way here; until then this process waits."""
        return self.cluster is None or await self.cluster.clock_is(self.clock.fixed)

    async def clock_unmoved(self, since: datetime | None) -> bool:
        """Whether a timer that read the clock as `since` (a sweep's start) may act now, under an account's lock:
        this process's clock has not moved since, nor been moved elsewhere (`clock_confirmed`)."""
        return self.clock.fixed == since and await self.clock_confirmed()

    async def commit(self, changes: Sequence[Change], meta: dict[str, bytes | None] | None = None) -> int:
        """Make `changes` durable, then apply and publish them. Returns the journal sequence number.

        Memory follows the file even when the caller is cancelled while it waits: the changes are applied when
        the store confirms them, in the order the store confirms commits (which is the order they were made)."""
        if not changes and not meta:
            return 0
        for consequence in self.consequences:
            changes = [*changes, *consequence(changes)]
        encoded = self.encoder.encode(changes) if changes else None
        landing = self.store.submit(encoded, meta) if self.cluster is None else self.cluster.submit(encoded, meta)

        # The caller waits on a future of its own (what `asyncio.shield` would make, without its second callback
        # and loop iteration): cancelling the caller leaves `landing`, so its changes are applied all the same.
        waiter: asyncio.Future[int] = landing.get_loop().create_future()

        def landed(done: asyncio.Future[int]) -> None:
            if done.cancelled():
                waiter.cancel()
                return
            error = done.exception()
            if error is not None:  # nothing was written: memory stays as it is
                if not waiter.done():
                    waiter.set_exception(error)
                return
            seq = done.result()
            try:
                self.state.apply_all(changes)
                self.fanout.publish(changes, seq)
            finally:  # a failing subscriber is logged by the fanout; the caller still has its answer
                if not waiter.done():
                    waiter.set_result(seq)

        landing.add_done_callback(landed)
        return await waiter

    def account(self, account_id: AccountId) -> "AccountHold":
        """Serialize commands of one account: `async with platform.account(account_id):`."""
        return AccountHold(self, account_id)

    @asynccontextmanager
    async def idle_accounts(self, account_ids: Iterable[AccountId]) -> AsyncIterator[list[AccountId]]:
        """Hold the locks of those of `account_ids` that no command holds or waits for, taken without waiting (a
        batch of background writes skips the busy accounts); yields the accounts held."""
        held: list[tuple[AccountId, AccountLock]] = []
        try:
            for account_id in account_ids:
                if account_id not in self.locks:
                    lock = self.locks[account_id] = AccountLock()
                    lock.users = 1
                    held.append((account_id, lock))
                    await lock.lock.acquire()  # free: returns without suspending
            if self.cluster is None:
                yield [account_id for account_id, _ in held]
            else:
                async with self.cluster.holding_free([account_id for account_id, _ in held]) as free:
                    yield free
        finally:
            for account_id, lock in held:
                if lock.lock.locked():
                    lock.lock.release()
                lock.leave(self.locks, account_id)

    # --- time and market --------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def trade_date(self, now: datetime) -> date:
        """The CME trade date of `now`, remembered per UTC hour (the roll, 17:00 Chicago, is on a whole UTC hour);
        every request and every chart bar asks, so it is computed once per hour seen."""
        last = self._trade_hour
        if last is not None and last[0] <= now < last[1]:  # comparisons: cheaper than hashing an aware datetime
            return last[2]
        hour = now.replace(minute=0, second=0, microsecond=0)
        found = self._trade_dates.get(hour)
        if found is None:
            if len(self._trade_dates) >= 10_000:
                self._trade_dates.clear()
            found = self._trade_dates[hour] = sessions.trade_date(hour, self.calendar.is_business_day)
        self._trade_hour = (hour, hour + timedelta(hours=1), found)
        return found

    def is_open(self, product: Product, now: datetime) -> bool:
        schedule = self.schedule(product, now)
        return schedule is not None and sessions.is_open(schedule, now)

    def schedule(self, product: Product, now: datetime) -> sessions.Schedule | None:
        """The product's sessions from 40 days before to 60 after about `now` (cached), or None for a product
        outside the catalogue."""
        spec = self.spec_of_product.get(product.id)
        if spec is None:
            return None
        cached = self.schedules.get(spec.name)
        today = now.date()
        if cached is None or abs((cached[0] - today).days) > 30:
            cached = (today, self.calendar.schedule(spec, today, days_before=40, days_after=60))
            self.schedules[spec.name] = cached
        return cached[1]

    # --- views ------------------------------------------------------------------------------------

    def instrument(self, contract_id: int) -> Instrument | None:
        """The contract's reference data, or None for an unknown id. Takes any `int`: quotes and market-data
        requests (venue, WebSocket) carry contract ids that are not typed `ContractId`."""
        state = self.state
        contract = state.get(Contract, contract_id)
        if contract is None:
            return None
        maturity = state.table(ContractMaturity)[contract.contract_maturity_id]
        product = state.table(Product)[maturity.product_id]
        spec = self.spec_of_product.get(product.id)
        fees = Fees(commission=spec.commission, exchange_fee=spec.exchange_fee, clearing_fee=spec.clearing_fee,
                    nfa_fee=spec.nfa_fee) if spec else Fees()
        return Instrument(contract=contract, maturity=maturity, product=product, fees=fees,
                          last_trade_date=maturity.expiration_date.date())

    def account_state(self, caller: Caller, account_id: AccountId) -> AccountState | None:
        state = self.state
        account = state.get(Account, account_id)
        if account is None:
            return None
        limits = state.table(UserAccountPositionLimit)
        params = state.table(UserAccountRiskParameter)
        positions = state.table(Position)
        limit_ids = state.limits_of.get(account_id)  # most accounts have none: no generator then
        limited = bool(limit_ids)
        category = state.get(RiskCategory, account.risk_category_id)
        return AccountState(
            account=account, risk_status=state.table(AccountRiskStatus)[account_id],
            cash_balance=state.table(CashBalance)[state.cash_of[account_id]],
            auto_liq=state.get(UserAccountAutoLiq, account_id),
            position_limits=tuple(map(limits.__getitem__, limit_ids)) if limit_ids else (),
            risk_parameters=tuple(params[p] for i in limit_ids for p in state.params_of.get(i, {}))
            if limit_ids else (),
            positions=tuple(map(positions.__getitem__, state.positions_of.get(account_id, {}).values())),
            can_trade=(caller.user_id, account_id) in state.permissions,
            exposures=self.exposures(account_id) if limited else (),
            halted=bool(category is not None and category.demo_halt),
        )

    def exposures(self, account_id: AccountId) -> tuple[Exposure, ...]:
        """What the account holds and works in each contract, for position limits that span contracts."""
        state = self.state
        positions = state.table(Position)
        orders, versions, fills = state.table(Order), state.table(OrderVersion), state.table(Fill)
        held = state.positions_of.get(account_id, {})
        contracts = set(held) | {c for c, accounts in state.working_by_contract.items() if account_id in accounts}
        found = []
        for contract_id in sorted(contracts):
            instrument = self.instrument(contract_id)
            if instrument is None:
                continue
            buys = sells = 0
            for order_id in state.working.get((account_id, contract_id), {}):
                left = versions[state.latest_version[order_id]].order_qty - sum(
                    fills[f].qty for f in state.fills_of_order.get(order_id, ()))
                if orders[order_id].action is OrderAction.Buy:
                    buys += left
                else:
                    sells += left
            position = positions.get(held[contract_id]) if contract_id in held else None
            product = instrument.product
            found.append(Exposure(contract_id=contract_id, product_id=product.id, exchange_id=product.exchange_id,
                                  product_type=product.product_type, net_pos=position.net_pos if position else 0,
                                  working_buys=buys, working_sells=sells))
        return tuple(found)

    def back_month(self, instrument: Instrument, trade_date: date) -> int:
        """How many unexpired months of the contract's product expire before it (0: it is the front month)."""
        maturities = self.state.table(ContractMaturity)
        expires = instrument.maturity.expiration_date
        return sum(1 for m in self.state.children["contractMaturity"].get(instrument.product.id, {})
                   if (other := maturities.get(m)) is not None and other.expiration_date < expires
                   and other.expiration_date.date() >= trade_date)

    def book(self, account_id: AccountId, contract_id: ContractId) -> Book:
        state = self.state
        fills = state.table(Fill)
        orders = state.table(Order)
        versions = state.table(OrderVersion)
        working: list[WorkingOrder] = []
        for order_id in state.working.get((account_id, contract_id), {}):
            order = orders[order_id]
            version = versions[state.latest_version[order_id]]
            fill_ids = state.fills_of_order.get(order_id)
            if fill_ids:
                done = [fills[f] for f in fill_ids]
                cum_qty = sum(f.qty for f in done)
                cum_value = sum(f.qty * f.price for f in done)
            else:  # the usual working order: nothing filled yet, and no generators to say so
                cum_qty = cum_value = 0
            working.append(WorkingOrder(order=order, version=version, command_id=state.new_command_of[order_id],
                                        cum_qty=cum_qty, cum_value=cum_value))
        return Book(
            position=state.get(Position, state.positions.get((account_id, contract_id), 0)),
            open_fills=tuple(sorted(map(fills.__getitem__, state.open_fills.get((account_id, contract_id), {})),
                                    key=_BY_ID)),
            working=tuple(working),
            closing_orders=frozenset(w.order.id for w in working if w.order.id in state.closing_orders),
            strategies=self.running_strategies(account_id, contract_id),
        )

    def running_strategies(self, account_id: AccountId, contract_id: ContractId) -> tuple[RunningStrategy, ...]:
        """The active order strategies of the account on the contract, with their links and fills so far."""
        state = self.state
        active = state.strategies.get((account_id, contract_id))
        if not active:
            return ()
        fills, links = state.table(Fill), state.table(OrderStrategyLink)
        running = []
        for strategy_id in active:
            linked = tuple(links[i] for i in state.children["orderStrategyLink"].get(strategy_id, {}))
            entry_qty = exit_qty = 0
            entry_value = 0.0
            for link in linked:
                done = [fills[f] for f in state.fills_of_order.get(link.order_id, ())]
                if link.label == multibracket.ENTRY:
                    entry_qty += sum(f.qty for f in done)
                    entry_value += sum(f.qty * f.price for f in done)
                else:
                    exit_qty += sum(f.qty for f in done)
            running.append(RunningStrategy(strategy=state.table(OrderStrategy)[strategy_id], links=linked,
                                           entry_qty=entry_qty, entry_value=entry_value, exit_qty=exit_qty))
        return tuple(running)

    def order_view(self, caller: Caller, account_id: AccountId, contract_id: ContractId) -> OrderView | None:
        account = self.account_state(caller, account_id)
        instrument = self.instrument(contract_id)
        if account is None or instrument is None:
            return None
        now = self.now()
        trade_date = self.trade_date(now)
        dated = any(p.max_back_month is not None for p in account.risk_parameters)
        return OrderView(
            caller=caller, account=account, instrument=instrument, book=self.book(account_id, contract_id),
            quote=self.market.quotes.get(contract_id), is_open=self.is_open(instrument.product, now),
            trade_date=trade_date, back_month=self.back_month(instrument, trade_date) if dated else 0,
        )

    @overload
    def entities(self, kind: type[E]) -> Iterator[E]: ...

    @overload
    def entities(self, kind: str) -> Iterator[Entity]: ...

    def entities(self, kind: type | str) -> Iterator[Entity]:
        """Every entity of one kind (a Struct, typed; or Tradovate's name for it)."""
        table = self.state.entities[kind] if isinstance(kind, str) else self.state.tables[kind]
        return iter(table.values())


# The kinds' order: masters load before their details so that owning-account indexes resolve.
_ORDER = {kind.name: i for i, kind in enumerate(KINDS)}


def _load_order(row: tuple[str, int, bytes]) -> tuple[int, int]:
    return (_ORDER.get(row[0], 99), row[1])
