"""One frozen settings object, from command-line flags over environment variables over defaults."""

import os
from pathlib import Path

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
    password_hashing: str = "argon2id"  # argon2id (OWASP's minimum) | fast: argon2id at its cheapest, for test servers

    @property
    def sqlite_path(self) -> Path:
        """The database file: `sqlite:///relative.db`, `sqlite:////absolute.db`, or a plain file path."""
        db = self.db.strip()
        if "://" in db:
            if not db.startswith("sqlite:///"):
                raise ValueError(f"--db: expected a file path or sqlite:///path, got {self.db!r}")
            db = db.removeprefix("sqlite:///")
        if db in ("", ":memory:") or db.endswith("/"):
            raise ValueError(f"--db: expected a database file path, got {self.db!r}")
        return Path(db).expanduser()


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
    if settings.log_format not in ("plain", "json"):
        raise ValueError(f"log-format: expected plain or json, got {settings.log_format!r}")
    if settings.password_hashing not in ("argon2id", "fast"):
        raise ValueError(f"password-hashing: expected argon2id or fast, got {settings.password_hashing!r}")
    settings.sqlite_path  # noqa: B018  (validates the URL early)
    return settings
