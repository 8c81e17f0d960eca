"""Time in force: Day orders expire when the session they were placed in closes, GTD orders at their `expireTime`.

`Expiry.sweep` runs every second and after every move of the simulated clock; it reads only the
orders whose latest version is Day or GTD (an index of the state), so the other working orders cost nothing. A jump
of the clock across a close expires what the close would have: the deadline is a moment, compared with `now`.
"""

from collections import defaultdict
from datetime import datetime

from tradovate_sim.core import orders, sessions
from tradovate_sim.model.entities import Command, Order, OrderVersion
from tradovate_sim.model.enums import CommandStatus, CommandType, TimeInForce
from tradovate_sim.model.ids import AccountId, ContractId, OrderId
from tradovate_sim.service.periodic import Periodic
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.simulator import SYSTEM

DAY_TEXT = "Day order expired at the session close"
GTD_TEXT = "GTD order expired at its expireTime"


def deadline(platform: Platform, order: Order, version: OrderVersion) -> datetime | None:
    """When the order's time in force runs out: the close of the session it was placed (or last modified) in, the
    next session when that was while closed, for Day; its `expireTime` for GTD; None when it does not run out by
    itself."""
    if version.time_in_force is TimeInForce.GTD:
        return version.expire_time
    if version.time_in_force is not TimeInForce.Day:
        return None
    instrument = platform.instrument(order.contract_id)
    if instrument is None:
        return None
    since = _day_since(platform, order)
    schedule = platform.schedule(instrument.product, since)
    return None if schedule is None else sessions.close_after(schedule, since)


def _day_since(platform: Platform, order: Order) -> datetime:
    """The moment a Day order's day is counted from: its last modify that was carried out (a GTC order made Day on
    Wednesday is Wednesday's), else its placement."""
    since = order.timestamp
    commands = platform.state.table(Command)
    for command_id in platform.state.children["command"].get(order.id, {}):
        command = commands.get(command_id)
        if command is not None and command.command_type is CommandType.Modify and \
                command.command_status is not CommandStatus.RiskRejected:
            since = max(since, command.timestamp)
    return since


class Expiry(Periodic):
    """Expires orders whose time in force has run out; remembers each order's deadline per version. Owned by the
    runtime: `sweep` runs after every market tick and every move of the clock."""

    task_name = "order-expiry"
    failure = "order expiry sweep failed; the next one goes on"

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        # order -> (its latest version, its deadline); the version itself, not its id: ids restart after a reset
        self.deadlines: dict[OrderId, tuple[OrderVersion, datetime | None]] = {}

    def due(self, now: datetime) -> dict[tuple[AccountId, ContractId], dict[OrderId, str]]:
        """The orders due at `now`, by book, with the text their execution report carries."""
        state, platform = self.platform.state, self.platform
        orders_, versions = state.table(Order), state.table(OrderVersion)
        found: defaultdict[tuple[AccountId, ContractId], dict[OrderId, str]] = defaultdict(dict)
        if len(self.deadlines) > 2 * len(state.expiring) + 100:
            self.deadlines = {k: v for k, v in self.deadlines.items() if k in state.expiring}
        for order_id in state.expiring:
            version = versions.get(state.latest_version.get(order_id, 0))
            known = self.deadlines.get(order_id)
            if known is None or known[0] is not version:
                order = orders_.get(order_id)
                if order is None or version is None:
                    continue
                known = self.deadlines[order_id] = (version, deadline(platform, order, version))
            ends = known[1]
            if ends is not None and ends <= now:
                order = orders_[order_id]
                gtd = known[0].time_in_force is TimeInForce.GTD
                found[(order.account_id, order.contract_id)][order_id] = GTD_TEXT if gtd else DAY_TEXT
        return found

    async def sweep(self) -> int:
        """Expire every order due by now; returns how many were due."""
        platform = self.platform
        due = self.due(platform.now())
        for (account_id, contract_id), texts in due.items():
            async with platform.account(account_id):
                view = platform.order_view(SYSTEM, account_id, contract_id)
                if view is None:
                    continue
                decision = orders.expire(view, texts, platform.now(), platform.ids)
                await platform.commit(decision.changes)
        return sum(len(texts) for texts in due.values())

    async def tick(self) -> None:
        await self.sweep()
