"""The post-trade risk engine: decides when to evaluate an account's `UserAccountAutoLiq` rules
(`core.autoliq.evaluate`) and carries out what a breach does.

When: every committed change of an account's positions, cash or rules marks the account dirty (this object is a
`Fanout` subscriber); a quote marks dirty the accounts holding that contract whose mark left their calm band (an
index of open positions by contract, only accounts with rules); time (a trade-date roll, a flatten time, the end of
a hold, a liquidation waiting for the open) marks dirty the accounts it concerns. `drain()` evaluates every dirty
account and waits until what they breached is carried out and durable: the endpoint table, the simulator controls
and the market loop call it before they answer, outside any account lock.

What: Alert -> an `adminAlertSignal`; LiquidationOnly -> `AccountRiskStatus.liquidateOnly` until the next session;
AutoLiquidate -> locked (`LockTradingImmediately`), then every working order cancelled and every position closed
through `liquidateposition`'s path; Flatten -> the same liquidation, then liquidation-only until the next session.
An `accountRiskStatusLog` records each. What must survive a restart is in the internal `autoLiqState` entity.
A breach's restrictions, log and engine state are committed together with its liquidation, under the account's
lock (one commit per breached account). Water marks alone are applied to memory at once and written in batched
commits (FLUSH_BATCH accounts each) every WATER_FLUSH seconds (or with the account's next commit of its status).
"""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

import msgspec

from tradovate_sim.core.autoliq import (
    Breach,
    Effect,
    Span,
    Verdict,
    cents,
    evaluate,
    mark_ticks,
    price_band,
)
from tradovate_sim.core.autoliq import Mark as RiskMark
from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.restrictions import (
    LOCKED,
    SPAN_ORDER,
    after_admin_action,
    cleared_state,
    unlocked,
    unlocked_state,
    week_of,
)
from tradovate_sim.model.entities import (
    AccountRiskStatus,
    AccountRiskStatusLog,
    AdminAlert,
    AdminAlertSignal,
    AutoLiqState,
    CashBalance,
    CashBalanceLog,
    MarginSnapshot,
    Position,
    UserAccountAutoLiq,
)
from tradovate_sim.model.enums import AdminAction, EventType
from tradovate_sim.model.ids import AccountId, ContractId
from tradovate_sim.model.kinds import ENTITY_TYPES
from tradovate_sim.service import marks
from tradovate_sim.service.flattening import TRANSFERS, flatten
from tradovate_sim.service.periodic import Ticker
from tradovate_sim.service.platform import Platform

log = logging.getLogger("tradovate_sim.autoliq")

WATER_FLUSH = 1.0  # seconds: water marks reach the file at most this long after they change in memory
FLUSH_BATCH = 500  # accounts per commit of water marks
LIQUIDATE = frozenset({Effect.AutoLiquidate, Effect.Flatten})
# the kinds `publish` reads: a batch's other changes (orders, versions, commands, reports, fills...) are skipped by
# name, before any isinstance test
WATCHED = frozenset(ENTITY_TYPES[kind] for kind in (AccountRiskStatus, Position, CashBalance, CashBalanceLog,
                                                    MarginSnapshot, UserAccountAutoLiq))
Bands = tuple[float, float, float, float]  # (calm low, calm high, wide low, wide high), marks in ticks


