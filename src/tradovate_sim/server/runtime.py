"""Builds and runs everything a server owns, from settings: store, platform, identity, market loop."""

import asyncio
import contextlib
import gc
import logging
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import msgspec

from tradovate_sim.core.decision import Change, updated
from tradovate_sim.model.entities import Contract, Credential, User, UserSession
from tradovate_sim.model.enums import EventType
from tradovate_sim.model.simulator import PasswordState
from tradovate_sim.server.leader import Leadership
from tradovate_sim.service import seed
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.service.autoliquidation import AutoLiquidation
from tradovate_sim.service.clock import Clock, WallClock
from tradovate_sim.service.endpoints import Services
from tradovate_sim.service.expiry import Expiry
from tradovate_sim.service.identity import Identity
from tradovate_sim.service.margins import Margins
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.replica import Replica
from tradovate_sim.service.rollover import Rollover
from tradovate_sim.service.settlement import Settlement
from tradovate_sim.service.simulator import EARLIEST, LATEST, MarketLoop
from tradovate_sim.settings import Settings
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.postgres import PostgresStore
from tradovate_sim.storage.postgres_cluster import PostgresCluster
from tradovate_sim.storage.shared_state import (
    CLOCK_KEY,
    LIMITS_KEY,
    READY_KEY,
    SharedQuote,
    SimulatorState,
    clock_value,
)
from tradovate_sim.storage.sqlite import SCHEMA_VERSION, SqliteStore
from tradovate_sim.venue.calendar import CmeCalendar
from tradovate_sim.venue.catalogue import load_catalogue
from tradovate_sim.venue.market import Market

SEED_KEY = "seed"
SECRET_KEY = "token_secret"
DEMO_USER = "demo"

log = logging.getLogger("tradovate_sim.storage")

SLOW_STOP_SECONDS = 3.0  # a step of the shutdown still running this long is logged


@contextlib.contextmanager
def _watched(step: str) -> Iterator[None]:
    """Log a warning naming `step` if it is still running after `SLOW_STOP_SECONDS`."""
    late = asyncio.get_running_loop().call_later(
        SLOW_STOP_SECONDS, log.warning, "stopping: %s still running after %.0f s", step, SLOW_STOP_SECONDS)
    try:
        yield
    finally:
        late.cancel()


class StartupError(Exception):
    """The server cannot start for a reason the user can fix (the database path or file); one line says which."""


def start_clock(settings: Settings) -> Clock:
    """The simulated clock: wall time, or frozen at `--clock` (within the range `/sim/clock` takes)."""
    clock = Clock()
    if settings.clock is not None:
        clock.set(settings.clock)
        if not EARLIEST <= clock.now() <= LATEST:
            raise StartupError(f"--clock: must be between {EARLIEST.date()} and {LATEST.date()}")
    return clock


