"""The server's clocks: the simulated one (wall time by default, or a time set by hand that stays put until moved),
which markets, orders and fills follow; and the wall clock, which tokens and sessions follow whatever the simulated
one does."""

from datetime import UTC, datetime, timedelta


def to_millis(moment: datetime) -> datetime:
    """Tradovate timestamps carry milliseconds."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class WallClock:
    """Real time, in milliseconds, whatever `/sim/clock` says."""

    def now(self) -> datetime:
        return to_millis(datetime.now(UTC))


class Clock:
    def __init__(self, fixed: datetime | None = None) -> None:
        self.fixed = None if fixed is None else to_millis(fixed)

    @property
    def is_real(self) -> bool:
        return self.fixed is None

    def now(self) -> datetime:
        fixed = self.fixed
        return fixed if fixed is not None else to_millis(datetime.now(UTC))

    def set(self, moment: datetime) -> None:
        """Freeze the clock at `moment` (naive times are taken as UTC)."""
        self.fixed = to_millis((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC))

    def advance(self, seconds: float) -> None:
        """Move a frozen clock forward (or a real one: it freezes at now + seconds)."""
        self.fixed = to_millis(self.now() + timedelta(seconds=seconds))

    def resume(self) -> None:
        self.fixed = None
