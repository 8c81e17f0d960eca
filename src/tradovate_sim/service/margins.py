"""Margins in the shell: each contract's margins in force, an account's holdings, keeping `productMargin`,
`contractMargin` and `marginSnapshot` live, and `order/dryrun`. The arithmetic is `core.margins`.

Which margins apply: a product's day-trade margin (`day_margin` in the catalogue) as initial and maintenance margin
while its session is open; the exchange's `initial_margin`/`maintenance_margin` while it is closed (positions held
into the close). A product without a day margin always uses the exchange's.
"""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import msgspec

from tradovate_sim.core import margins, orders, risk
from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.ticks import to_money
from tradovate_sim.core.view import Caller, Holding, Margin, MarginTerms, OrderView
from tradovate_sim.model.entities import (
    Account,
    CashBalance,
    Contract,
    ContractMargin,
    Fill,
    MarginSnapshot,
    Order,
    OrderVersion,
    Position,
    Product,
    ProductMargin,
)
from tradovate_sim.model.enums import FailureReason, OrderAction
from tradovate_sim.model.ids import AccountId, ContractId
from tradovate_sim.model.kinds import ENTITY_TYPES
from tradovate_sim.model.requests import DryRun, DryRunOrder, PlaceOrder
from tradovate_sim.model.results import DryRunResponse, EstimatedFillFee
from tradovate_sim.service import marks
from tradovate_sim.service.accounts import USD
from tradovate_sim.service.errors import not_found
from tradovate_sim.service.periodic import Ticker
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account

log = logging.getLogger("tradovate_sim.margins")

FOLLOWED = frozenset((ENTITY_TYPES[Position], ENTITY_TYPES[MarginSnapshot]))  # what `Margins.follow` reads
NONE = MarginTerms(initial=0.0, maintenance=0.0, full_initial=0.0)


def terms(platform: Platform, product: Product, now: datetime) -> MarginTerms:
    """The product's margins per contract in force at `now`."""
    spec = platform.spec_of_product.get(product.id)
    if spec is None:
        return NONE
    if spec.day_margin is not None and platform.is_open(product, now):
        return MarginTerms(initial=spec.day_margin, maintenance=spec.day_margin, full_initial=spec.initial_margin)
    return MarginTerms(initial=spec.initial_margin, maintenance=spec.maintenance_margin,
                       full_initial=spec.initial_margin)


def contract_terms(platform: Platform, contract_id: int, now: datetime) -> MarginTerms:
    instrument = platform.instrument(contract_id)
    return NONE if instrument is None else terms(platform, instrument.product, now)


def _working(platform: Platform, account_id: AccountId, contract_id: ContractId) -> tuple[int, int]:
    """Quantities still open of the account's working (and suspended) buys and sells in the contract."""
    state = platform.state
    orders_, versions, fills = state.table(Order), state.table(OrderVersion), state.table(Fill)
    buys = sells = 0
    for order_id in state.working.get((account_id, contract_id), {}):
        version = versions[state.latest_version[order_id]]
        left = version.order_qty - sum(fills[f].qty for f in state.fills_of_order.get(order_id, ()))
        if orders_[order_id].action is OrderAction.Buy:
            buys += left
        else:
            sells += left
    return buys, sells


def holdings(platform: Platform, account_id: AccountId, now: datetime, *,
             positions: Mapping[ContractId, Position] | None = None, working: bool = True) -> tuple[Holding, ...]:
    """The account's holdings: every contract with an open position or (with `working`) working orders.
    `positions` replace the state's for their contracts (a batch about to be committed)."""
    state = platform.state
    table = state.table(Position)
    nets = {contract_id: table[position_id].net_pos
            for contract_id, position_id in state.positions_of.get(account_id, {}).items()}
    for contract_id, position in (positions or {}).items():
        nets[contract_id] = position.net_pos
    sides: dict[ContractId, tuple[int, int]] = {}
    if working:
        for contract_id, accounts in state.working_by_contract.items():
            if account_id in accounts:
                sides[contract_id] = _working(platform, account_id, contract_id)
    found: list[Holding] = []
    for contract_id in sorted(set(nets) | set(sides)):
        net = nets.get(contract_id, 0)
        buys, sells = sides.get(contract_id, (0, 0))
        if net or buys or sells:
            found.append(Holding(contract_id=contract_id, net_pos=net, working_buys=buys, working_sells=sells,
                                 terms=contract_terms(platform, contract_id, now)))
    return tuple(found)


def margin_used(platform: Platform, account_id: AccountId) -> float:
    """The initial margin of the account's open positions now: what the post-trade engine's `marginPercentage*`
    rules compare with the net liquidation value."""
    return margins.position_margin(holdings(platform, account_id, platform.now(), working=False))


