"""Contract expiry carried out (`core.settlement`): when the clock passes the end of a contract's last trading session
(the real clock, a `/sim/clock` move, or a start-up after it passed while the server was down), every account's
book in it is settled: working orders Expired, running strategies ended, the position closed at the final
settlement price. One commit per account, under its lock, published as `props` like any other change.

The final settlement price is the contract's mark when it is settled (last trade, else the mid: the rule of the
trade-date roll's `prevPrice`). At start-up no quote has moved yet (quotes are not kept across restarts), so the
last fill recorded in the contract stands in for it.

An expired contract takes no new orders (its session is closed, then `TooLate`), so once settled nothing can open
on it again: it is not looked at again until a reset or a reload.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from tradovate_sim.core import settlement
from tradovate_sim.core.rollover import settlement_price
from tradovate_sim.core.sessions import Schedule
from tradovate_sim.model.entities import Contract, Fill, Position
from tradovate_sim.model.ids import AccountId, ContractId
from tradovate_sim.service.periodic import Periodic
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.simulator import SYSTEM


class Settlement(Periodic):
    """Owned by the runtime: `sweep()` after every move of the clock, at start-up, and every second of real time."""

    task_name = "contract-settlement"
    failure = "contract settlement sweep failed; the next one goes on"

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.ends: dict[ContractId, datetime] = {}  # contract -> the end of its last trading session
        self.settled: set[ContractId] = set()  # expired contracts with nothing left open on them
        self.books_settled = 0  # a counter for tests

    def forget(self) -> None:
        """After a reset or a reload: every contract is looked at again."""
        self.ends.clear()
        self.settled.clear()

    def end_of(self, contract_id: ContractId) -> datetime | None:
        found = self.ends.get(contract_id)
        if found is None:
            platform = self.platform
            instrument = platform.instrument(contract_id)
            if instrument is None:
                return None
            spec = platform.spec_of_product.get(instrument.product.id)
            last = instrument.last_trade_date
            schedule = Schedule() if spec is None else platform.calendar.schedule(spec, last, days_before=0,
                                                                                  days_after=0)
            found = self.ends[contract_id] = settlement.expires_at(schedule, last)
        return found

    def expired(self, now: datetime) -> list[ContractId]:
        """Contracts whose last session has ended and that were not settled yet."""
        found = []
        for contract_id in self.platform.state.table(Contract):
            contract = ContractId(contract_id)
            if contract not in self.settled and (end := self.end_of(contract)) is not None and end <= now:
                found.append(contract)
        return found

    def books(self, contract_ids: Iterable[ContractId]) -> dict[ContractId, list[AccountId]]:
        """The accounts with something open (working orders, running strategies, a position) in each contract."""
        state = self.platform.state
        found: defaultdict[ContractId, set[AccountId]] = defaultdict(set)
        wanted = set(contract_ids)
        if not wanted:  # the sweep's usual case, every second: no need to look at every position
            return {}
        for contract_id in wanted:
            found[contract_id] |= set(state.working_by_contract.get(contract_id, {}))
        for account_id, contract_id in state.strategies:
            if contract_id in wanted:
                found[contract_id].add(account_id)
        positions = state.table(Position)
        for (account_id, contract_id), position_id in state.positions.items():
            if contract_id in wanted and positions[position_id].net_pos != 0:
                found[contract_id].add(account_id)
        return {contract_id: sorted(found[contract_id]) for contract_id in sorted(wanted)}

    def price(self, contract_id: ContractId, restarted: bool) -> float | None:
        """The final settlement price: the contract's mark, or at start-up its last recorded fill."""
        platform = self.platform
        instrument = platform.instrument(contract_id)
        if instrument is None:
            return None
        if restarted:
            fills = [f for f in platform.state.table(Fill).values() if f.contract_id == contract_id]
            if fills:
                return max(fills, key=lambda f: f.id).price
        return settlement_price(platform.market.quotes.get(contract_id), instrument.product.tick_size)

    async def sweep(self, *, restarted: bool = False) -> int:
        """Settle every book of every contract that expired by now; returns how many books changed."""
        platform = self.platform
        fixed = platform.clock.fixed
        expired = self.expired(platform.now())
        settled = 0
        for contract_id, accounts in self.books(expired).items():
            price = self.price(contract_id, restarted) if accounts else None
            waiting = False
            for account_id in accounts:
                async with platform.account(account_id):
                    # the clock moved since (here, or elsewhere with its control on the way): looked at again on
                    # the new one (as order expiry, service/expiry.py)
                    if not await platform.clock_unmoved(fixed):
                        waiting = True
                        continue
                    view = platform.order_view(SYSTEM, account_id, contract_id)
                    if view is None:
                        continue
                    decision = settlement.settle(view, platform.now(), platform.ids, price)
                    if decision.changes:
                        await platform.commit(decision.changes)
                        settled += 1
            if not waiting:
                self.settled.add(contract_id)
        self.books_settled += settled
        return settled

    async def tick(self) -> None:
        await self.sweep()
