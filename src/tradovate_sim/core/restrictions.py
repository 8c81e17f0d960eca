"""What the post-trade engine's restrictions are and when they end: the lock and the liquidation-only mode a breach
sets, the holds an admin places, and what an admin's action does to them. Pure: entities and dates in, entities out.

A lock lasts for its breach's span (core.autoliq.Span): a Day lock ends with the trade date, a Week lock with the
week (its first trade date is a Monday; the session opens Sunday 17:00 CT), an UntilCleared lock only by an admin.
`doNotUnlock` keeps every lock until an admin clears it. Liquidation-only mode ends with the trade date.
"""

from datetime import date, datetime, timedelta

import msgspec

from tradovate_sim.core.autoliq import Span, cleared
from tradovate_sim.model.entities import AccountRiskStatus, AutoLiqState
from tradovate_sim.model.enums import AdminAction

HOLD = timedelta(minutes=1)  # PlaceAutoLiqOnHold, AgreedOnLiqOnlyModeByAutoLiq
LOCKED = frozenset({AdminAction.LockTradingImmediately, AdminAction.LiquidateImmediately})
SPAN_ORDER = {Span.Day: 0, Span.Week: 1, Span.UntilCleared: 2}  # a longer span wins when locks add up


def week_of(trade_date: date) -> date:
    """The first trade date of the week (a Monday: its session opens Sunday 17:00 CT)."""
    return trade_date - timedelta(days=trade_date.weekday())


def lock_ended(span: str | None, since: date | None, trade_date: date) -> bool:
    if since is None:
        return False
    if span == Span.Day:
        return trade_date > since
    if span == Span.Week:
        return week_of(trade_date) > week_of(since)
    return False


def unlocked(status: AccountRiskStatus, saved: AutoLiqState, trade_date: date,
             do_not_unlock: bool | None) -> AccountRiskStatus:
    """The status once the engine's restrictions that ended with the trade date are lifted."""
    if not do_not_unlock and lock_ended(saved.lock_span, saved.lock_trade_date, trade_date) and \
            status.admin_action is AdminAction.LockTradingImmediately:
        status = msgspec.structs.replace(status, admin_action=AdminAction.Normal)
    if saved.liq_only_trade_date is not None and trade_date > saved.liq_only_trade_date and \
            status.liquidate_only is not None:
        status = msgspec.structs.replace(status, liquidate_only=None)
    return status


def unlocked_state(saved: AutoLiqState, trade_date: date, do_not_unlock: bool | None) -> AutoLiqState:
    """The engine's record once the restrictions that ended with the trade date are lifted."""
    if not do_not_unlock and lock_ended(saved.lock_span, saved.lock_trade_date, trade_date):
        saved = msgspec.structs.replace(saved, lock_span=None, lock_trade_date=None)
    if saved.liq_only_trade_date is not None and trade_date > saved.liq_only_trade_date:
        saved = msgspec.structs.replace(saved, liq_only_trade_date=None)
    return saved


def cleared_state(saved: AutoLiqState) -> AutoLiqState:
    """What an admin's `Normal` or `resetautoliqstatus` leaves: no restriction, hold or pending liquidation of the
    engine's, and every rule re-armed (one still breached fires again at the next evaluation)."""
    return msgspec.structs.replace(saved, fired=tuple(sorted(cleared(frozenset(saved.fired)))), lock_span=None,
                                   lock_trade_date=None, liq_only_trade_date=None, pending_liquidation=False,
                                   hold_until=None, agreed_liq_only_until=None, disabled=False)


def after_admin_action(saved: AutoLiqState, action: AdminAction, now: datetime) -> AutoLiqState:
    """The engine's record after `setadminautoliqaction`: Normal clears it; an admin's own lock or mode replaces
    the engine's (the engine never lifts an admin's); the internal actions hold or disable auto-liquidation."""
    match action:
        case AdminAction.Normal:
            return cleared_state(saved)
        case AdminAction.LockTradingImmediately | AdminAction.LiquidateImmediately | \
                AdminAction.LiquidateOnlyModeImmediately:
            return msgspec.structs.replace(saved, lock_span=None, lock_trade_date=None, liq_only_trade_date=None)
        case AdminAction.PlaceAutoLiqOnHold:
            return msgspec.structs.replace(saved, hold_until=now + HOLD)
        case AdminAction.DisableAutoLiq:
            return msgspec.structs.replace(saved, disabled=True)
        case AdminAction.AgreedOnLiqOnlyModeByAutoLiq:
            return msgspec.structs.replace(saved, agreed_liq_only_until=now + HOLD)
        case AdminAction.AgreedOnLiquidationByAutoLiq:
            return saved
    return saved
