"""The trade-date roll (`core.rollover`) carried out on every account: when the platform's trade date changes (the
real clock passing 17:00 Chicago, or `/sim/clock` moving across one or several days), every position and cash
balance dated before it is rolled to it and the updates are committed and published as `props` events, like any
other change.

The roll is idempotent (what is already dated today is left alone), so it is safe at start-up, after a reset and
on every clock move. One process rolls one at a time: a roll computed from the clock as it was before a move has
committed before the roll for the move starts, which rolls it back if the move went back. Several processes: the
date a process last rolled to is no proof that everything is on it (another process may have rolled since), so a
clock move looks at every account, and each process rolls again when it applies another's `/sim/clock` (a roll of
its own timer from its clock of before the control is undone before the control is acknowledged).

Accounts no command holds are rolled in batches (one commit per batch); an account busy with a command waits for
it and is rolled in its own commit. A command that fills on a new trade date before the sweep reaches its account
rolls the position and cash it touches itself (core.blotter), so no fill is ever booked on yesterday's counters.
"""

import asyncio
from datetime import date, datetime

from tradovate_sim.core.decision import Change, updated
from tradovate_sim.core.rollover import is_due, roll_cash, roll_position, settlement_price
from tradovate_sim.model.entities import CashBalance, Position
from tradovate_sim.model.ids import AccountId
from tradovate_sim.service.periodic import Periodic
from tradovate_sim.service.platform import Platform

BATCH = 500  # accounts per commit


class Rollover(Periodic):
    """Owned by the runtime: `roll()` on every clock move, and every `interval` seconds on the real clock."""

    task_name = "trade-date-roll"
    failure = "trade-date roll failed; retried at the next tick"

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.trade_date: date | None = None  # the trade date everything was last rolled to
        self.rolling = asyncio.Lock()  # one roll at a time: the timer's and a clock move's
        self.accounts_rolled = 0  # counters for tests and the benchmark
        self.commits = 0

    def forget(self) -> None:
        """After a reset or a reload: the next `roll()` looks at every account again."""
        self.trade_date = None

    async def tick(self) -> None:
        await self.roll()

    async def roll(self, *, everything: bool = False) -> None:
        """Roll every account with a position or cash balance dated before the current trade date. `everything`:
        look at every account even if this process last rolled to that date (after a clock move: another process
        may have rolled them to another date since)."""
        async with self.rolling:  # the clock is read inside: a roll waiting here rolls to the clock as it is then
            if everything:
                self.trade_date = None
            await self._roll()

    async def _roll(self) -> None:
        platform = self.platform
        today = platform.trade_date(platform.now())
        if today == self.trade_date:
            return
        due = self._due(today)
        busy: list[AccountId] = []
        for start in range(0, len(due), BATCH):
            batch = due[start:start + BATCH]
            async with platform.idle_accounts(batch) as held:
                now = platform.now()
                changes = [c for account_id in held for c in self._changes(account_id, today, now)]
                await self._commit(changes, len(held))
                taken = set(held)
                busy += [account_id for account_id in batch if account_id not in taken]
        for account_id in busy:
            async with platform.account(account_id):
                await self._commit(self._changes(account_id, today, platform.now()), 1)
        self.trade_date = today

    async def _commit(self, changes: list[Change], accounts: int) -> None:
        if changes:
            await self.platform.commit(changes)
            self.commits += 1
            self.accounts_rolled += accounts

    def _due(self, today: date) -> list[AccountId]:
        state = self.platform.state
        cash = state.table(CashBalance)
        positions = state.table(Position)
        due = {balance.account_id for balance in cash.values() if is_due(balance.trade_date, today)}
        due |= {position.account_id for position in positions.values() if is_due(position.trade_date, today)}
        return sorted(due)

    def _changes(self, account_id: AccountId, today: date, now: datetime) -> list[Change]:
        """The account's positions, then its cash balance, on trade date `today` (only what changes)."""
        platform = self.platform
        state = platform.state
        changes: list[Change] = []
        positions = state.table(Position)
        for contract_id, position_id in sorted(state.positions_of.get(account_id, {}).items()):
            position = positions[position_id]
            if not is_due(position.trade_date, today):
                continue
            instrument = platform.instrument(contract_id)
            settlement = None if instrument is None else settlement_price(
                platform.market.quotes.get(contract_id), instrument.product.tick_size)
            changes.append(updated(roll_position(position, today, now, settlement)))
        cash = state.get(CashBalance, state.cash_of.get(account_id, 0))
        if cash is not None and is_due(cash.trade_date, today):
            changes.append(updated(roll_cash(cash, today, now)))
        return changes