def margin_view(platform: Platform, account_id: AccountId, contract_id: ContractId) -> Margin:
    """What the margin check of an order of the account on the contract reads."""
    state = platform.state
    now = platform.now()
    cash = state.get(CashBalance, state.cash_of.get(account_id, 0))
    open_pnl = to_money(marks.account_open_pnl(platform, account_id))
    return Margin(cash=cash.amount if cash else 0.0, open_pnl=open_pnl,
                  terms=contract_terms(platform, contract_id, now), holdings=holdings(platform, account_id, now))


def with_margin(platform: Platform, view: OrderView) -> OrderView:
    """The view with the account's margin standing, for the checks of a new or modified order."""
    return msgspec.structs.replace(view, margin=margin_view(platform, view.account.account.id,
                                                            view.instrument.contract.id))


class Margins:
    """Keeps the margin entities live. `follow` is a commit consequence: the snapshots of the accounts whose
    positions a batch changes go into the same commit. `refresh` brings product and contract margins to the
    session's regime (and creates missing ones), then the snapshots of accounts holding what changed; the watch
    calls it every `interval` seconds, so a session's open and close switch the margins within that time."""

    def __init__(self, platform: Platform, interval: float = 1.0) -> None:
        self.platform = platform
        self.interval = interval
        self.lock = asyncio.Lock()
        self.ticker = Ticker("margin-watch", interval, self.refresh, log=log,
                             failed="margin refresh failed (%d in a row); the watch goes on")

    def follow(self, changes: Sequence[Change]) -> list[Change]:
        moved: dict[AccountId, dict[ContractId, Position]] = {}
        given: dict[AccountId, MarginSnapshot] = {}
        for change in changes:
            if change.entity_type not in FOLLOWED:
                continue
            entity = change.entity
            if isinstance(entity, Position):
                moved.setdefault(entity.account_id, {})[entity.contract_id] = entity
            elif isinstance(entity, MarginSnapshot):
                given[entity.id] = entity
        if not moved:
            return []
        now = self.platform.now()
        found: list[Change] = []
        for account_id, positions in moved.items():
            snapshot = self._snapshot_change(account_id, now, positions, given.get(account_id))
            if snapshot is not None:
                found.append(snapshot)
        return found

    def _snapshot_change(self, account_id: AccountId, now: datetime, positions: Mapping[ContractId, Position],
                         base: MarginSnapshot | None = None) -> Change | None:
        old = base or self.platform.state.get(MarginSnapshot, account_id)
        new = margins.snapshot(account_id, holdings(self.platform, account_id, now, positions=positions,
                                                    working=False), now)
        if old is None:
            return created(new)
        new = msgspec.structs.replace(new, auto_liq_level=old.auto_liq_level, liq_only_level=old.liq_only_level)
        return None if margins.is_same(old, new) else updated(new)

    async def refresh(self, *, everyone: bool = False) -> None:
        """Product and contract margins as they should be now; then the snapshots of the accounts holding a
        contract whose margins changed (`everyone`: of every account, creating missing ones)."""
        platform = self.platform
        async with self.lock:
            now = platform.now()
            changes, moved = self._reference_changes(now)
            if everyone:  # start and reset: one batch, no command of these accounts is under way
                found = (self._snapshot_change(account.id, now, {}) for account in platform.entities(Account))
                changes += [change for change in found if change is not None]
            await platform.commit(changes)
            if everyone or not moved:
                return
            accounts = {p.account_id for p in platform.state.table(Position).values()
                        if p.net_pos and p.contract_id in moved}
            await asyncio.gather(*(self._refresh_account(account_id) for account_id in sorted(accounts)))

    def _reference_changes(self, now: datetime) -> tuple[list[Change], set[ContractId]]:
        platform = self.platform
        state = platform.state
        changes: list[Change] = []
        by_product: dict[int, MarginTerms] = {}
        for product in platform.entities(Product):
            wanted = by_product[product.id] = terms(platform, product, now)
            current = state.get(ProductMargin, product.id)
            if current is None or (current.initial_margin, current.maintenance_margin) != (wanted.initial,
                                                                                           wanted.maintenance):
                record = ProductMargin(id=product.id, initial_margin=wanted.initial,
                                       maintenance_margin=wanted.maintenance, timestamp=now)
                changes.append(created(record) if current is None else updated(record))
        moved: set[ContractId] = set()
        for contract in platform.entities(Contract):
            instrument = platform.instrument(contract.id)
            wanted = by_product.get(instrument.product.id, NONE) if instrument else NONE
            found = state.get(ContractMargin, contract.id)
            if found is None or (found.initial_margin, found.maintenance_margin) != (wanted.initial,
                                                                                     wanted.maintenance):
                moved.add(contract.id)
                margin = ContractMargin(id=contract.id, initial_margin=wanted.initial,
                                        maintenance_margin=wanted.maintenance, timestamp=now)
                changes.append(created(margin) if found is None else updated(margin))
        return changes, moved

    async def _refresh_account(self, account_id: AccountId) -> None:
        platform = self.platform
        async with platform.account(account_id):  # after any commit of the account in flight
            change = self._snapshot_change(account_id, platform.now(), {})
            if change is not None:
                await platform.commit([change])

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self.ticker.task

    def start(self) -> None:
        """Refresh every `interval` seconds until stopped (nothing if watching already); again after a `stop()`."""
        self.ticker.start()

    async def stop(self) -> None:
        """Stop after the refresh under way, if any."""
        await self.ticker.stop()


