"""The server's clock: wall time by default, or a time set by hand that stays put until moved."""

from datetime import UTC, datetime, timedelta


def to_millis(moment: datetime) -> datetime:
    """Tradovate timestamps carry milliseconds."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Clock:
    def __init__(self, fixed: datetime | None = None) -> None:
        self.fixed = fixed

    @property
    def is_real(self) -> bool:
        return self.fixed is None

    def now(self) -> datetime:
        return to_millis(self.fixed if self.fixed is not None else datetime.now(UTC))

    def set(self, moment: datetime) -> None:
        """Freeze the clock at `moment` (naive times are taken as UTC)."""
        self.fixed = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        self.fixed = self.fixed.astimezone(UTC)

    def advance(self, seconds: float) -> None:
        """Move a frozen clock forward (or a real one: it freezes at now + seconds)."""
        self.fixed = self.now() + timedelta(seconds=seconds)

    def resume(self) -> None:
        self.fixed = None
