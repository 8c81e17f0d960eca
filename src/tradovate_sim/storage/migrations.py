"""The PostgreSQL schema, as numbered migrations, and connecting with errors that fit on one line.

Everything lives in the schema `tradovate_sim` of the database the URL names. `meta.schema_version` holds the
number of the last migration applied (`b"1"`, as SQLite's store keeps its own). Migration N is `MIGRATIONS[N-1]`:
a list of statements run in one transaction, under a transaction-level advisory lock so that two `migrate`
commands (or two servers finding an empty database) do not both apply it.

The tables: `entity` (the last state of each entity, its body the JSON the journal carried), `journal` (one row
per commit: `seq` from the sequence `journal_seq`, `xid` the committing transaction's id, used by readers to take
only a gap-free prefix, and `body`, the commit's `props` array) and `meta` (keys the server keeps: the seed, the
token secret, the schema version). Bodies are `bytea`: the bytes the server wrote, read back unchanged
(`convert_from(body, 'UTF8')::jsonb` queries them).
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import asyncpg

from tradovate_sim.settings import redact
from tradovate_sim.storage.errors import StoreError

__all__ = ["CONNECT_SECONDS", "MIGRATIONS", "SCHEMA", "SCHEMA_VERSION", "connect", "found_version", "migrate",
           "redact"]

SCHEMA = "tradovate_sim"
SCHEMA_KEY = "schema_version"
CONNECT_SECONDS = 10.0
_LOCK_KEY = 0x7472_6164_6f76  # "tradov": pg_advisory_xact_lock while migrating

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: entities, journal, meta
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
        f"""CREATE TABLE {SCHEMA}.entity (
            entity_type text NOT NULL, id bigint NOT NULL, body bytea NOT NULL, PRIMARY KEY (entity_type, id))""",
        f"CREATE SEQUENCE {SCHEMA}.journal_seq AS bigint",
        f"""CREATE TABLE {SCHEMA}.journal (
            seq bigint PRIMARY KEY, xid xid8 NOT NULL DEFAULT pg_current_xact_id(), body bytea NOT NULL)""",
        f"CREATE TABLE {SCHEMA}.meta (key text PRIMARY KEY, value bytea NOT NULL)",
    ),
    (  # 2: several processes on one database (journal following, account locks, id blocks)
        f"ALTER TABLE {SCHEMA}.journal ADD COLUMN accounts bigint[] NOT NULL DEFAULT '{{}}'",
        f"ALTER TABLE {SCHEMA}.journal ADD COLUMN meta boolean NOT NULL DEFAULT false",
        f"CREATE INDEX journal_xid ON {SCHEMA}.journal (xid, seq)",
        f"CREATE TABLE {SCHEMA}.account_head (account_id bigint PRIMARY KEY, seq bigint NOT NULL)",
        f"CREATE TABLE {SCHEMA}.id_block (entity_type text PRIMARY KEY, next bigint NOT NULL)",
        # Volatile plpgsql: each statement takes a new snapshot, so the head is read after the lock is granted.
        f"""CREATE FUNCTION {SCHEMA}.lock_account(account bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
            BEGIN
                PERFORM pg_advisory_lock(account);
                RETURN coalesce((SELECT seq FROM {SCHEMA}.account_head WHERE account_id = account), 0);
            END $$""",
    ),
    (  # 3: the head read after a lock waits for a commit its previous holder left in flight
        # A holder killed after its commit's write and before COMMIT's answer: its lock went with its session, the
        # COMMIT lands all the same a moment later. Until then that transaction holds the head's row. Updated: the
        # version read has its id as xmax (a committed upsert leaves its id there too, as a lock): while that
        # transaction is in progress, FOR SHARE waits for it and reads what it left. Inserted (the account's first
        # commit): an insert of the key waits for it. The usual path reads one row and writes nothing; an account's
        # first lock inserts its row. `writer` is 32 bits, within 2^31 of the snapshot's xmax: its epoch is found
        # from that (an xid still running may be at or above that xmax).
        f"""CREATE FUNCTION {SCHEMA}.landed_head(account bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
            DECLARE
                head bigint;
                writer xid;
                next_xid bigint;
                full_xid bigint;
            BEGIN
                SELECT seq, xmax INTO head, writer FROM {SCHEMA}.account_head WHERE account_id = account;
                IF NOT FOUND THEN
                    INSERT INTO {SCHEMA}.account_head VALUES (account, 0) ON CONFLICT (account_id) DO NOTHING;
                    head := (SELECT seq FROM {SCHEMA}.account_head WHERE account_id = account);
                ELSIF writer::text <> '0' THEN
                    next_xid := pg_snapshot_xmax(pg_current_snapshot())::text::bigint;
                    full_xid := (next_xid & ~4294967295) | writer::text::bigint;
                    IF full_xid > next_xid + 2147483648 THEN
                        full_xid := full_xid - 4294967296;
                    ELSIF full_xid < next_xid - 2147483648 THEN
                        full_xid := full_xid + 4294967296;
                    END IF;
                    IF full_xid > 0 AND pg_xact_status(full_xid::text::xid8) = 'in progress' THEN
                        SELECT seq INTO head FROM {SCHEMA}.account_head WHERE account_id = account FOR SHARE;
                    END IF;
                END IF;
                RETURN coalesce(head, 0);
            END $$""",
        f"""CREATE OR REPLACE FUNCTION {SCHEMA}.lock_account(account bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE
            AS $$
            BEGIN
                PERFORM pg_advisory_lock(account);
                RETURN {SCHEMA}.landed_head(account);
            END $$""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def _where(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    except ValueError:
        return "the database server"


async def connect(url: str, timeout: float = CONNECT_SECONDS) -> asyncpg.Connection:  # noqa: ASYNC109
    """A connection to `url`, or a StoreError whose message is one line without the password."""
    try:
        return await _connect(url, timeout)
    except StoreError as error:
        message = str(error)
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password and password in message:  # whatever a driver's message may quote
            message = message.replace(password, "***")
        raise StoreError(message) from None


async def _connect(url: str, timeout: float) -> asyncpg.Connection:  # noqa: ASYNC109
    try:
        conn: asyncpg.Connection = await asyncpg.connect(url, timeout=timeout)
        return conn
    except asyncpg.InvalidPasswordError:
        user = urlsplit(url).username or "(default)"
        raise StoreError(f"wrong password for user {user!r}") from None
    except asyncpg.InvalidCatalogNameError as error:
        raise StoreError(f"{error} (create it, e.g. createdb, or name another)") from None
    except asyncpg.PostgresError as error:
        raise StoreError(str(error).splitlines()[0]) from None
    except socket.gaierror as error:
        raise StoreError(f"cannot resolve the host of {_where(url)}: {error.strerror}") from None
    except TimeoutError:
        raise StoreError(f"no answer from {_where(url)} within {timeout:g} s") from None
    except OSError as error:
        reason = error.strerror or str(error).splitlines()[0]
        if "Connect call failed" in str(error) or "refused" in str(error).lower():
            reason = "connection refused (is PostgreSQL running there?)"
        raise StoreError(f"cannot reach {_where(url)}: {reason}") from None
    except (asyncpg.InterfaceError, ValueError) as error:
        raise StoreError(f"not a usable PostgreSQL URL: {str(error).splitlines()[0]}") from None


async def found_version(conn: asyncpg.Connection) -> int:
    """The schema version of the database (0: none of our tables yet)."""
    if await conn.fetchval("SELECT to_regclass($1)", f"{SCHEMA}.meta") is None:
        return 0
    raw = await conn.fetchval(f"SELECT value FROM {SCHEMA}.meta WHERE key = $1", SCHEMA_KEY)
    return int(bytes(raw)) if raw is not None else 0


async def migrate(conn: asyncpg.Connection, target: int | None = None) -> tuple[int, int]:
    """Apply the migrations up to `target` (the last), each in one transaction; returns (version before, after)."""
    target = len(MIGRATIONS) if target is None else target
    before = await found_version(conn)
    if before > len(MIGRATIONS):
        raise StoreError(f"schema version {before} is newer than this tradovate-sim knows ({len(MIGRATIONS)}):"
                         " run a newer tradovate-sim")
    for number in range(1, target + 1):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            if await found_version(conn) >= number:
                continue  # applied meanwhile by another migrate
            for statement in MIGRATIONS[number - 1]:
                await conn.execute(statement)
            await conn.execute(f"""INSERT INTO {SCHEMA}.meta VALUES ($1, $2)
                                   ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
                               SCHEMA_KEY, str(number).encode())
    return before, await found_version(conn)
