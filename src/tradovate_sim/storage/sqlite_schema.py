"""The SQLite file's schema and how it is opened (`connect`): its tables, their creation and migration, the meta keys
the store owns, and the statements that write a group's journal rows and meta keys (`storage/writer.py` runs them
all).

Tables: `journal` (one row per commit: its seq, its changes as a JSON array of `props` payloads), `entity` (the
last state of each entity as of the meta key `entity_applied_through`: `storage/entities.py`) and `meta` (the
application's keys and the store's own). Schema 4; a file of schema 2 or 3 is migrated when the writer opens it.
"""

from __future__ import annotations

import sqlite3

from tradovate_sim.storage import entities
from tradovate_sim.storage.entities import APPLIED_KEY

SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 5_000
MIGRATED_VERSIONS = frozenset({b"2", b"3"})  # versions `migrate` brings to SCHEMA_VERSION when the writer opens a file
SCHEMA_KEY = "schema_version"
SEQ_FLOOR_KEY = "journal_seq_floor"  # the last seq before a reset, so that seqs are never reused
RESERVED_KEYS = frozenset({SCHEMA_KEY, SEQ_FLOOR_KEY, APPLIED_KEY})

# The entity key is (id, entity_type), id first: each kind numbers its own ids, and the kinds a commit creates count
# at similar rates (a liquidation's commands and their reports, its execution reports and cash-balance logs, its
# order, fill and fill pair), so their new keys land on a few index leaves instead of one per kind (schema 2 had
# (entity_type, id): a liquidation's commit wrote 22 WAL pages, now 14).
_ENTITY_TABLE = """CREATE TABLE IF NOT EXISTS {name} (
        entity_type TEXT NOT NULL, id INTEGER NOT NULL, body BLOB NOT NULL,
        PRIMARY KEY (id, entity_type)) STRICT"""
_TABLES = (
    _ENTITY_TABLE.format(name="entity"),
    "CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY, body BLOB NOT NULL) STRICT",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT, WITHOUT ROWID",
)
_INSERT_JOURNAL = ("INSERT INTO journal VALUES ", "")  # multi-row VALUES (entities.insert)
UPSERT_META = "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
_DELETE_META = "DELETE FROM meta WHERE key = ?"


def connect(path: str) -> sqlite3.Connection:
    """A connection to the file in autocommit mode (transactions are explicit), usable from any thread, that waits
    up to `BUSY_TIMEOUT_MS` for a lock."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def create(conn: sqlite3.Connection, path: str) -> int | None:
    """Create the tables of a new file, or check (and migrate) an existing file's, inside the caller's transaction;
    returns the schema version the file was migrated from, if it was."""
    for statement in _TABLES:
        conn.execute(statement)
    version = str(SCHEMA_VERSION).encode()
    if conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (SCHEMA_KEY, version)).rowcount:
        conn.execute("INSERT INTO meta VALUES (?, ?)", (APPLIED_KEY, b"0"))  # a new file
    found = conn.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA_KEY,)).fetchone()[0]
    if found in MIGRATED_VERSIONS:
        migrate(conn)
        return int(found)
    if found != version:
        raise RuntimeError(f"{path}: schema version {found!r}, this store reads {version!r}")
    return None


def migrate(conn: sqlite3.Connection) -> None:
    """To SCHEMA_VERSION inside the caller's transaction. 2 to 3: `entity` rebuilt with its key (id, entity_type).
    3 to 4: the applied seq, the last seq (a version 3 file's entity table is always current)."""
    found = conn.execute("SELECT value FROM meta WHERE key = ?", (SCHEMA_KEY,)).fetchone()[0]
    if found == b"2":
        conn.execute(_ENTITY_TABLE.format(name="entity_v3"))
        conn.execute("INSERT INTO entity_v3 SELECT entity_type, id, body FROM entity ORDER BY rowid")
        conn.execute("DROP TABLE entity")
        conn.execute("ALTER TABLE entity_v3 RENAME TO entity")
    conn.execute(UPSERT_META, (APPLIED_KEY, str(last_seq(conn)).encode()))
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(SCHEMA_VERSION).encode(), SCHEMA_KEY))


def last_seq(conn: sqlite3.Connection) -> int:
    """The last journal seq ever given: the last row's, or the floor a reset left."""
    last = conn.execute("SELECT coalesce(max(seq), 0) FROM journal").fetchone()[0]
    floor = conn.execute("SELECT value FROM meta WHERE key = ?", (SEQ_FLOOR_KEY,)).fetchone()
    return max(int(last), int(floor[0]) if floor else 0)


def reset(conn: sqlite3.Connection, seq: int) -> None:
    """Empty the entities, the journal and the application's meta keys; the next seq follows `seq`."""
    conn.execute("DELETE FROM entity")
    conn.execute("DELETE FROM journal")
    conn.execute("DELETE FROM meta WHERE key <> ?", (SCHEMA_KEY,))
    conn.executemany("INSERT INTO meta VALUES (?, ?)",
                     [(SEQ_FLOOR_KEY, str(seq).encode()), (APPLIED_KEY, str(seq).encode())])


def flush(conn: sqlite3.Connection, journal: list[object], meta: dict[str, bytes | None]) -> None:
    """Write a group's journal rows (`journal`: seq, body, seq, body...) and its meta keys (None: deleted); values
    are bound as bytearray (`entities.store` says why)."""
    entities.insert(conn, _INSERT_JOURNAL, 2, journal)
    if upserts := [(k, bytearray(v)) for k, v in meta.items() if v is not None]:
        conn.executemany(UPSERT_META, upserts)
    if removed := [(k,) for k, v in meta.items() if v is None]:
        conn.executemany(_DELETE_META, removed)
