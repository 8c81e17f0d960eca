"""What the durable store gives back from its journal; entity bodies are opaque JSON."""

import msgspec

__all__ = ["JournalEntry"]


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One journaled change; `seq` numbers commits, so the changes of one commit share it (in their order)."""

    seq: int
    entity_type: str
    event_type: str
    entity_id: int
    body: bytes
