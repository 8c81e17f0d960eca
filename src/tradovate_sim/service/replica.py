"""This process's state as a replica of a PostgreSQL database that other server processes also write.

- **Following**: every journal row another process committed is applied to memory and published to this process's
  sockets exactly as a local commit is (in transaction order, which is commit order for one account), woken by
  NOTIFY on the journal channel, with a 100 ms poll as backstop. A row that set meta keys makes the process read
  them again (a password set elsewhere, the seed /sim/reset uses).
- **Account locks**: a command holds the account's PostgreSQL advisory lock from before it decides until its
  commit has landed, and first catches its replica up to the account's head (the seq of the account's last
  commit, by whichever process): it decides on the latest state, and the next holder anywhere decides on its.
- **Freshness**: a request first waits until memory holds every commit that finished before it came (`fresh`); a
  read skips that while no other process is seen, a command never does (another may be unseen for a moment after
  PostgreSQL restarted: its listening connection, restored by its follower, is how processes see each other, and
  a process acknowledges no write without it).
- **Ids**: blocks of ids per entity type, reserved in PostgreSQL; a spare block per type is refilled in the
  background when the current one is taken up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import msgspec
from asyncpg.exceptions import InternalClientError  # a connection that died mid-statement

from tradovate_sim.core.decision import Change
from tradovate_sim.model.enums import EventType
from tradovate_sim.model.ids import AccountId
from tradovate_sim.model.kinds import KINDS
from tradovate_sim.service import seed
from tradovate_sim.service.background import Background
from tradovate_sim.service.platform import Platform
from tradovate_sim.storage.entities import JournalChange
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.postgres import JOURNAL_CHANNEL, PostgresStore
from tradovate_sim.storage.postgres_cluster import JournalRow, PostgresCluster
from tradovate_sim.storage.shared_state import confirmed_clock

__all__ = ["BlockIds", "Replica"]

log = logging.getLogger("tradovate_sim")

POLL_SECONDS = 0.1  # the backstop when a notification is lost
ID_BLOCK = 1000
_CHANGES = msgspec.json.Decoder(list[JournalChange])
_SESSION_KINDS = frozenset({"userSession", "credential", "user"})  # the identity's book follows them
_CONTRACT = "contract"


@dataclass
class _Held:
    """The PostgreSQL locks one command (task) holds, on one pooled connection, and what it committed under them."""

    conn: asyncpg.pool.PoolConnectionProxy
    accounts: list[int] = field(default_factory=list)
    landings: list[asyncio.Future[int]] = field(default_factory=list)


_HELD: ContextVar[_Held | None] = ContextVar("held_account_locks", default=None)


class BlockIds:
    """Ids unique across processes: per entity type, the current block and a spare one."""

    def __init__(self, cluster: PostgresCluster) -> None:
        self.cluster = cluster
        self.current: dict[str, list[int]] = {}  # entity type -> [next, end)
        self.spare: dict[str, int] = {}  # entity type -> the first id of a reserved block
        self.floors: dict[str, int] = {}
        self.refills = Background()

    async def fill(self, floors: Mapping[str, int]) -> None:
        """Reserve a current and a spare block of every type, above `floors` (the largest id in memory + 1)."""
        self.floors = dict(floors)
        first = await self.cluster.reserve(self.floors, ID_BLOCK)
        second = await self.cluster.reserve(self.floors, ID_BLOCK)
        self.current = {t: [start, start + ID_BLOCK] for t, start in first.items()}
        self.spare = dict(second)

    def next(self, entity_type: str) -> int:
        block = self.current.get(entity_type)
        if block is None or block[0] >= block[1]:
            start = self.spare.pop(entity_type, None)
            if start is None:
                raise StoreError(f"no {entity_type} ids reserved yet (the database is slow to answer)")
            block = self.current[entity_type] = [start, start + ID_BLOCK]
            self._refill_later(entity_type)
        value = block[0]
        block[0] += 1
        return value

    async def above(self, seen: Mapping[str, int]) -> None:
        """Make the next id of every type larger than the largest one in memory (`seen`, which holds another
        process's commits once followed): ids of one account increase in the order its commands ran, whichever
        process ran them. A type that fell behind moves to its spare block, or to a new one (one round trip)."""
        behind: dict[str, int] = {}
        for entity_type, block in self.current.items():
            floor = seen.get(entity_type, 0)
            if block[0] > floor:
                continue
            spare = self.spare.get(entity_type)
            if spare is not None and spare > floor:
                block[:] = [spare, spare + ID_BLOCK]
                del self.spare[entity_type]
                self._refill_later(entity_type)
            else:
                behind[entity_type] = floor + 1
        if behind:
            found = await self.cluster.reserve(behind, ID_BLOCK)
            for entity_type, start in found.items():
                self.current[entity_type] = [start, start + ID_BLOCK]
                if self.spare.get(entity_type, start) < start:  # below: it would hand out smaller ids later
                    del self.spare[entity_type]
                    self._refill_later(entity_type)

    def _refill_later(self, entity_type: str) -> None:
        self.refills.spawn(self._refill(entity_type))

    async def _refill(self, entity_type: str) -> None:
        for attempt in range(50):
            try:
                found = await self.cluster.reserve({entity_type: self.floors.get(entity_type, 1)}, ID_BLOCK)
            except (StoreError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("reserving %s ids failed (%s); trying again", entity_type, error)
                await asyncio.sleep(min(2.0, 0.1 * (attempt + 1)))
                continue
            current = self.current.get(entity_type)
            if current is not None and found[entity_type] < current[1]:
                continue  # reserved before `above` moved past it: it would hand out smaller ids later
            self.spare[entity_type] = found[entity_type]
            return


class Replica:
    """Follows the journal into the platform's memory and serializes commands of one account across processes."""

    def __init__(self, platform: Platform, store: PostgresStore, cluster: PostgresCluster) -> None:
        self.platform = platform
        self.store = store
        self.cluster = cluster
        self.applied_of: dict[int, int] = dict(store.heads)  # account -> the last seq of it in memory
        self.ids = BlockIds(cluster)
        self.followed: list[Callable[[], None]] = []  # after rows that touched users' sessions or credentials
        self.rows_followed = 0
        # No other process on the database (checked every poll): reads need not wait. A process that joins opens
        # its listening connection before it loads, so it is seen long before it can acknowledge a write.
        self.alone = False
        self._peers_checked = 0.0
        self._wanted = asyncio.Event()
        self._polling = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._clock_waited: tuple[datetime | None, datetime | None] | None = None  # logged once per disagreement

    async def start(self) -> None:
        """Reserve ids, hook into the platform and follow the journal."""
        max_ids = self.platform.state.max_ids
        await self.ids.fill({kind.name: max_ids[kind.name] + 1 for kind in KINDS})
        self.platform.ids = self.ids
        self.platform.cluster = self
        await self.cluster.listen(JOURNAL_CHANNEL, lambda _payload: self._wanted.set())
        await self.poll()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="journal-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reloaded(self) -> None:
        """The platform loaded the store's entities again (this process's reset): heads start over."""
        self.applied_of = dict(self.store.heads)

    async def reload(self) -> None:
        """Another process reset the database: read it again, follow from there."""
        async with self._polling:
            async with self.cluster.pooled() as conn:
                await self.store.reread(conn)
            self.platform.load()
            self.cluster.snapshot = self.store.snapshot
            self.cluster.horizon = int(self.store.snapshot.split(":", 1)[0])
            self.store.own.clear()
            self.applied_of = dict(self.store.heads)

    # --- following --------------------------------------------------------------------------------------

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), POLL_SECONDS)
            self._wanted.clear()
            try:
                if not self.cluster.listening:  # lost with PostgreSQL's restart: others cannot see this process
                    self.alone = False
                    await self.cluster.listen_again()
                await self.poll()
                now = asyncio.get_running_loop().time()
                if self.cluster.listening and now - self._peers_checked >= POLL_SECONDS:
                    self._peers_checked = now
                    self.alone = len(await self.cluster.peers()) <= 1
            except (StoreError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("following the journal: %s", error)
                await asyncio.sleep(POLL_SECONDS)
            except Exception:  # a bug: logged with its cause; the process goes on following (it stopped before)
                log.exception("following the journal failed")
                await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> None:
        """Apply every row of the transactions that finished since the last poll."""
        async with self._polling:
            own = self.store.own
            rows = await self.cluster.follow(own)
            horizon = self.cluster.horizon
            for xid in [x for x in own if x < horizon]:  # below the horizon: never asked about again
                own.discard(xid)
            meta = sessions = False
            for row in rows:
                sessions |= self.apply(row)
                meta |= row.meta
            if meta:
                self.store.followed_meta(await self.cluster.read_meta())
            if sessions:
                for listener in self.followed:
                    listener()

    def apply(self, row: JournalRow) -> bool:
        """Apply and publish one row; True if it touched users' sessions or credentials."""
        platform = self.platform
        changes = [Change(entity_type=c.entity_type, event_type=EventType(c.event_type),
                          entity=platform.decoders[c.entity_type].decode(c.entity))
                   for c in _CHANGES.decode(row.body) if c.entity_type in platform.decoders]
        platform.state.apply_all(changes)
        for account in row.accounts:
            if self.applied_of.get(account, 0) < row.seq:
                self.applied_of[account] = row.seq
        self.rows_followed += 1
        if any(c.entity_type == _CONTRACT for c in changes):  # listed elsewhere (a roll): quoted here as there
            seed.quote_contracts(platform, platform.now())
        if changes:
            platform.fanout.publish(changes, row.seq, followed=True)
        return any(c.entity_type in _SESSION_KINDS for c in changes)

    async def caught_up(self, heads: Mapping[int, int]) -> None:
        """Wait until memory holds every commit up to each account's head."""
        while any(self.applied_of.get(a, 0) < seq for a, seq in heads.items()):
            await self.poll()
            if any(self.applied_of.get(a, 0) < seq for a, seq in heads.items()):
                await asyncio.sleep(0.002)  # a transaction older than the head's is still running

    async def fresh(self, deciding: bool = False) -> None:
        """Wait until memory holds every commit that finished before this call (read-your-writes across
        processes): every transaction that had begun by now has ended and its rows are applied.

        A read skips the wait while no other process is seen, and is answered from memory as it is when the
        database cannot say. A command (`deciding`) never is: it may decide without taking an account's lock (an
        order this process does not know), and another process may be unseen (its listening connection died with
        PostgreSQL's restart and is not back yet); it waits, or fails with a StoreError (503) naming the database.
        The store and the listening connection, if they are being restored, are tried at once first."""
        if self.alone and not deciding:
            return
        try:
            if deciding:
                await self.store.reconnected()
                if not self.cluster.listening and not await self.cluster.listen_again():
                    raise StoreError("the database is unreachable (its listening connection is lost)")
            xmax = await self.cluster.xmax()
            while self.cluster.horizon < xmax:
                await self.poll()
                if self.cluster.horizon < xmax:
                    await asyncio.sleep(0.002)
        except (StoreError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            if deciding:
                raise StoreError(f"catching up with the commits of other processes: {error}") from None
            # the database is away: answer from memory as it is (writes answer 503 meanwhile)
            log.warning("reads cannot prove they are fresh: %s", error)

    # --- the platform's hooks ---------------------------------------------------------------------------

    @asynccontextmanager
    async def holding(self, account_id: AccountId) -> AsyncIterator[None]:
        """The account's lock across processes, with memory caught up to its head, until what was committed
        under it has landed."""
        held = _HELD.get()
        outer = held is None
        if held is None:
            held = _Held(conn=await self._connection())
            token = _HELD.set(held)
        try:
            try:
                head = await self.cluster.lock(held.conn, account_id)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, InternalClientError) as error:
                raise StoreError(f"the account lock: {error}") from None
            held.accounts.append(account_id)
            try:
                try:
                    await self.caught_up({account_id: head})
                    await self._ids_above()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, InternalClientError) as error:
                    raise StoreError(f"catching up with the account's commits: {error}") from None
                yield
            finally:
                if not outer:
                    await self._landed(held)
                    held.accounts.remove(account_id)
                    with contextlib.suppress(Exception):
                        await self.cluster.unlock(held.conn, [account_id])
        finally:
            if outer:
                _HELD.reset(token)
                await asyncio.shield(self._finish(held))

    @asynccontextmanager
    async def holding_free(self, account_ids: Iterable[AccountId]) -> AsyncIterator[list[AccountId]]:
        """The locks of those of `account_ids` no process holds, taken without waiting, memory caught up."""
        wanted = list(account_ids)
        if not wanted or _HELD.get() is not None:
            yield wanted if _HELD.get() is not None else []
            return
        held = _Held(conn=await self._connection())
        token = _HELD.set(held)
        try:
            try:
                heads = await self.cluster.try_lock(held.conn, wanted)
                held.accounts.extend(heads)
                await self.caught_up(heads)
                await self._ids_above()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, InternalClientError) as error:
                raise StoreError(f"the account locks: {error}") from None
            yield [a for a in wanted if a in heads]
        finally:
            _HELD.reset(token)
            await asyncio.shield(self._finish(held))

    def submit(self, changes: bytes | None, meta: Mapping[str, bytes | None] | None) -> asyncio.Future[int]:
        """The store's submit, with the accounts whose locks this command holds (their heads move)."""
        if not self.cluster.listening:  # unseen by the others (see `fresh`): it acknowledges nothing meanwhile
            raise StoreError("the database is unreachable (its listening connection is lost; restoring it)")
        held = _HELD.get()
        accounts = tuple(held.accounts) if held is not None else ()
        landing = self.store.submit(changes, meta, accounts)
        if held is not None:
            held.landings.append(landing)

        def landed(done: asyncio.Future[int]) -> None:
            if done.cancelled() or done.exception() is not None:
                return
            for account in accounts:
                if self.applied_of.get(account, 0) < done.result():
                    self.applied_of[account] = done.result()

        landing.add_done_callback(landed)
        return landing

    async def ids_above(self, entity_type: str) -> None:
        """The next id of `entity_type` larger than every one in memory (outside any account's lock)."""
        try:
            await self.ids.above({entity_type: self.platform.state.max_ids[entity_type]})
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(f"reserving ids: {error}") from None

    async def clock_is(self, fixed: datetime | None) -> bool:
        """Whether the clock the database holds is `fixed` (None: real time). Inside an account's lock, the clock's
        lock is taken shared on the same connection and held until the command's commits landed (a move
        elsewhere writes the clock after them, storage/shared_state.py)."""
        held = _HELD.get()
        try:
            if held is not None:
                confirmed = await confirmed_clock(held.conn)
            else:
                async with self.cluster.pooled() as conn:
                    confirmed = await confirmed_clock(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(f"reading the shared clock: {error}") from None
        if confirmed != fixed:
            if (fixed, confirmed) != self._clock_waited:
                log.warning("this process's clock (%s) is not the one set last (%s): its timers wait for the move",
                            fixed or "real", confirmed or "real")
            self._clock_waited = (fixed, confirmed)
            return False
        self._clock_waited = None
        return True

    async def _ids_above(self) -> None:
        try:
            await self.ids.above(self.platform.state.max_ids)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(f"reserving ids: {error}") from None

    async def _connection(self) -> asyncpg.pool.PoolConnectionProxy:
        try:
            return await self.cluster.acquire()
        except TimeoutError:  # every pooled connection holds a busy account's lock
            raise StoreError("no database connection was free within the pool's timeout") from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(f"the database is unreachable ({error})") from None

    @staticmethod
    async def _landed(held: _Held) -> None:
        if held.landings:
            await asyncio.gather(*held.landings, return_exceptions=True)
            held.landings.clear()

    async def _finish(self, held: _Held) -> None:
        """After the commits landed: the connection back to the pool, which unlocks everything it held."""
        await self._landed(held)
        try:
            await self.cluster.release(held.conn)  # asyncpg's reset runs pg_advisory_unlock_all()
        except Exception as error:  # a lost connection: its locks went with its session
            log.warning("releasing account locks: %s", error)
