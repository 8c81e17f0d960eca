"""Time in force: Day orders expire when the session they were placed in closes, GTD orders at their `expireTime`.

`Expiry.sweep` runs every second and after every move of the simulated clock. Each order's deadline is computed
once per version, when the version commits (the platform publishes it), and queued by deadline: a sweep reads only
the orders that are due, so tens of thousands of working Day orders cost the event loop nothing between their
deadlines (a sweep that read every one of them held the loop for tens of milliseconds each second). A jump of the
clock across a close expires what the close would have: the deadline is a moment, compared with `now`.
"""

import heapq
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from tradovate_sim.core import orders, sessions
from tradovate_sim.core.decision import Change
from tradovate_sim.model.entities import Command, Order, OrderVersion
from tradovate_sim.model.enums import CommandStatus, CommandType, TimeInForce
from tradovate_sim.model.ids import AccountId, ContractId, OrderId
from tradovate_sim.model.kinds import ENTITY_TYPES
from tradovate_sim.service.periodic import Periodic
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.simulator import SYSTEM
from tradovate_sim.service.state import State

DAY_TEXT = "Day order expired at the session close"
GTD_TEXT = "GTD order expired at its expireTime"
VERSION = ENTITY_TYPES[OrderVersion]


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
    """Expires orders whose time in force has run out. Owned by the runtime, subscribed to the platform's commits:
    each committed version of an order that is Day or GTD has its deadline computed and queued; `sweep` runs every
    second and after every move of the clock."""

    task_name = "order-expiry"
    failure = "order expiry sweep failed; the next one goes on"

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        # a heap by deadline: (deadline, order, push number, the version the deadline is of); entries of orders
        # modified or done since are stale, dropped when they come up (or when they outnumber the live ones)
        self.queue: list[tuple[datetime, OrderId, int, OrderVersion]] = []
        self.pushes = itertools.count()
        self.fresh: dict[OrderId, None] = {}  # orders to (re)queue: a version committed, or due and not expired
        self.state: State | None = None  # the state the queue was built from (a reset or a reload replaces it)
        platform.fanout.subscribers.append(self)

    def publish(self, changes: Sequence[Change], seq: int) -> None:
        """A Fanout subscriber: the orders whose version changed are looked at by the next sweep."""
        del seq
        for change in changes:
            if change.entity_type == VERSION:  # a string comparison first: most changes are something else
                entity = change.entity
                if isinstance(entity, OrderVersion):
                    self.fresh[entity.order_id] = None

    def _queue(self, order_ids: Iterable[OrderId]) -> None:
        state, platform = self.platform.state, self.platform
        orders_, versions = state.table(Order), state.table(OrderVersion)
        for order_id in order_ids:
            if order_id not in state.expiring:
                continue
            version, order = versions.get(state.latest_version.get(order_id, 0)), orders_.get(order_id)
            if version is None or order is None:
                continue
            ends = deadline(platform, order, version)
            if ends is not None:
                heapq.heappush(self.queue, (ends, order_id, next(self.pushes), version))

    def due(self, now: datetime) -> dict[tuple[AccountId, ContractId], dict[OrderId, str]]:
        """The orders due at `now`, by book, with the text their execution report carries. Reads the queue's due
        head only (and the orders committed since the last call)."""
        state = self.platform.state
        if self.state is not state or len(self.queue) > 2 * len(state.expiring) + 1000:
            # start, reset, reload (or mostly stale entries): every expiring order, once
            self.state, self.queue, self.fresh = state, [], {}
            self._queue(list(state.expiring))
        elif self.fresh:
            fresh, self.fresh = self.fresh, {}
            self._queue(fresh)
        orders_, versions = state.table(Order), state.table(OrderVersion)
        found: defaultdict[tuple[AccountId, ContractId], dict[OrderId, str]] = defaultdict(dict)
        queue = self.queue
        while queue and queue[0][0] <= now:
            _, order_id, _, version = heapq.heappop(queue)
            # stale entries (the order was modified, filled or cancelled since) are dropped here
            if order_id not in state.expiring or versions.get(state.latest_version.get(order_id, 0)) is not version:
                continue
            self.fresh[order_id] = None  # queued again by the next sweep if it is still working then (a retry)
            order = orders_[order_id]
            gtd = version.time_in_force is TimeInForce.GTD
            found[(order.account_id, order.contract_id)][order_id] = GTD_TEXT if gtd else DAY_TEXT
        return found

    async def sweep(self) -> int:
        """Expire every order due by now; returns how many were due."""
        platform = self.platform
        fixed = platform.clock.fixed
        due = self.due(platform.now())
        for (account_id, contract_id), texts in due.items():
            async with platform.account(account_id):
                # the clock moved since (here, or elsewhere with its control on the way): these orders were due on
                # the clock of before; each is queued again and is due, or not, on the new one
                if not await platform.clock_unmoved(fixed):
                    continue
                view = platform.order_view(SYSTEM, account_id, contract_id)
                if view is None:
                    continue
                decision = orders.expire(view, texts, platform.now(), platform.ids)
                await platform.commit(decision.changes)
        return sum(len(texts) for texts in due.values())

    async def tick(self) -> None:
        await self.sweep()

