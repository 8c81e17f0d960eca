"""Simulator controls on every process before they answer (several processes on one PostgreSQL database).

The process that serves `/sim/quote`, `/sim/clock`, `/sim/reset`, `/sim/limits` or `/sim/password` applies it,
then sends it on NOTIFY `tradovate_sim_control` (kind, request body, a fresh id) and waits until every other live
process has acknowledged it on `tradovate_sim_control_ack`. A process applies controls one at a time, in the order
it receives them, after catching its memory up with every commit that finished before (so a reset or a password
set elsewhere is in memory first). The live processes are the connections listening for controls, named
`tradovate-sim <process>` in `pg_stat_activity`: a killed process's session ends with it and is not waited for.
A process that does not answer within ACK_SECONDS is logged and not waited for any longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import msgspec

from tradovate_sim.service.background import Background
from tradovate_sim.service.replica import Replica
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.postgres_cluster import ACK_CHANNEL as ACK
from tradovate_sim.storage.postgres_cluster import CONTROL_CHANNEL as CONTROL
from tradovate_sim.storage.postgres_cluster import PostgresCluster

__all__ = ["Broadcast"]

log = logging.getLogger("tradovate_sim")

ACK_SECONDS = 5.0


class _Control(msgspec.Struct, frozen=True):
    id: str
    origin: str
    kind: str
    body: str


class _Ack(msgspec.Struct, frozen=True):
    id: str
    by: str


Handler = Callable[[bytes], Awaitable[None]]


class Broadcast:
    """Sends this process's controls to the others and applies theirs (nothing to do on SQLite: one process)."""

    def __init__(self, cluster: PostgresCluster | None, replica: Replica | None) -> None:
        self.cluster = cluster
        self.replica = replica
        self.me = cluster.name if cluster is not None else f"{os.getpid()}"
        self.handlers: dict[str, Handler] = {}
        self._waiting: dict[str, tuple[set[str], asyncio.Event]] = {}
        self._queue: asyncio.Queue[_Control] = asyncio.Queue()
        self.background = Background()  # the loop applying other processes' controls

    async def start(self) -> None:
        if self.cluster is None:
            return
        self.me = self.cluster.name
        await self.cluster.listen(CONTROL, self._received)
        await self.cluster.listen(ACK, self._acknowledged)
        self.background.spawn(self._apply_loop(), name="controls")

    async def stop(self) -> None:
        await self.background.stop()

    async def everywhere(self, kind: str, body: bytes) -> None:
        """Have every other live process apply this control; returns once they all did (or died, or timed out).
        The database away or every pooled connection busy: a StoreError (the caller answers 503; the control is
        applied here, and setting it again is harmless)."""
        if self.cluster is None:
            return
        try:
            await self._everywhere(self.cluster, kind, body)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            raise StoreError(f"the control could not reach the other processes: {error}") from None

    async def _everywhere(self, cluster: PostgresCluster, kind: str, body: bytes) -> None:
        peers = set(await cluster.peers()) - {self.me}
        if not peers:
            return
        control = _Control(id=uuid.uuid4().hex, origin=self.me, kind=kind, body=body.decode())
        done = asyncio.Event()
        self._waiting[control.id] = (peers, done)
        try:
            await cluster.notify(CONTROL, msgspec.json.encode(control).decode())
            deadline = asyncio.get_running_loop().time() + ACK_SECONDS
            while not done.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), 0.25)
                if done.is_set():
                    break
                alive = set(await cluster.peers())
                peers &= alive  # a process that died meanwhile is not waited for
                if not peers:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    log.warning("control %s: no answer from %s within %g s", kind, sorted(peers), ACK_SECONDS)
                    break
        finally:
            self._waiting.pop(control.id, None)

    def _received(self, payload: str) -> None:
        try:
            control = msgspec.json.decode(payload, type=_Control)
        except msgspec.DecodeError:
            log.warning("a control that cannot be read: %.200s", payload)
            return
        if control.origin != self.me:
            self._queue.put_nowait(control)

    def _acknowledged(self, payload: str) -> None:
        try:
            ack = msgspec.json.decode(payload, type=_Ack)
        except msgspec.DecodeError:
            return
        found = self._waiting.get(ack.id)
        if found is not None:
            found[0].discard(ack.by)
            if not found[0]:
                found[1].set()

    async def _apply_loop(self) -> None:
        assert self.cluster is not None
        while True:
            control = await self._queue.get()
            try:
                if self.replica is not None:
                    await self.replica.fresh()
                handler = self.handlers.get(control.kind)
                if handler is not None:
                    await handler(control.body.encode())
            except Exception:
                log.exception("applying the control %s from %s", control.kind, control.origin)
            try:
                await self.cluster.notify(ACK, msgspec.json.encode(_Ack(id=control.id, by=self.me)).decode())
            except Exception as error:  # the database is away: the origin stops waiting at its deadline
                log.warning("acknowledging control %s: %s", control.kind, error)
