"""The start-of-day cash a reset goes back to (core/resets.py)."""

from datetime import date

from tradovate_sim.core.resets import start_of_day_cash

MON, TUE, WED = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)


def test_start_of_day_cash_is_the_balance_after_the_last_earlier_entry_when_there_is_history() -> None:
    entries = [(MON, 50_000.0), (MON, 49_990.0), (TUE, 51_000.0), (WED, 51_500.0)]
    assert start_of_day_cash(entries, TUE) == 49_990.0
    assert start_of_day_cash(entries, WED) == 51_000.0


def test_start_of_day_cash_is_the_opening_balance_when_the_account_opened_that_day() -> None:
    assert start_of_day_cash([(TUE, 25_000.0), (TUE, 24_000.0)], TUE) == 25_000.0


def test_start_of_day_cash_is_none_when_the_account_did_not_exist_yet() -> None:
    assert start_of_day_cash([(TUE, 25_000.0)], MON) is None
    assert start_of_day_cash([], TUE) is None