class AutoLiquidation:
    """Owned by the runtime; subscribed to the platform's commits and quotes."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.dirty: dict[AccountId, None] = {}
        self.running: dict[AccountId, asyncio.Task[None]] = {}
        self.closing: set[AccountId] = set()  # to evaluate as at the trade date's close (EOD trailing)
        # contract -> accounts with rules holding a position there -> the price band (ticks) within which the quote
        # leaves the account calm; None: evaluate on every quote (several positions, or not evaluated yet)
        # leaves the account calm, then the wider band (the low water ignored) within which only the low water moves
        self.holders: dict[ContractId, dict[AccountId, Bands | None]] = defaultdict(dict)
        self.timed: dict[AccountId, datetime] = {}  # the next moment an account must be evaluated again
        self.pending: set[AccountId] = set()  # liquidations waiting for the market to open
        self.trade_date: date | None = None
        self.last_time: datetime | None = None
        self.timer = Ticker("autoliq-clock", 1.0, self.clock_tick, log=log)
        self.evaluations = 0  # counters for the benchmark and tests
        self.liquidations = 0
        self.flushes = 0
        # accounts whose water marks (AccountRiskStatus.maxNetLiq/minNetLiq) changed in memory only: written by the
        # next flush, every WATER_FLUSH seconds, or by the account's next commit of its status
        self.unflushed: dict[AccountId, None] = {}
        self.flusher = Ticker("autoliq-water-marks", WATER_FLUSH, self.flush_tick, log=log)

    # --- wiring -----------------------------------------------------------------------------------------------

    def attach(self) -> None:
        """Subscribe to commits and quotes; index what is already loaded (start-up, after a reset)."""
        platform = self.platform
        if self.quotes_changed not in platform.quote_listeners:
            platform.fanout.subscribers.append(self)
            platform.quote_listeners.append(self.quotes_changed)
        self.reindex()

    def reindex(self) -> None:
        state = self.platform.state
        self.dirty.clear()
        self.unflushed.clear()
        self.closing.clear()
        self.holders.clear()
        self.timed.clear()
        self.last_time = None
        self.pending = {s.id for s in state.table(AutoLiqState).values() if s.pending_liquidation}
        self.trade_date = self.platform.trade_date(self.platform.now())
        for account_id in state.table(UserAccountAutoLiq):
            self.index_account(AccountId(account_id))
            self.dirty[AccountId(account_id)] = None

    def index_account(self, account_id: AccountId) -> None:
        for position in marks.open_positions(self.platform, account_id):
            self.holders[position.contract_id][account_id] = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self.timer.task

    def start(self, interval: float = 1.0) -> None:
        """Start the timers (nothing if they run); again after a `stop()`."""
        self.timer.interval = interval
        self.timer.start()
        self.flusher.start()

    async def stop(self) -> None:
        """Stop the timers (after the tick under way, if any); the water marks still in memory only are written."""
        await self.timer.stop()
        await self.flusher.stop()
        await self.flush_water_marks()

    async def clock_tick(self) -> None:
        """Time-based work on the platform's clock, every second; a failure is logged, the timer goes on."""
        try:
            await self.time_moved()
        except Exception:
            log.exception("auto-liquidation clock tick failed")

    # --- what makes an account dirty --------------------------------------------------------------------------

    def publish(self, changes: Sequence[Change], seq: int) -> None:
        """A Fanout subscriber: committed positions, cash and rules mark their account dirty."""
        del seq
        watched = self.platform.state.table(UserAccountAutoLiq).get  # accounts with rules (a C call per change)
        for change in changes:
            if change.entity_type not in WATCHED:
                continue
            entity = change.entity
            if isinstance(entity, AccountRiskStatus):
                self.unflushed.pop(entity.id, None)  # written with everything in memory (see flush_water_marks)
            elif isinstance(entity, Position):
                if watched(entity.account_id) is None:
                    continue
                holders = self.holders[entity.contract_id]
                if entity.net_pos != 0:
                    holders[entity.account_id] = None
                else:
                    holders.pop(entity.account_id, None)
                self.dirty[entity.account_id] = None
            elif change.entity_type == "cashBalance" or isinstance(entity, CashBalanceLog):
                account_id = entity.account_id  # type: ignore[union-attr]
                if watched(account_id) is not None:
                    self.dirty[account_id] = None
            elif isinstance(entity, MarginSnapshot):  # a position's margin changed, or day margins ended
                if watched(entity.id) is not None:
                    self.dirty[entity.id] = None
            elif isinstance(entity, UserAccountAutoLiq):
                if change.event_type is EventType.Deleted:
                    for holders in self.holders.values():
                        holders.pop(entity.id, None)
                    continue
                self.index_account(entity.id)
                self.dirty[entity.id] = None

    def quotes_changed(self, contract_ids: Sequence[ContractId]) -> None:
        """Mark dirty the accounts whose position in a moved contract left its calm band: O(positions there)."""
        quotes = self.platform.market.quotes
        dirty = self.dirty
        for contract_id in contract_ids:
            holders = self.holders.get(contract_id)
            if not holders:
                continue
            mark = mark_ticks(quotes.get(contract_id))
            if mark is None:
                continue
            lows = []
            for account_id, band in holders.items():
                if band is None:
                    dirty[account_id] = None
                elif not band[0] < mark < band[1]:
                    if band[2] < mark < band[3]:
                        lows.append(account_id)
                    else:
                        dirty[account_id] = None
            for account_id in lows:
                self._new_low(account_id, contract_id, mark)

    def _new_low(self, account_id: AccountId, contract_id: ContractId, mark: float) -> None:
        """A mark that moves nothing but the account's low water (no rule, level or high water): the new low is
        kept in memory at once (written like every water mark) without an evaluation. An account a command holds
        or that is dirty anyway is evaluated instead."""
        platform = self.platform
        state = platform.state
        band = self.holders[contract_id].get(account_id)
        position = state.get(Position, state.positions.get((account_id, contract_id), 0))
        cash = marks.cash_of(platform, account_id)
        status = state.get(AccountRiskStatus, account_id)
        if account_id in platform.locks or account_id in self.dirty or band is None or position is None or \
                cash is None or status is None:
            self.dirty[account_id] = None
            return
        low = round(cents(cash + marks.position_pnl(platform, position)), 2)
        if status.min_net_liq is None or low < status.min_net_liq:
            state.apply(updated(msgspec.structs.replace(status, min_net_liq=low)))
            self.unflushed[account_id] = None
        # the calm band now reaches this mark on the side where the net liq falls
        lowered = (mark, band[1]) if position.net_pos > 0 else (band[0], mark)
        self.holders[contract_id][account_id] = (*lowered, band[2], band[3])

    def touch(self, account_id: AccountId) -> None:
        if self.platform.state.get(UserAccountAutoLiq, account_id) is not None:
            self.dirty[account_id] = None

    async def time_moved(self) -> None:
        """The clock moved (a tick of the real clock, or /sim/clock): a trade-date roll evaluates every account with
        rules as at the close; due flatten times and holds, and liquidations waiting for the open, are retried."""
        platform = self.platform
        now = platform.now()
        if now == self.last_time:  # seen already (the tick may have come first): wait for what it started
            await self.drain()
            return
        self.last_time = now
        trade_date = platform.trade_date(now)
        if trade_date != self.trade_date:
            self.trade_date = trade_date
            for account_id in platform.state.table(UserAccountAutoLiq):
                self.closing.add(AccountId(account_id))
                self.dirty[AccountId(account_id)] = None
        for account_id, due in list(self.timed.items()):
            if due <= now:
                del self.timed[account_id]
                self.dirty[account_id] = None
        for account_id in self.pending:
            self.dirty[account_id] = None
        await self.drain()

    # --- evaluation -------------------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Evaluate every dirty account (each at most once at a time) and wait until all that are being evaluated
        are done: breaches acted on and committed."""
        while self.dirty or self.running:
            for account_id in list(self.dirty):
                if account_id not in self.running:
                    del self.dirty[account_id]
                    self.running[account_id] = asyncio.create_task(self._guarded(account_id))
            if self.running:
                await asyncio.wait(list(self.running.values()))

    async def _guarded(self, account_id: AccountId) -> None:
        try:
            await self.check(account_id)
        except Exception:
            log.exception("auto-liquidation of account %s failed", account_id)
        finally:
            self.running.pop(account_id, None)

    async def check(self, account_id: AccountId) -> None:
        """Evaluate one account's rules now and carry out what is newly breached, all under the account's lock:
        the lock (or mode) and the liquidation land in one commit, so no order can slip in between."""
        platform = self.platform
        rules = platform.state.get(UserAccountAutoLiq, account_id)
        if rules is None:
            return
        self.evaluations += 1
        close = account_id in self.closing
        self.closing.discard(account_id)
        async with platform.account(account_id):
            step = self._evaluate(account_id, rules, close)
            if step is None:
                return
            changes, saved, verdict, cash = step
            if saved.pending_liquidation:
                await self._liquidate(account_id, changes, saved)
            elif changes:
                await platform.commit(changes)
            self._remember(account_id, rules, verdict, saved, cash=cash, now=platform.now())

    def _evaluate(self, account_id: AccountId, rules: UserAccountAutoLiq,
                  close: bool) -> tuple[list[Change], AutoLiqState, Verdict, float] | None:
        """Under the account's lock: the verdict, and the changes it makes (restrictions, alerts, the engine's
        state), to commit in one step; a change of the water marks alone is applied to memory at once and written
        by the next flush (`flush_water_marks`) or with the account's next commit."""
        platform = self.platform
        state = platform.state
        cash = marks.cash_of(platform, account_id)
        status = state.get(AccountRiskStatus, account_id)
        if cash is None or status is None:
            return None
        now = platform.now()
        trade_date = platform.trade_date(now)
        net_liq = cash + marks.account_open_pnl(platform, account_id)
        before = state.get(AutoLiqState, account_id)
        saved = self._rolled(account_id, before, net_liq, trade_date)
        saved = self._with_transfers(account_id, saved)
        risk = unlocked(status, saved, trade_date, rules.do_not_unlock)
        saved = unlocked_state(saved, trade_date, rules.do_not_unlock)
        verdict = evaluate(rules, RiskMark(
            net_liq=net_liq, day_base=saved.day_base, week_base=saved.week_base, now=now,
            margin_used=marks.margin_used(platform, account_id), high_water=risk.max_net_liq,
            low_water=risk.min_net_liq, fired=frozenset(saved.fired)), close=close)
        risk = msgspec.structs.replace(risk, max_net_liq=round(verdict.high_water, 2),
                                       min_net_liq=round(verdict.low_water, 2))
        acted, suppressed = self._filter(saved, verdict, now)
        saved = msgspec.structs.replace(saved, fired=tuple(sorted(verdict.fired - suppressed)))
        changes: list[Change] = []
        risk, saved = self._act(account_id, acted, risk, saved, now=now, trade_date=trade_date, changes=changes)
        if not changes and saved == before and risk != status and msgspec.structs.replace(
                risk, max_net_liq=status.max_net_liq, min_net_liq=status.min_net_liq) == status:
            state.apply(updated(risk))  # water marks only: in memory now, in the file within WATER_FLUSH
            self.unflushed[account_id] = None
            return changes, saved, verdict, cash
        if risk != status:
            changes.append(updated(risk))
            if (risk.admin_action, risk.liquidate_only) != (status.admin_action, status.liquidate_only):
                changes.append(created(self._log(account_id, risk, now, saved.reason if acted else "unlocked")))
        if saved != before and not saved.pending_liquidation:  # a pending liquidation commits it with its orders
            changes.append(created(saved) if before is None else updated(saved))
        return changes, saved, verdict, cash

    def _rolled(self, account_id: AccountId, saved: AutoLiqState | None, net_liq: float,
                trade_date: date) -> AutoLiqState:
        """The bases of the current trade date and week: a new trade date starts at the net liq now."""
        week = week_of(trade_date)
        if saved is None:
            logs = self.platform.state.children["cashBalanceLog"].get(account_id, {})
            return AutoLiqState(id=account_id, trade_date=trade_date, day_base=net_liq, week_start=week,
                                week_base=net_liq, last_log_id=max(logs, default=0))
        if saved.trade_date == trade_date:
            return saved
        same_week = saved.week_start == week
        return msgspec.structs.replace(saved, trade_date=trade_date, day_base=net_liq,
                                       week_start=week, week_base=saved.week_base if same_week else net_liq)

    def _with_transfers(self, account_id: AccountId, saved: AutoLiqState) -> AutoLiqState:
        """Cash moved in or out since the bases were taken moves the bases too (a deposit is not a profit)."""
        logs = self.platform.state.children["cashBalanceLog"].get(account_id)
        if not logs:
            return saved
        table = self.platform.state.table(CashBalanceLog)
        delta, last = 0.0, saved.last_log_id
        for log_id in reversed(logs):
            if log_id <= saved.last_log_id:
                break
            last = max(last, log_id)
            entry = table[log_id]
            if entry.cash_change_type in TRANSFERS:
                delta += entry.delta
        if last == saved.last_log_id:
            return saved
        return msgspec.structs.replace(saved, last_log_id=last, day_base=round(saved.day_base + delta, 2),
                                       week_base=round(saved.week_base + delta, 2))

    def _filter(self, saved: AutoLiqState, verdict: Verdict, now: datetime) -> tuple[list[Breach], frozenset[str]]:
        """The breaches to act on now, and those held back by an admin (they stay armed and fire when the hold
        ends): `DisableAutoLiq` and `PlaceAutoLiqOnHold` hold back every breach, `AgreedOnLiqOnlyModeByAutoLiq` the
        liquidations only."""
        if saved.disabled or (saved.hold_until is not None and now < saved.hold_until):
            held = list(verdict.breaches)
        elif saved.agreed_liq_only_until is not None and now < saved.agreed_liq_only_until:
            held = [b for b in verdict.breaches if b.effect in LIQUIDATE]
        else:
            held = []
        return [b for b in verdict.breaches if b not in held], frozenset(b.rule for b in held)

    def _act(self, account_id: AccountId, acted: list[Breach], risk: AccountRiskStatus, saved: AutoLiqState, *,
             now: datetime, trade_date: date, changes: list[Change]) -> tuple[AccountRiskStatus, AutoLiqState]:
        """Alerts, liquidation-only mode and the lock, as changes; the liquidation itself follows the commit."""
        if not acted:
            return risk, saved
        effects = {b.effect for b in acted}
        for breach in acted:
            if breach.effect is Effect.Alert:
                changes.extend(self._alert(account_id, breach, now))
        if effects & {Effect.LiquidationOnly, Effect.Flatten}:
            risk = msgspec.structs.replace(risk, liquidate_only=risk.liquidate_only or now)
            saved = msgspec.structs.replace(saved, liq_only_trade_date=trade_date)
        locks = [b.span for b in acted if b.effect is Effect.AutoLiquidate]
        if locks:
            admin_lock = risk.admin_action in LOCKED and saved.lock_span is None
            if not admin_lock:  # an admin's own lock stays the admin's: the engine never lifts it
                span = max([*locks, *([Span(saved.lock_span)] if saved.lock_span else [])], key=SPAN_ORDER.__getitem__)
                risk = msgspec.structs.replace(risk, admin_action=AdminAction.LockTradingImmediately,
                                               admin_timestamp=now)
                saved = msgspec.structs.replace(saved, lock_span=span.value, lock_trade_date=trade_date)
        for _ in (b for b in acted if b.effect in LIQUIDATE):
            self.platform.telemetry.auto_liq_breached()  # the operators' count of breaches that liquidate
        if effects & LIQUIDATE:
            saved = msgspec.structs.replace(saved, pending_liquidation=True)
            self.pending.add(account_id)
        return risk, msgspec.structs.replace(saved, reason="; ".join(b.text for b in acted))

    def _alert(self, account_id: AccountId, breach: Breach, now: datetime) -> list[Change]:
        state = self.platform.state
        name = f"Auto-liquidation alert: {breach.rule}"
        changes: list[Change] = []
        alert = next((a for a in state.table(AdminAlert).values() if a.name == name), None)
        if alert is None:
            alert = AdminAlert(id=self.platform.ids.next("adminAlert"), name=name, timestamp=now)
            changes.append(created(alert))
        account = self.platform.state.get("account", account_id)
        user_id = getattr(account, "user_id", None)
        signal = AdminAlertSignal(id=self.platform.ids.next("adminAlertSignal"), timestamp=now,
                                  admin_alert_id=alert.id, text=breach.text, email_sent=False, subject_id=account_id,
                                  related_to_account_id=account_id, related_to_user_id=user_id, completed=False)
        return [*changes, created(signal)]

    def _log(self, account_id: AccountId, risk: AccountRiskStatus, now: datetime,
             reason: str | None) -> AccountRiskStatusLog:
        return AccountRiskStatusLog(
            id=self.platform.ids.next("accountRiskStatusLog"), account_id=account_id, timestamp=now,
            admin_action=risk.admin_action, admin_timestamp=risk.admin_timestamp, liquidate_only=risk.liquidate_only,
            admin_action_reason=f"AutoLiq: {reason}" if reason else None)

    def _remember(self, account_id: AccountId, rules: UserAccountAutoLiq, verdict: Verdict, saved: AutoLiqState, *,
                  cash: float, now: datetime) -> None:
        """The calm band of each open position for the per-quote fast path, and the next timed evaluation."""
        platform = self.platform
        positions = marks.open_positions(platform, account_id)
        band: Bands | None = None
        if len(positions) == 1:
            position = positions[0]
            terms = marks.contract_terms(platform, position.contract_id)
            if terms is not None and position.net_price is not None:
                calm = price_band(verdict.calm_low, verdict.calm_high, rest=cash, net_pos=position.net_pos,
                                  net_price=position.net_price, terms=terms)
                wide = price_band(verdict.calm_floor, verdict.calm_high, rest=cash, net_pos=position.net_pos,
                                  net_price=position.net_price, terms=terms)
                band = (*calm, *wide)
        for position in positions:
            self.holders[position.contract_id][account_id] = band
        moments = [m for m in (saved.hold_until, saved.agreed_liq_only_until) if m is not None and m > now]
        flatten = rules.flatten_timestamp
        if flatten is not None and flatten > now:
            moments.append(flatten)
        if moments:
            self.timed[account_id] = min(moments)
        else:
            self.timed.pop(account_id, None)

    # --- liquidation ------------------------------------------------------------------------------------------

    async def _liquidate(self, account_id: AccountId, changes: list[Change], saved: AutoLiqState) -> None:
        """Flatten the account (service/flattening.py) with the evaluation's changes folded in; a contract whose
        market is closed keeps the liquidation pending for the next clock tick."""
        done = await flatten(self.platform, account_id, changes, saved)
        self.liquidations += done.liquidated
        if not done.waiting:
            self.pending.discard(account_id)

    # --- water marks ------------------------------------------------------------------------------------------

    async def flush_tick(self) -> None:
        try:
            await self.flush_water_marks()
        except Exception:
            log.exception("auto-liquidation water marks flush failed")

    async def flush_water_marks(self) -> None:
        """Write the water marks changed in memory since their account's last commit, FLUSH_BATCH accounts per
        commit (a quote that moves the marks of 100k accounts must not hold the event loop while one commit of them
        all is built, encoded and applied); an account a command holds right now is left for the next flush (or
        that command's own commit)."""
        if not self.unflushed:
            return
        platform = self.platform
        waiting = list(self.unflushed)
        for start in range(0, len(waiting), FLUSH_BATCH):
            async with platform.idle_accounts(waiting[start:start + FLUSH_BATCH]) as held:
                table = platform.state.table(AccountRiskStatus)
                changes: list[Change] = [updated(table[a]) for a in held if a in table]
                if changes:
                    self.flushes += 1
                    await platform.commit(changes)  # landing clears `unflushed` (publish)
                for account_id in held:
                    if account_id not in table:
                        self.unflushed.pop(account_id, None)

    # --- the risk desk ----------------------------------------------------------------------------------------

    def on_admin_action(self, account_id: AccountId, action: AdminAction, now: datetime) -> list[Change]:
        """The engine's side of `setadminautoliqaction` (the caller holds the account's lock and commits these with
        the status): core.restrictions.after_admin_action, and the holds' end on the timer."""
        saved = self.platform.state.get(AutoLiqState, account_id)
        if saved is None:
            return []
        changed = after_admin_action(saved, action, now)
        if action is AdminAction.Normal:
            self.pending.discard(account_id)
        for until in (changed.hold_until, changed.agreed_liq_only_until):
            if until is not None and until > now:  # evaluated again when the hold ends
                self.timed[account_id] = min(until, self.timed.get(account_id, until))
        return [] if changed == saved else [updated(changed)]

    def cleared(self, saved: AutoLiqState) -> AutoLiqState:
        """`resetautoliqstatus`: core.restrictions.cleared_state, and no liquidation waiting any more."""
        self.pending.discard(saved.id)
        return cleared_state(saved)


