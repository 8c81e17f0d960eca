"""Where the command line connects and as whom, and the token it keeps between runs.

Each setting comes from, first to last: its flag (`--url`, `--user`, `--password`, `--account`), its environment
variable (`TRADOVATE_URL`, `TRADOVATE_USER`, `TRADOVATE_PASSWORD`, `TRADOVATE_ACCOUNT`, and for Tradovate's own
servers `TRADOVATE_APP_ID`, `TRADOVATE_APP_VERSION`, `TRADOVATE_CID`, `TRADOVATE_SEC`, `TRADOVATE_DEVICE_ID`), the
selected profile of the config file (`--profile` / `TRADOVATE_PROFILE`, else `default`; the file is `--config` /
`TRADOVATE_CONFIG`, else `$XDG_CONFIG_HOME/tradovate-sim/config.toml`, else `~/.config/tradovate-sim/config.toml`),
then the default (`url`: `local`, this server on 127.0.0.1:8000).

Tokens: a login's token is kept in `$XDG_CACHE_HOME/tradovate-sim/tokens.json` (else `~/.cache/...`), mode 0600,
by server and user, and used by later runs while it lives (renewed before it expires), so that each run is not a
new session (Tradovate keeps two per user: a third ends the oldest, perhaps your bot's). `--no-cache` neither reads
nor writes it; `logout` forgets it.
"""

import argparse
import contextlib
import getpass
import os
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec

from tradovate_sim.cli.failure import usage
from tradovate_sim.client import AsyncTradovate, Tradovate
from tradovate_sim.client.environments import Environment, environment
from tradovate_sim.client.session import Session

ENVIRONMENT = {"url": "TRADOVATE_URL", "user": "TRADOVATE_USER", "password": "TRADOVATE_PASSWORD",
               "account": "TRADOVATE_ACCOUNT", "app_id": "TRADOVATE_APP_ID", "app_version": "TRADOVATE_APP_VERSION",
               "cid": "TRADOVATE_CID", "sec": "TRADOVATE_SEC", "device_id": "TRADOVATE_DEVICE_ID"}
DEFAULT_PROFILE = "default"
EXPIRY_MARGIN = timedelta(minutes=1)  # a cached token this close to its expiry is not used


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One connection's settings (a profile of the config file, or the merged result)."""

    url: str | None = None
    user: str | None = None
    password: str | None = None
    account: str | None = None
    app_id: str | None = None
    app_version: str | None = None
    cid: int | str | None = None
    sec: str | None = None
    device_id: str | None = None

    def __repr__(self) -> str:  # the password and the secret are never shown
        return f"Profile(url={self.url!r}, user={self.user!r}, account={self.account!r})"


class ConfigFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    profiles: dict[str, Profile] = msgspec.field(default_factory=dict)


def base_directory(environ: Mapping[str, str], variable: str, fallback: str) -> Path:
    value = environ.get(variable)
    return Path(value) if value else Path.home() / fallback


def config_path(environ: Mapping[str, str]) -> Path:
    given = environ.get("TRADOVATE_CONFIG")
    if given:
        return Path(given)
    return base_directory(environ, "XDG_CONFIG_HOME", ".config") / "tradovate-sim" / "config.toml"


def cache_path(environ: Mapping[str, str]) -> Path:
    return base_directory(environ, "XDG_CACHE_HOME", ".cache") / "tradovate-sim" / "tokens.json"


def read_profile(path: Path, name: str, *, explicit: bool) -> Profile:
    """The profile `name` of the config file; none (all defaults) when the file is absent and nothing asked for it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise usage(f"config: {path} does not exist") from None
        return Profile()
    except OSError as error:
        raise usage(f"config: cannot read {path}: {error.strerror}") from None
    try:
        config = msgspec.convert(tomllib.loads(text), ConfigFile)
    except tomllib.TOMLDecodeError as error:
        raise usage(f"config: {path}: {error}") from None
    except msgspec.ValidationError as error:
        raise usage(f"config: {path}: {error}") from None
    profile = config.profiles.get(name)
    if profile is None:
        if explicit or name != DEFAULT_PROFILE:
            known = ", ".join(sorted(config.profiles)) or "none"
            raise usage(f"config: no profile {name!r} in {path} (profiles: {known})")
        return Profile()
    return profile


def resolve(args: argparse.Namespace, environ: Mapping[str, str]) -> Profile:
    """The settings of this run: flags, then environment variables, then the config file's profile."""
    given_profile = getattr(args, "profile", None) or environ.get("TRADOVATE_PROFILE")
    given_config = getattr(args, "config", None)
    path = Path(given_config) if given_config else config_path(environ)
    profile = read_profile(path, given_profile or DEFAULT_PROFILE,
                           explicit=bool(given_profile or given_config or environ.get("TRADOVATE_CONFIG")))
    values: dict[str, object] = {}
    for field, variable in ENVIRONMENT.items():
        flag = getattr(args, field, None)
        values[field] = flag if flag is not None else environ.get(variable) or getattr(profile, field)
    return Profile(**values)  # type: ignore[arg-type]


