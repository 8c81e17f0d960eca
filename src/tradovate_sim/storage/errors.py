"""What every store raises (SQLite and PostgreSQL alike), so the server answers them the same way."""

__all__ = ["StoreClosedError", "StoreError"]


class StoreError(Exception):
    """The store cannot do what was asked (not open, closed, an incompatible file, or a write that failed)."""


class StoreClosedError(StoreError):
    """The store is not open: `open()` was never awaited, or `close()` was."""
