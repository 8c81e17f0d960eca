"""One frozen settings object, from command-line flags over environment variables over defaults."""

import os
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

ENV_PREFIX = "TRADOVATE_SIM_"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    db: str = "sqlite:///tradovate-sim.db"
    admin_user: str = "admin"
    admin_password: str | None = None
    demo_password: str | None = None
    seed: str = "demo"  # demo | none
    quotes: str = "synthetic"  # synthetic | manual
    tick_seconds: float = 0.5  # how often the synthetic market moves
    catalogue: str | None = None  # a TOML file of extra or overriding products
    ws_timeout: float = 30.0  # seconds a socket may stay silent (or unauthorized) before it is closed
    synchronous: str = "FULL"  # SQLite: FULL survives power loss; NORMAL survives a killed process
    rate_limits: str = "on"  # on: Tradovate's request limits and penalty tickets (numbers: /sim/limits); off: none
    log_format: str = "plain"  # plain | json: every log line on stderr
    access_log: bool = False  # one line per HTTP request and per closed WebSocket
    heap_reserve: str = "on"  # on: free memory mapped ahead of the state's growth (server/heap.py); off: none
    workers: int = 1  # server processes on one port (PostgreSQL only)
    password_hashing: str = "argon2id"  # argon2id (OWASP's minimum) | fast: argon2id at its cheapest, for test servers
    calendar_cache: str | None = None  # a directory where the CME calendar is kept between starts (test servers)
    clock: datetime | None = None  # the simulated clock frozen at this instant from the start (naive: UTC); None: real

    @property
    def postgres(self) -> bool:
        """Is `db` a PostgreSQL URL (postgresql://user:password@host:port/dbname)?"""
        return self.db.strip().lower().startswith(POSTGRES_SCHEMES)

    @property
    def db_label(self) -> str:
        """The database as messages name it: the file's absolute path, or the URL without its password."""
        return redact(self.db) if self.postgres else str(self.sqlite_path.absolute())

    @property
    def sqlite_path(self) -> Path:
        """The database file: `sqlite:///relative.db`, `sqlite:////absolute.db`, or a plain file path."""
        return sqlite_path(self.db)


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def redact(url: str) -> str:
    """`url` without its password, for every message that names it. Read from the raw text (everything between
    `scheme://` and the last `@` is the user part), so that a password a URL parser would misread (an unencoded
    `/`, `#` or `?` in it) is hidden all the same."""
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if not separator or "@" not in rest:
        return text
    userinfo, host = rest.rsplit("@", 1)
    if ":" not in userinfo:
        return text
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def sqlite_path(db: str) -> Path:
    """The file of a SQLite `--db` (a path or sqlite:///path); a ValueError naming the flag otherwise."""
    text = db.strip()
    if "://" in text:
        if not text.startswith("sqlite:///"):
            raise ValueError(f"--db: expected a file path, sqlite:///path or postgresql://user:password@host:port/dbname,"
                             f" got {redact(db)!r}")
        text = text.removeprefix("sqlite:///")
    if text in ("", ":memory:") or text.endswith("/"):
        raise ValueError(f"--db: expected a database file path, got {redact(db)!r}")
    return Path(text).expanduser()


def check_postgres_url(db: str) -> None:
    """A ValueError naming what is wrong with a postgresql:// URL (the password never in it)."""
    try:
        parts = urlsplit(db.strip())
        port = parts.port
    except ValueError:  # the parser's words may quote a piece of a misread password: not repeated here
        raise ValueError(f"--db {redact(db)}: not a valid URL (a port that is not a number from 1 to 65535, or "
                         "a password with / # ? @ not percent-encoded)") from None
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise ValueError(f"--db {redact(db)}: name the database: postgresql://user:password@host:port/dbname")
    if port == 0:
        raise ValueError(f"--db {redact(db)}: port 0 is not a port")


def from_environment(overrides: dict[str, object], environ: dict[str, str] | None = None) -> Settings:
    """Settings from TRADOVATE_SIM_* variables, then the flags given (None means not given)."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, object] = {}
    for field in Settings.__struct_fields__:
        raw = environ.get(ENV_PREFIX + field.upper())
        if raw is not None and raw != "":
            values[field] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = msgspec.convert(values, Settings, strict=False)
    if settings.seed not in ("demo", "none"):
        raise ValueError(f"seed: expected demo or none, got {settings.seed!r}")
    if settings.quotes not in ("synthetic", "manual"):
        raise ValueError(f"quotes: expected synthetic or manual, got {settings.quotes!r}")
    if settings.synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous: expected FULL or NORMAL, got {settings.synchronous!r}")
    if settings.rate_limits not in ("on", "off"):
        raise ValueError(f"rate-limits: expected on or off, got {settings.rate_limits!r}")
    if settings.heap_reserve not in ("on", "off"):
        raise ValueError(f"heap-reserve: expected on or off, got {settings.heap_reserve!r}")
    if settings.log_format not in ("plain", "json"):
        raise ValueError(f"log-format: expected plain or json, got {settings.log_format!r}")
    if settings.password_hashing not in ("argon2id", "fast"):
        raise ValueError(f"password-hashing: expected argon2id or fast, got {settings.password_hashing!r}")
    if settings.workers < 1:
        raise ValueError(f"workers: expected 1 or more, got {settings.workers}")
    if settings.workers > 1 and not settings.postgres:
        raise ValueError(f"--workers {settings.workers}: several processes need a postgresql:// database"
                         " (SQLite is one process)")
    if settings.calendar_cache is not None and Path(settings.calendar_cache).exists() \
            and not Path(settings.calendar_cache).is_dir():
        raise ValueError(f"calendar-cache: {settings.calendar_cache} is not a directory")
    if settings.postgres:
        check_postgres_url(settings.db)
    else:
        settings.sqlite_path  # noqa: B018  (validates the URL early)
    return settings