# --- the token cache ---------------------------------------------------------------------------------------------


class CachedToken(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    expiration_time: datetime
    md_access_token: str | None = None
    user_id: int | None = None


class TokenCache:
    """Tokens by server and user in one JSON file (mode 0600, its directory 0700). A file that cannot be read is
    treated as empty; one that cannot be written is left as it is (the command still succeeds)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path  # None: --no-cache

    @staticmethod
    def key(environment: Environment, user: str) -> str:
        return f"{environment.rest} {user}"

    def entries(self) -> dict[str, CachedToken]:
        if self.path is None:
            return {}
        try:
            return msgspec.json.decode(self.path.read_bytes(), type=dict[str, CachedToken])
        except (OSError, msgspec.DecodeError):
            return {}

    def get(self, environment: Environment, user: str) -> CachedToken | None:
        token = self.entries().get(self.key(environment, user))
        if token is None or token.expiration_time - EXPIRY_MARGIN <= datetime.now(UTC):
            return None
        return token

    def put(self, environment: Environment, user: str, session: Session) -> None:
        if self.path is None or session.token is None or session.expires is None:
            return
        entries = {key: token for key, token in self.entries().items()
                   if token.expiration_time > datetime.now(UTC)}
        entries[self.key(environment, user)] = CachedToken(
            access_token=session.token, expiration_time=session.expires, md_access_token=session.md_token,
            user_id=session.user_id)
        self.write(entries)

    def drop(self, environment: Environment, user: str) -> bool:
        entries = self.entries()
        if entries.pop(self.key(environment, user), None) is None:
            return False
        self.write(entries)
        return True

    def write(self, entries: dict[str, CachedToken]) -> None:
        assert self.path is not None
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".tokens-")  # mode 0600
            with os.fdopen(descriptor, "wb") as file:
                file.write(msgspec.json.encode(entries))
            os.replace(temporary, self.path)


# --- connecting --------------------------------------------------------------------------------------------------


def adopt(session: Session, cached: CachedToken | None) -> None:
    """What the session knows of a cached token (its expiry: renewed before it)."""
    if cached is not None:
        session.expires = cached.expiration_time
        session.md_token = cached.md_access_token
        session.user_id = cached.user_id


class Connection:
    """The resolved settings of a run and the clients made from them."""

    def __init__(self, profile: Profile, cache: TokenCache) -> None:
        self.profile = profile
        try:
            self.environment = environment(profile.url or "local")
        except ValueError as error:
            raise usage(str(error)) from None
        self.cache = cache

    @property
    def url(self) -> str:
        return self.environment.rest

    @property
    def user(self) -> str:
        if not self.profile.user:
            raise usage("no user: give --user, TRADOVATE_USER or a config profile's user")
        return self.profile.user

    def password(self, *, required: bool) -> str | None:
        if self.profile.password:
            return self.profile.password
        if required or self.cache.get(self.environment, self.user) is None:
            if sys.stdin.isatty():
                return getpass.getpass(f"password of {self.user} at {self.url}: ")
            raise usage("no password: give --password, TRADOVATE_PASSWORD or a config profile's password"
                        " (or log in once with `tradovate-sim login`)")
        return None

    def login(self, *, fresh: bool) -> tuple[str | None, str | None, CachedToken | None]:
        """The name and password to log in with (None, None: the cached token alone), and the cached token unless
        `fresh`."""
        user = self.user
        cached = None if fresh else self.cache.get(self.environment, user)
        password = self.password(required=fresh)
        return (user if password is not None else None), password, cached

    def client(self, *, fresh: bool = False) -> Tradovate:
        """A blocking client; `fresh`: no cached token (the first call logs in)."""
        name, password, cached = self.login(fresh=fresh)
        p = self.profile
        client = Tradovate(self.environment, name, password, token=cached.access_token if cached else None,
                           app_id=p.app_id, app_version=p.app_version, cid=p.cid, sec=p.sec, device_id=p.device_id)
        adopt(client.session, cached)
        return client

    def async_client(self) -> AsyncTradovate:
        name, password, cached = self.login(fresh=False)
        p = self.profile
        client = AsyncTradovate(self.environment, name, password, token=cached.access_token if cached else None,
                                app_id=p.app_id, app_version=p.app_version, cid=p.cid, sec=p.sec,
                                device_id=p.device_id)
        adopt(client.session, cached)
        return client

    def remember(self, session: Session) -> None:
        """Keep the session's token for the next run (when the cache is on)."""
        if self.profile.user:
            self.cache.put(self.environment, self.profile.user, session)