async def dry_run(platform: Platform, caller: Caller, req: DryRun) -> DryRunResponse:
    """What placing `req.orders` would do to the account's risk; nothing is placed, nothing committed. Each order
    meets the pre-trade checks as the only new order; the margin check takes them all together."""
    if not can_see_account(platform, caller, req.account_id):
        raise not_found(f"account {req.account_id} not found")
    state = platform.state
    now = platform.now()
    asks: list[margins.Ask] = []
    refusal: risk.Refusal | None = None
    fees = EstimatedFillFee(clearing_fee=0.0, clearing_currency_id=USD, exchange_fee=0.0, exchange_currency_id=USD,
                            nfa_fee=0.0, nfa_currency_id=USD, commission=0.0, commission_currency_id=USD)
    for index, order in enumerate(req.orders):
        view = platform.order_view(caller, req.account_id, order.contract_id)
        if view is None or state.get(Contract, order.contract_id) is None:
            return DryRunResponse(error_text=f"orders[{index}].contractId: unknown contract {order.contract_id}",
                                  reject_reason=FailureReason.InvalidContract)
        asks.append(margins.Ask(contract_id=order.contract_id, terms=contract_terms(platform, order.contract_id, now),
                                action=order.action, qty=order.order_qty))
        per_side = view.instrument.fees
        fees = EstimatedFillFee(
            clearing_fee=_add(fees.clearing_fee, per_side.clearing_fee * order.order_qty),
            clearing_currency_id=USD, exchange_fee=_add(fees.exchange_fee, per_side.exchange_fee * order.order_qty),
            exchange_currency_id=USD, nfa_fee=_add(fees.nfa_fee, per_side.nfa_fee * order.order_qty),
            nfa_currency_id=USD, commission=_add(fees.commission, per_side.commission * order.order_qty),
            commission_currency_id=USD)
        refusal = refusal or _pre_trade(view, order)
    cash = state.get(CashBalance, state.cash_of.get(req.account_id, 0))
    total_fees = sum(f or 0.0 for f in (fees.clearing_fee, fees.exchange_fee, fees.nfa_fee, fees.commission))
    details = margins.evaluate(holdings(platform, req.account_id, now), asks, cash=cash.amount if cash else 0.0,
                               open_pnl=to_money(marks.account_open_pnl(platform, req.account_id)), fees=total_fees)
    if refusal is None and not details.is_exit_order and details.excess < 0 and \
            details.initial_margin_req > details.before_initial_margin_req:
        refusal = risk.Refusal(margins.REFUSAL, f"Insufficient margin: the orders need "
                                                f"{details.initial_margin_req:.2f} of initial margin, the net "
                                                f"liquidation value is {details.net_liq_value:.2f}")
    return DryRunResponse(reject_reason=refusal.reason if refusal else FailureReason.Success,
                          comment=refusal.text if refusal else None, details=details, fees=fees)


def _add(total: float | None, amount: float) -> float:
    return round((total or 0.0) + amount, 2)


def _pre_trade(view: OrderView, order: DryRunOrder) -> risk.Refusal | None:
    """The pre-trade checks `order/placeorder` would run on this order alone (margin apart)."""
    request = PlaceOrder(action=order.action, symbol=view.instrument.contract.id, order_qty=order.order_qty,
                         order_type=order.order_type, price=order.price, stop_price=order.stop_price)
    ticket = orders.to_ticket(request, order.action, order.order_qty, view.instrument.product.tick_size)
    if isinstance(ticket, risk.Refusal):
        return ticket
    buys = sum(w.version.order_qty - w.cum_qty for w in view.book.working if w.order.action is OrderAction.Buy)
    sells = sum(w.version.order_qty - w.cum_qty for w in view.book.working if w.order.action is OrderAction.Sell)
    net = view.book.position.net_pos if view.book.position else 0
    return orders.can_act(view) or risk.check_order(view, ticket, net_pos=net, working_buys=buys, working_sells=sells)
