"""What the service needs from the outside, as Protocols: a durable store, a publisher of changes, a time source."""

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from tradovate_sim.core.decision import Change
from tradovate_sim.model.ids import AccountId


class Store(Protocol):
    async def open(self) -> None: ...
    def load(self) -> list[tuple[str, int, bytes]]: ...
    def submit(self, changes: bytes | None, meta: Mapping[str, bytes | None] | None = None) -> asyncio.Future[int]: ...
    def get_meta(self, key: str) -> bytes | None: ...
    async def reset(self, changes: bytes | None = None, meta: Mapping[str, bytes | None] | None = None) -> int: ...
    async def close(self) -> None: ...


class Coordination(Protocol):
    """Several server processes on one database (service/replica.py): one account's commands serialized across
    them, and commits that say which accounts' locks they were made under."""

    def holding(self, account_id: AccountId) -> AbstractAsyncContextManager[None]: ...
    def holding_free(self, account_ids: Iterable[AccountId]) -> AbstractAsyncContextManager[list[AccountId]]: ...
    def submit(self, changes: bytes | None, meta: Mapping[str, bytes | None] | None) -> asyncio.Future[int]: ...
    async def ids_above(self, entity_type: str) -> None: ...
    async def clock_is(self, fixed: datetime | None) -> bool: ...


class Publisher(Protocol):
    """Receives every committed change, in commit order (WebSocket `props` fan-out)."""

    def publish(self, changes: Sequence[Change], seq: int) -> None: ...


class TimeSource(Protocol):
    """Tells the time (UTC, aware). The wall clock for tokens and sessions; a fake in tests."""

    def now(self) -> datetime: ...


class Telemetry(Protocol):
    """What the service counts for operators (the server's Prometheus metrics implement it; nothing by default)."""

    def auto_liq_breached(self) -> None:
        """An account crossed an auto-liquidation threshold (the risk engine calls this once per breach)."""