class Runtime:
    def __init__(self, settings: Settings, out: TextIO = sys.stdout, hashing: PasswordHashing | None = None) -> None:
        self.settings = settings
        self.out = out
        # `fast` (throwaway test servers: the pytest plugin) hashes in microseconds instead of ~30 ms; a hash names its
        # own parameters, so either setting verifies passwords hashed under the other
        self.hashing = hashing or (PasswordHashing(time_cost=1, memory_cost=8, parallelism=1)
                                   if settings.password_hashing == "fast" else PasswordHashing())
        clock = start_clock(settings)  # a bad --clock before the database is opened
        self.store: SqliteStore | PostgresStore = self.open_store(settings)
        catalogue = load_catalogue(Path(settings.catalogue) if settings.catalogue else None)
        calendar = CmeCalendar(cache=Path(settings.calendar_cache) if settings.calendar_cache else None)
        self.platform = Platform(self.store, clock, catalogue, calendar, Market(seed=0))
        self.loop = MarketLoop(self.platform, settings.tick_seconds)
        self.autoliq = AutoLiquidation(self.platform)
        self.loop.settled.append(self.autoliq.drain)
        self.margins = Margins(self.platform)
        self.rollover = Rollover(self.platform)
        self.expiry = Expiry(self.platform)
        self.settlement = Settlement(self.platform)
        self.platform.consequences.append(self.margins.follow)
        self.services: Services | None = None
        # PostgreSQL: other processes may share the database (docs/design.md "PostgreSQL")
        self.cluster = PostgresCluster(settings.db, "") if settings.postgres else None
        self.replica: Replica | None = None
        self.shared: SimulatorState | None = None  # PostgreSQL: the clock, quotes and limits the processes share
        self.limits: bytes | None = None  # the request limits /sim/limits set (PostgreSQL: shared, as above)
        self.leadership = Leadership(self)

    @staticmethod
    def open_store(settings: Settings) -> "SqliteStore | PostgresStore":
        """The store `--db` names (not opened yet); a StartupError for a file that cannot be."""
        if settings.postgres:
            return PostgresStore(settings.db)
        path = settings.sqlite_path
        if path.is_dir():
            raise StartupError(f"--db {path}: is a directory, not a database file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StartupError(f"--db {path}: cannot create its directory: {error.strerror}") from None
        return SqliteStore(str(path), synchronous="FULL" if settings.synchronous == "FULL" else "NORMAL")

    async def start(self) -> Services:
        cluster = self.cluster
        try:
            if cluster is not None:  # one process starts at a time: seeding and listing contracts happen once
                await cluster.open()
                await cluster.lock_start()
            await self.store.open()
        except StoreError as error:
            where = self.settings.db_label if self.settings.postgres else self.settings.sqlite_path
            if cluster is not None:
                await cluster.close()
            raise StartupError(f"--db {where}: {error}") from None
        if isinstance(self.store, SqliteStore) and self.store.migrated_from is not None:
            log.warning("%s: SQLite schema version %d -> %d (earlier versions of tradovate-sim cannot open it now)",
                        self.settings.sqlite_path, self.store.migrated_from, SCHEMA_VERSION)
        self.platform.load()
        if cluster is not None and isinstance(self.store, PostgresStore):
            cluster.snapshot = self.store.snapshot
            cluster.horizon = int(self.store.snapshot.split(":", 1)[0])
            self.replica = Replica(self.platform, self.store, cluster)
            await self.replica.start()
        quotes = await self.join()
        if seed.is_empty(self.platform):
            await self.first_start()
        else:
            await self.restart()
        await self.list_contracts()
        self.take_quotes(quotes)
        await self.margins.refresh(everyone=True)
        await self.settlement.sweep(restarted=True)  # contracts that expired while the server was down
        await self.rollover.roll()  # trade dates that passed while the server was down
        secret = self.store.get_meta(SECRET_KEY)
        assert secret is not None
        identity = Identity(self.platform, secret, self.hashing, WallClock())  # tokens and sessions: real time
        self.services = Services(platform=self.platform, identity=identity, hashing=self.hashing,
                                 autoliq=self.autoliq)
        if self.replica is not None:  # sessions ended or passwords set by another process end them here too
            self.replica.followed.append(identity.restore)
        self.autoliq.attach()
        gc.collect()
        gc.freeze()  # what was loaded lives as long as the server: keep it out of every later collection
        gc.set_threshold(20_000, 20, 20)  # requests allocate little that cycles; collect less often
        # the breaches of while the server was down act now; the market and the timers start (on PostgreSQL: on
        # the one process that leads, see server/leader.py)
        await self.leadership.start()
        if cluster is not None:
            await cluster.hold_shared(READY_KEY)  # others that start from now on take on the shared state
            await cluster.unlock_start()
        return self.services

    async def join(self) -> list[SharedQuote]:
        """PostgreSQL: while other processes serve, this one takes on their frozen clock (before anything is
        listed or rolled for a date) and returns their quotes set by hand; the first process clears what the last
        deployment left, and starts as on SQLite (storage/shared_state.py)."""
        if self.cluster is None:
            return []
        shared = self.shared = SimulatorState(self.cluster.pooled)
        if not await shared.others_started():
            await shared.clear()
            await shared.save_clock(self.platform.clock.fixed)  # --clock: the clock the others take on and check
            return []
        fixed, quotes, self.limits = await shared.load()
        if fixed is not None:
            self.platform.clock.set(fixed)
        else:  # the others run on the real clock (whatever this process's --clock says)
            self.platform.clock.resume()
        return quotes

    def take_quotes(self, quotes: list[SharedQuote]) -> None:
        market = self.platform.market
        for shared in quotes:
            contract_id = shared.quote.contract_id
            if self.platform.instrument(contract_id) is None:
                continue  # not listed for this date
            market.quotes[contract_id] = shared.quote
            if shared.pinned:
                market.pinned.add(contract_id)
            else:
                market.pinned.discard(contract_id)

    async def share_clock(self) -> None:
        """The clock as it is now, for the processes that start later (PostgreSQL)."""
        if self.shared is not None:
            await self.shared.save_clock(self.platform.clock.fixed)

    async def share_limits(self, limits: bytes) -> None:
        """The request limits /sim/limits set, for the processes that start later (PostgreSQL)."""
        self.limits = limits
        if self.shared is not None:
            await self.shared.save(LIMITS_KEY, limits)

    async def share_quote(self, contract_id: int) -> None:
        """The quote of `contract_id` as it is now, for the processes that start later (PostgreSQL)."""
        quote = self.platform.market.quotes.get(contract_id)
        if self.shared is not None and quote is not None:
            await self.shared.save_quote(quote, contract_id in self.platform.market.pinned)

    async def first_start(self) -> None:
        settings, platform = self.settings, self.platform
        admin_password = settings.admin_password or secrets.token_urlsafe(12)
        demo_password = (settings.demo_password or secrets.token_urlsafe(9)) if settings.seed == "demo" else None
        now = platform.now()
        changes = seed.reference_changes(platform)
        changes += seed.organization_changes(platform, self.hashing, admin_name=settings.admin_user,
                                             admin_password=admin_password, demo_password=demo_password, now=now)
        encoded = msgspec.json.encode([(c.entity_type, c.entity) for c in changes])
        await platform.commit(changes, {SEED_KEY: encoded, SECRET_KEY: secrets.token_bytes(32)})
        base = f"http://{settings.host}:{settings.port}"
        lines = [f"tradovate-sim: first start, database {settings.db_label}", self.urls(),
                 f"  admin      name {settings.admin_user!r}"
                 + ("" if settings.admin_password else f" password {admin_password!r} (shown once)")]
        if demo_password is not None:
            lines.append(f"  demo user  name 'demo' password {demo_password!r} (accounts DEMO1, DEMO2)"
                         if not settings.demo_password else "  demo user  name 'demo' (accounts DEMO1, DEMO2)")
        lines.append(f"  log in:    curl -s {base}/v1/auth/accesstokenrequest -H 'Content-Type: application/json'"
                     " -d '{\"name\": \"demo\", \"password\": \"...\"}'")
        print("\n".join(lines), file=self.out, flush=True)

    async def restart(self) -> None:
        """A start on an existing database: where it serves, and the passwords given now applied."""
        settings = self.settings
        lines = [f"tradovate-sim: database {settings.db_label}", self.urls()]
        given = [(settings.admin_user, settings.admin_password, "--admin-password"),
                 (DEMO_USER, settings.demo_password, "--demo-password")]
        for name, password, flag in given:
            if password:
                lines.append(await self.set_password(name, password, flag))
        if not all(password for _, password, _ in given):
            lines += ["  passwords  were printed at the first start; to set one, start again with"
                      " --admin-password PW or --demo-password PW",
                      "             (or TRADOVATE_SIM_ADMIN_PASSWORD=PW, TRADOVATE_SIM_DEMO_PASSWORD=PW)"]
        print("\n".join(lines), file=self.out, flush=True)

    def urls(self) -> str:
        host, port = self.settings.host, self.settings.port
        return (f"  REST       http://{host}:{port}/v1   WebSocket ws://{host}:{port}/v1/websocket\n"
                f"  console    http://{host}:{port}/   API docs http://{host}:{port}/docs")

    async def set_password(self, name: str, password: str, flag: str) -> str:
        """`change_password` for a start's flag; returns the line that says what happened."""
        state = await self.change_password(name, password)
        if state is None:
            return f"  warning    {flag} not applied: there is no user {name!r} in this database"
        if not state.changed:
            return f"  {name:<10} password as given by {flag} (unchanged)"
        return f"  {name:<10} password set from {flag}; its open sessions were ended"

    async def change_password(self, name: str, password: str) -> PasswordState | None:
        """Give the user `name` this password, durably (the seed kept for /sim/reset too); a changed password ends
        the user's open sessions and the live sockets of those sessions. None when there is no such user."""
        platform = self.platform
        user_id = platform.state.find(User, name)
        credential = platform.state.get("credential", user_id) if user_id is not None else None
        if not isinstance(credential, Credential):
            return None
        if await asyncio.to_thread(self.hashing.verify, credential.password_hash, password):
            return PasswordState(user_id=credential.id, name=name, changed=False)
        password_hash = await asyncio.to_thread(self.hashing.hash, password)
        changed = msgspec.structs.replace(credential, password_hash=password_hash)
        now = platform.now()
        changes = [updated(changed)]
        changes += [updated(msgspec.structs.replace(s, end_time=now)) for s in platform.entities("userSession")
                    if isinstance(s, UserSession) and s.user_id == credential.id and s.end_time is None]
        raw = self.store.get_meta(SEED_KEY)
        assert raw is not None
        seeded = [(entity_type, changed if entity_type == "credential" and
                   platform.decoders[entity_type].decode(body).id == changed.id else body)
                  for entity_type, body in msgspec.json.decode(raw, type=list[tuple[str, msgspec.Raw]])]
        await platform.commit(changes, {SEED_KEY: msgspec.json.encode(seeded)})
        if self.services is not None:  # the session book follows: their tokens and sockets stop at once
            self.services.identity.restore()
        return PasswordState(user_id=credential.id, name=name, changed=True)

    async def list_contracts(self, known: dict[str, tuple[int, int]] | None = None) -> None:
        """Contracts of the nearest maturities for the clock's date, with quotes (those named in `known` with the
        ids given there)."""
        platform = self.platform
        changes = seed.category_changes(platform) + seed.strategy_type_changes(platform)
        changes += seed.contract_changes(platform, platform.now(), known)
        await platform.commit(changes)
        seed.quote_contracts(platform, platform.now())
        await self.margins.refresh()  # a moved clock may open or close sessions

    async def reset(self) -> None:
        """Back to the freshly seeded state; sessions of seeded users survive so tokens keep working."""
        platform = self.platform
        raw = self.store.get_meta(SEED_KEY)
        secret = self.store.get_meta(SECRET_KEY)
        assert raw is not None and secret is not None
        sessions = list(platform.entities(UserSession))
        # PostgreSQL: ids come in blocks that never restart; contracts listed again keep their ids (as on SQLite,
        # where the ids after a reset start again where the seed's ended), so subscriptions by id carry on
        known = {c.name: (int(c.id), int(c.contract_maturity_id)) for c in platform.entities(Contract)
                 } if self.replica is not None else None
        changes: list[Change] = []
        for entity_type, body in msgspec.json.decode(raw, type=list[tuple[str, msgspec.Raw]]):
            entity = platform.decoders[entity_type].decode(body)
            changes.append(Change(entity_type=entity_type, event_type=EventType.Created, entity=entity))
        seeded_users = {c.entity.id for c in changes if c.entity_type == "user"}
        changes += [Change(entity_type="userSession", event_type=EventType.Created, entity=s)
                    for s in sessions if s.user_id in seeded_users]
        # one durable step: a crash leaves the old state or the seeded one, never an empty file without the secret
        meta = {SEED_KEY: raw, SECRET_KEY: secret}
        clock = clock_value(platform.clock.fixed)
        if self.shared is not None and clock is not None:  # the reset keeps the clock: so does the shared state
            meta[CLOCK_KEY] = clock
        if self.shared is not None and self.limits is not None:  # and the limits
            meta[LIMITS_KEY] = self.limits
        await self.store.reset(platform.encoder.encode(changes), meta)
        platform.load()
        if self.replica is not None:
            self.replica.reloaded()
        if self.services is not None:  # before anything is published: sockets of the sessions it ends hear no more
            self.services.identity.restore()
        platform.market.quotes.clear()
        platform.market.pinned.clear()
        await self.list_contracts(known)
        self.autoliq.reindex()
        await self.margins.refresh(everyone=True)
        self.settlement.forget()
        self.rollover.forget()
        await self.rollover.roll()

    async def reloaded(self) -> None:
        """Another process reset the database (/sim/reset): memory read again, then what a reset does after."""
        if self.replica is None:
            return
        await self.replica.reload()
        if self.services is not None:
            self.services.identity.restore()
        self.platform.market.quotes.clear()
        self.platform.market.pinned.clear()
        await self.list_contracts()
        self.autoliq.reindex()
        await self.margins.refresh(everyone=True)
        self.settlement.forget()
        self.rollover.forget()

    async def stop(self) -> None:
        """Stop the timers and the market, then close the store and the cluster's connections. A step still running
        after `SLOW_STOP_SECONDS` is logged by name (a shutdown that hangs says where)."""
        try:
            for part in (self.leadership, self.rollover, self.margins, self.expiry, self.settlement, self.autoliq,
                         self.loop):
                with _watched(type(part).__name__):
                    await part.stop()
        finally:
            if self.replica is not None:
                with _watched("the journal's follower"):
                    await self.replica.stop()
            with _watched("the store (its queued commits landing)"):
                await self.store.close()  # whatever became of the market loop
            if self.cluster is not None:
                with _watched("the cluster's connections"):
                    await self.cluster.close()
