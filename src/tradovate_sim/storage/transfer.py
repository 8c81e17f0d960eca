"""`tradovate-sim migrate` and `tradovate-sim copy`: a database brought to this version, or moved between SQLite
and PostgreSQL (either way) with its entities, journal and meta keys.

A copy reads the source in one snapshot and writes the target in one transaction: the target ends with all of
it or none of it. A target that holds anything is refused unless `force` (then its content is replaced). Journal
seqs carry over, and the target's next seq follows the source's last one (a reset's floor included), so seqs are
never reused. Copy only between databases no server is running on: a running server keeps its state in memory.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from tradovate_sim.settings import check_postgres_url, redact, sqlite_path
from tradovate_sim.storage import entities as sqlite_entities
from tradovate_sim.storage import sqlite_schema
from tradovate_sim.storage import writer as sqlite_writer
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.migrations import SCHEMA, SCHEMA_KEY, SCHEMA_VERSION, connect, found_version, migrate

__all__ = ["Snapshot", "copy_database", "is_postgres", "migrate_database", "read", "write"]


@dataclass
class Snapshot:
    """Everything a database holds, as the stores write it."""

    entities: list[tuple[str, int, bytes]] = field(default_factory=list)
    journal: list[tuple[int, bytes]] = field(default_factory=list)
    meta: dict[str, bytes] = field(default_factory=dict)  # the server's keys (not the store's own)
    last_seq: int = 0  # the last journal seq ever given (at least the last row's)

    def summary(self) -> str:
        return f"{len(self.entities)} entities, {len(self.journal)} journal rows, {len(self.meta)} meta keys"


def is_postgres(url: str) -> bool:
    return url.strip().lower().startswith(("postgresql://", "postgres://"))


def _label(url: str) -> str:
    return redact(url) if is_postgres(url) else str(sqlite_path(url))


async def migrate_database(url: str) -> str:
    """Bring the database to this version; returns the line that says what was done."""
    if not is_postgres(url):
        path = _sqlite_file(url, must_exist=False)
        try:
            writer = sqlite_writer.Writer(path, "FULL", lock_wait=0.5)  # creates, checks or migrates the schema
            writer.close()
        except (RuntimeError, sqlite3.Error, OSError) as error:
            raise StoreError(f"{path}: {error}") from None
        if writer.migrated_from is not None:
            return f"{path}: SQLite schema version {writer.migrated_from} -> {sqlite_schema.SCHEMA_VERSION}"
        return f"{path}: already at SQLite schema version {sqlite_schema.SCHEMA_VERSION}"
    check_postgres_url(url)
    conn = await connect(url)
    try:
        before, after = await migrate(conn)
    finally:
        await conn.close()
    if before == after:
        return f"{redact(url)}: already at schema version {after}"
    return f"{redact(url)}: schema version {before} -> {after}"


async def copy_database(source: str, target: str, *, force: bool = False) -> str:
    """Copy `source` into `target`; returns the line that says what was copied."""
    if _label(source) == _label(target) and is_postgres(source) == is_postgres(target):
        raise StoreError("--from and --to name the same database")
    snapshot = await read(source)
    await write(target, snapshot, force=force)
    return f"copied {snapshot.summary()} from {_label(source)} to {_label(target)}"


async def read(url: str) -> Snapshot:
    return await _read_postgres(url) if is_postgres(url) else _read_sqlite(url)


async def write(url: str, snapshot: Snapshot, *, force: bool = False) -> None:
    if is_postgres(url):
        await _write_postgres(url, snapshot, force)
    else:
        _write_sqlite(url, snapshot, force)


def _refuse_non_empty(label: str, found: str) -> StoreError:
    return StoreError(f"{label} is not empty ({found}): copy into an empty database, or add --force to replace "
                      "its content")


# --- SQLite ------------------------------------------------------------------------------------------------


def _sqlite_file(url: str, *, must_exist: bool) -> str:
    path = sqlite_path(url)
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a database file")
    if must_exist and not path.exists():
        raise StoreError(f"{path}: no such database file")
    return str(path)


def _read_sqlite(url: str) -> Snapshot:
    path = _sqlite_file(url, must_exist=True)
    try:
        conn = sqlite3.connect(f"file:{Path(path).absolute()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as error:
        raise StoreError(f"{path}: {error}") from None
    try:
        conn.execute("BEGIN")  # one snapshot of the WAL for every read below
        meta = {k: bytes(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        version = meta.pop(sqlite_schema.SCHEMA_KEY, b"0")
        readable = {str(sqlite_schema.SCHEMA_VERSION).encode(), *sqlite_schema.MIGRATED_VERSIONS}  # same columns
        if version not in readable:
            raise StoreError(f"{path}: SQLite schema version {version.decode()}, this tradovate-sim reads "
                             f"{sqlite_schema.SCHEMA_VERSION}")
        floor = int(meta.pop(sqlite_schema.SEQ_FLOOR_KEY, b"0"))
        meta.pop(sqlite_entities.APPLIED_KEY, None)
        snapshot = Snapshot(
            entities=sqlite_entities.current(conn),  # with the journal rows the writer had not applied yet
            journal=[(s, bytes(b)) for s, b in conn.execute("SELECT seq, body FROM journal ORDER BY seq")],
            meta=meta)
        snapshot.last_seq = max(floor, snapshot.journal[-1][0] if snapshot.journal else 0)
        conn.execute("COMMIT")
        return snapshot
    except sqlite3.Error as error:
        raise StoreError(f"{path}: not a tradovate-sim database ({error})") from None
    finally:
        conn.close()


def _write_sqlite(url: str, snapshot: Snapshot, force: bool) -> None:
    path = _sqlite_file(url, must_exist=False)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        writer = sqlite_writer.Writer(path, "FULL", lock_wait=0.5)  # the schema, and the file's writer lock
    except (RuntimeError, sqlite3.Error, OSError) as error:
        raise StoreError(f"{path}: {error}") from None
    conn = writer.conn
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("SELECT (SELECT count(*) FROM entity), (SELECT count(*) FROM journal)").fetchone()
            if (found[0] or found[1]) and not force:
                raise _refuse_non_empty(path, f"{found[0]} entities, {found[1]} journal rows")
            for table in ("entity", "journal", "meta"):
                conn.execute(f"DELETE FROM {table}")
            conn.executemany("INSERT INTO entity VALUES (?, ?, ?)", snapshot.entities)
            conn.executemany("INSERT INTO journal VALUES (?, ?)", snapshot.journal)
            meta = {**snapshot.meta, sqlite_schema.SCHEMA_KEY: str(sqlite_schema.SCHEMA_VERSION).encode(),
                    sqlite_schema.SEQ_FLOOR_KEY: str(snapshot.last_seq).encode(),
                    sqlite_entities.APPLIED_KEY: str(snapshot.last_seq).encode()}  # the entities are current
            conn.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
            conn.execute("COMMIT")
            writer.reload()  # its backlog was the replaced content's
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as error:
        raise StoreError(f"{path}: {error}") from None
    finally:
        writer.close()


# --- PostgreSQL --------------------------------------------------------------------------------------------


async def _checked_version(conn: asyncpg.Connection, url: str, *, create: bool) -> None:
    version = await found_version(conn)
    if version == 0 and create:
        await migrate(conn)
    elif version == 0:
        raise StoreError(f"{redact(url)}: holds no tradovate-sim database")
    elif version != SCHEMA_VERSION:
        raise StoreError(f"{redact(url)}: schema version {version}, this tradovate-sim uses {SCHEMA_VERSION}"
                         + (f": run `tradovate-sim migrate --db {redact(url)}`" if 0 < version < SCHEMA_VERSION
                            else ""))


async def _read_postgres(url: str) -> Snapshot:
    check_postgres_url(url)
    conn = await connect(url)
    try:
        await _checked_version(conn, url, create=False)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            entities = await conn.fetch(f"SELECT entity_type, id, body FROM {SCHEMA}.entity")
            journal = await conn.fetch(f"SELECT seq, body FROM {SCHEMA}.journal ORDER BY seq")
            meta = await conn.fetch(f"SELECT key, value FROM {SCHEMA}.meta WHERE key <> $1", SCHEMA_KEY)
            last = await conn.fetchval(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END "
                                       f"FROM {SCHEMA}.journal_seq")
    finally:
        await conn.close()
    return Snapshot(entities=[(r[0], r[1], bytes(r[2])) for r in entities],
                    journal=[(r[0], bytes(r[1])) for r in journal],
                    meta={r[0]: bytes(r[1]) for r in meta}, last_seq=int(last))


async def _write_postgres(url: str, snapshot: Snapshot, force: bool) -> None:
    check_postgres_url(url)
    conn = await connect(url)
    try:
        await _checked_version(conn, url, create=True)
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {SCHEMA}.entity, {SCHEMA}.journal, {SCHEMA}.meta IN EXCLUSIVE MODE")
            entities = await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.entity")
            journal = await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.journal")
            if (entities or journal) and not force:
                raise _refuse_non_empty(redact(url), f"{entities} entities, {journal} journal rows")
            await conn.execute(f"TRUNCATE {SCHEMA}.entity, {SCHEMA}.journal")
            await conn.execute(f"DELETE FROM {SCHEMA}.meta WHERE key <> $1", SCHEMA_KEY)
            await conn.copy_records_to_table("entity", schema_name=SCHEMA, records=snapshot.entities)
            await conn.copy_records_to_table("journal", schema_name=SCHEMA, columns=["seq", "body"],
                                             records=snapshot.journal)
            await conn.executemany(f"INSERT INTO {SCHEMA}.meta VALUES ($1, $2)", list(snapshot.meta.items()))
            await conn.execute(f"SELECT setval('{SCHEMA}.journal_seq', $1, $2)", max(snapshot.last_seq, 1),
                               snapshot.last_seq > 0)
    except asyncpg.PostgresError as error:
        raise StoreError(f"{redact(url)}: {str(error).splitlines()[0]}") from None
    finally:
        await conn.close()
