"""The row shapes the durable store takes and gives back; entity bodies are opaque msgspec JSON."""

import msgspec

__all__ = ["JournalEntry", "Row"]


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One entity change to make durable: a `props` event with its body already encoded."""

    entity_type: str
    """Tradovate entity type, e.g. `"order"`, `"position"`."""
    event_type: str
    """`"Created"`, `"Updated"` or `"Deleted"`."""
    entity_id: int
    account_id: int | None
    """Owning account, for indexed reads; `None` for reference data and users."""
    body: bytes
    """msgspec-encoded JSON of the full entity."""


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One journaled change, in commit order of `seq`."""

    seq: int
    entity_type: str
    event_type: str
    entity_id: int
    account_id: int | None
    body: bytes
