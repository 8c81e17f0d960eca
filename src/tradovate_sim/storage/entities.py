"""The SQLite `entity` table and the journal it is brought up to date from.

A journal row's body is a commit's changes (a JSON array of `props` payloads); the entity table holds the last
state of each entity as of the journal seq in the meta key `entity_applied_through` (schema 4: the writer
materializes it behind the journal, `storage/writer.py`). The current entities are the table with the journal rows
after that seq folded over it in seq order, the last change of each entity winning (a `Deleted` one removes it).
Folding from any seq at or before the key gives the same state, so a file without the key (schema 2 or 3, whose
entity table is always current) is read the same way.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence

import msgspec

__all__ = ["APPLIED_KEY", "Identified", "JournalChange", "applied_through", "current", "fold", "insert", "keyed",
           "store", "unapplied"]

APPLIED_KEY = "entity_applied_through"  # meta: the last journal seq whose changes are in `entity`

Key = tuple[str, int]  # (entity_type, id)
Folded = dict[Key, "msgspec.Raw | bytes | None"]  # the last body of each entity (None: deleted)


class JournalChange(msgspec.Struct, frozen=True, rename="camel"):
    entity_type: str
    event_type: str
    entity: msgspec.Raw


class Identified(msgspec.Struct):
    id: int


_CHANGES = msgspec.json.Decoder(list[JournalChange])
_IDENTIFIED = msgspec.json.Decoder(Identified)
_EVENTS = frozenset({"Created", "Updated", "Deleted"})
_UPSERT_ROW = "INSERT INTO entity VALUES (?, ?, ?) ON CONFLICT (id, entity_type) DO UPDATE SET body = excluded.body"
_DELETE = "DELETE FROM entity WHERE id = ? AND entity_type = ?"
_CHUNKS = (256, 64, 16, 4, 1)
_SMALLEST, _LARGEST = -(1 << 63), (1 << 63) - 1


def keyed(body: bytes) -> list[tuple[Key, msgspec.Raw | None]]:
    """A journal body's changes in order, each as its entity's key and new body (None: deleted). One pass over
    the JSON; each id read from its entity's own bytes, each body a `Raw` view of `body` (no copy). Raises
    ValueError (msgspec's DecodeError included) for a body the journal must not hold: everything the entity table
    could refuse is refused here, so that a journaled commit always materializes."""
    identify = _IDENTIFIED.decode
    changes: list[tuple[Key, msgspec.Raw | None]] = []
    for change in _CHANGES.decode(body):
        kind, entity, event = change.entity_type, change.entity, change.event_type
        entity_id = identify(entity).id
        if event not in _EVENTS:
            raise ValueError(f"{kind} {entity_id}: unknown eventType {event!r}")
        if not _SMALLEST <= entity_id <= _LARGEST:  # the table's INTEGER: refused here, not when materialized
            raise ValueError(f"{kind} {entity_id}: id out of SQLite's integer range")
        changes.append(((kind, entity_id), None if event == "Deleted" else entity))
    return changes


def fold(into: Folded, commits: Iterable[Sequence[tuple[Key, msgspec.Raw | None]]]) -> Folded:
    """Apply `commits` (in seq order) to `into`: each entity's last change wins."""
    for changes in commits:
        into.update(changes)
    return into


def applied_through(conn: sqlite3.Connection) -> int:
    """The meta key's seq; 0 when the file has none (every journal row is then folded, which is always right)."""
    found = conn.execute("SELECT value FROM meta WHERE key = ?", (APPLIED_KEY,)).fetchone()
    return int(found[0]) if found else 0


def current(conn: sqlite3.Connection) -> list[tuple[str, int, bytes]]:
    """Every current entity as `(entity_type, id, body)`: the table, then the journal rows after the key. Call it
    inside a read transaction, so that the table, the key and the journal come from one snapshot."""
    entities: Folded = {(kind, entity_id): body for kind, entity_id, body in
                        conn.execute("SELECT entity_type, id, body FROM entity")}
    fold(entities, (changes for _, changes in unapplied(conn)))
    return [(kind, entity_id, bytes(body)) for (kind, entity_id), body in entities.items() if body is not None]


def unapplied(conn: sqlite3.Connection) -> Iterator[tuple[int, list[tuple[Key, msgspec.Raw | None]]]]:
    """The journal rows after the applied seq, in seq order, as (seq, keyed changes): the table's backlog."""
    for seq, body in conn.execute("SELECT seq, body FROM journal WHERE seq > ? ORDER BY seq", (applied_through(conn),)):
        yield seq, keyed(body)


def store(conn: sqlite3.Connection, entities: Mapping[Key, msgspec.Raw | bytes | None]) -> None:
    """Write each entity's last state into the table (upsert, or delete where None), in the caller's transaction.
    Each body is bound as a `bytearray` copy: Python's sqlite3 binds int, float, str and bytearray as they are but
    first passes any other value (bytes and `Raw` included) through its adapter lookup, which for a type without an
    adapter raises and clears two AttributeErrors: ~3,300 instructions a value, against ~200 for the copy.
    One row a statement (`executemany`), not multi-row VALUES: a statement that may change several rows and fail
    half-way keeps a statement journal (the old content of every page it changes), which past 64 KiB spilled into
    a temporary file every batch (28 of the 55 pwrites a liquidation at 250/s); a one-row INSERT keeps none."""
    conn.executemany(_UPSERT_ROW, [(kind, entity_id, bytearray(body))
                                   for (kind, entity_id), body in entities.items() if body is not None])
    if deletes := [(entity_id, kind) for (kind, entity_id), body in entities.items() if body is None]:
        conn.executemany(_DELETE, deletes)


def insert(conn: sqlite3.Connection, statement: tuple[str, str], width: int, values: Sequence[object]) -> None:
    """Insert the rows whose `width` values follow each other in `values` through multi-row VALUES statements of
    a few fixed sizes (SQLite's statement cache keeps them)."""
    start, rows = 0, len(values) // width
    while start < rows:
        size = next(size for size in _CHUNKS if size <= rows - start)
        conn.execute(_values(statement, width, size), values[start * width:(start + size) * width])
        start += size


@functools.cache
def _values(statement: tuple[str, str], width: int, size: int) -> str:
    row = "(" + ", ".join("?" * width) + ")"
    return statement[0] + ", ".join([row] * size) + statement[1]
