"""When the post-trade engine's restrictions end, and what an admin's action does to them (core/restrictions.py)."""

from datetime import UTC, date, datetime

from tradovate_sim.core.restrictions import HOLD, after_admin_action, lock_ended, unlocked, unlocked_state, week_of
from tradovate_sim.model.entities import AccountRiskStatus, AutoLiqState
from tradovate_sim.model.enums import AdminAction
from tradovate_sim.model.ids import AccountId

TUESDAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def state(**fields: object) -> AutoLiqState:
    return AutoLiqState(id=AccountId(7), trade_date=TUESDAY, day_base=100_000.0, week_start=week_of(TUESDAY),
                        week_base=100_000.0, **fields)  # type: ignore[arg-type]


def locked() -> AccountRiskStatus:
    return AccountRiskStatus(id=AccountId(7), admin_action=AdminAction.LockTradingImmediately, liquidate_only=NOW)


def test_a_day_lock_ends_with_the_trade_date_and_a_week_lock_with_the_week() -> None:
    assert not lock_ended("Day", TUESDAY, TUESDAY)
    assert lock_ended("Day", TUESDAY, date(2026, 11, 25))
    assert not lock_ended("Week", TUESDAY, date(2026, 11, 27))  # Friday: the same week
    assert lock_ended("Week", TUESDAY, date(2026, 11, 30))  # next Monday's trade date (opens Sunday evening)
    assert not lock_ended("UntilCleared", TUESDAY, date(2027, 1, 1))
    assert week_of(date(2026, 11, 29)) == date(2026, 11, 23)


def test_the_next_trade_date_unlocks_unless_do_not_unlock() -> None:
    saved = state(lock_span="Day", lock_trade_date=TUESDAY, liq_only_trade_date=TUESDAY)
    wednesday = date(2026, 11, 25)
    status = unlocked(locked(), saved, wednesday, do_not_unlock=None)
    assert (status.admin_action, status.liquidate_only) == (AdminAction.Normal, None)
    kept = unlocked(locked(), saved, wednesday, do_not_unlock=True)
    assert (kept.admin_action, kept.liquidate_only) == (AdminAction.LockTradingImmediately, None)
    assert unlocked_state(saved, wednesday, do_not_unlock=True).lock_span == "Day"
    assert unlocked_state(saved, wednesday, do_not_unlock=None).lock_span is None


def test_an_admins_own_lock_is_never_lifted_by_the_engine() -> None:
    saved = state()  # no lock of the engine's
    admin = AccountRiskStatus(id=AccountId(7), admin_action=AdminAction.LockTradingImmediately)
    assert unlocked(admin, saved, date(2026, 12, 1), do_not_unlock=None).admin_action is \
        AdminAction.LockTradingImmediately


def test_admin_actions_clear_replace_hold_or_disable() -> None:
    saved = state(fired=("dailyLossAutoLiq",), lock_span="Day", lock_trade_date=TUESDAY, pending_liquidation=True)
    normal = after_admin_action(saved, AdminAction.Normal, NOW)
    assert (normal.fired, normal.lock_span, normal.pending_liquidation) == ((), None, False)
    assert after_admin_action(saved, AdminAction.LockTradingImmediately, NOW).lock_span is None  # now the admin's
    assert after_admin_action(saved, AdminAction.PlaceAutoLiqOnHold, NOW).hold_until == NOW + HOLD
    assert after_admin_action(saved, AdminAction.DisableAutoLiq, NOW).disabled
    assert after_admin_action(saved, AdminAction.AgreedOnLiqOnlyModeByAutoLiq, NOW).agreed_liq_only_until == \
        NOW + HOLD
    assert after_admin_action(saved, AdminAction.AgreedOnLiquidationByAutoLiq, NOW) == saved
