"""A user's socket quota across several server processes on one PostgreSQL database: the user's 51st socket,
whichever process holds it, closes their oldest, whichever process holds that one.

Every process sends a NOTIFY `tradovate_sim_socket` when one of its sockets is authorized and when it closes.
PostgreSQL delivers notifications to every listener in the same order (its own included), so every process keeps
the same list of each user's sockets in the order they were authorized, and takes the same decision: past
MAX_SOCKETS_PER_USER the first ones go, and the process that holds one closes it. Sockets of a process that died
are dropped from the lists (the live processes are checked every second). A process that starts later knows only
the sockets authorized since: it may let a user hold a few more for as long as older ones live.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from tradovate_sim.server.connection import MAX_SOCKETS_PER_USER, Connection
from tradovate_sim.service.background import Background
from tradovate_sim.storage.postgres_cluster import SOCKET_CHANNEL, PostgresCluster

__all__ = ["SocketQuota"]

log = logging.getLogger("tradovate_sim.websocket")

PRUNE_SECONDS = 1.0


class _Socket(msgspec.Struct, frozen=True):
    by: str  # the process
    socket: int  # the socket, within its process
    user: int
    open: bool


class SocketQuota:
    def __init__(self, cluster: PostgresCluster, evict: Callable[[Connection], None]) -> None:
        self.cluster = cluster
        self.evict = evict
        self.me = cluster.name
        self.mine: dict[int, tuple[Connection, int]] = {}  # this process's sockets in the lists, with their user
        self.users: dict[int, dict[tuple[str, int], None]] = {}  # user -> their sockets, oldest first
        self.background = Background()  # the pruning loop, notifications being sent

    async def start(self) -> None:
        await self.cluster.listen(SOCKET_CHANNEL, self._received)
        self.background.spawn(self._prune(), name="socket-quota")

    async def stop(self) -> None:
        await self.background.stop()

    def opened(self, connection: Connection, user_id: int) -> None:
        """`connection` was authorized as `user_id` (again: it moves to the end of the list)."""
        self.closed(connection)
        self.mine[id(connection)] = (connection, user_id)
        self._send(_Socket(by=self.me, socket=id(connection), user=user_id, open=True))

    def closed(self, connection: Connection) -> None:
        found = self.mine.pop(id(connection), None)
        if found is not None:
            self._send(_Socket(by=self.me, socket=id(connection), user=found[1], open=False))

    def _send(self, message: _Socket) -> None:
        self.background.spawn(self._notify(msgspec.json.encode(message).decode()))

    async def _notify(self, payload: str) -> None:
        try:
            await self.cluster.notify(SOCKET_CHANNEL, payload)
        except Exception as error:  # the database is away: the quota is counted by this process alone meanwhile
            log.warning("socket quota: %s", error)

    def _received(self, payload: str) -> None:
        try:
            message = msgspec.json.decode(payload, type=_Socket)
        except msgspec.DecodeError:
            return
        sockets = self.users.setdefault(message.user, {})
        key = (message.by, message.socket)
        if not message.open:
            sockets.pop(key, None)
            if not sockets:
                del self.users[message.user]
            return
        sockets[key] = None
        while len(sockets) > MAX_SOCKETS_PER_USER:
            by, socket = next(iter(sockets))
            del sockets[(by, socket)]
            found = self.mine.pop(socket, None) if by == self.me else None
            if found is not None:
                self.evict(found[0])

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            if not self.users:
                continue
            try:
                alive = set(await self.cluster.peers())
            except Exception as error:
                log.warning("socket quota: %s", error)
                continue
            for user, sockets in list(self.users.items()):
                for key in [k for k in sockets if k[0] not in alive]:
                    del sockets[key]
                if not sockets:
                    del self.users[user]
