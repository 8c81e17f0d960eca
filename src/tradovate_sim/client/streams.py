"""What a socket delivers as async iterators: `props` changes after a `user/syncrequest`, quotes, depth of market and
chart packets. Each is a queue the socket's reader fills; a stream ends when it is closed or the socket ends (an
error that ended the socket is raised from the iteration)."""

import asyncio
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from tradovate_sim.model.market import ChartPacket, ChartSubscription, DomPacket, GetChart, QuotePacket
from tradovate_sim.model.requests import SyncRequest
from tradovate_sim.model.session import Change, SyncSnapshot

T = TypeVar("T")


class _End:
    """Put in a queue: the stream is over."""


END = _End()


class Stream(Generic[T]):
    """An async iterator over what the socket puts in (`put`); `end()` or `fail(error)` ends it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[T | _End | BaseException] = asyncio.Queue()
        self.ended = False

    def put(self, item: T) -> None:
        if not self.ended:
            self.queue.put_nowait(item)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(END)

    def fail(self, error: BaseException) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(error)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        item = await self.queue.get()
        if isinstance(item, _End):
            self.queue.put_nowait(item)  # every later `__anext__` ends too
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self.queue.put_nowait(item)
            raise item
        return item


class Sync(Stream[Change]):
    """`user/syncrequest`: `snapshot` (the answer), then the `props` changes that follow it, typed by `entityType`
    (model/kinds.py). After a reconnection the request is sent again: `snapshot` is the new answer and `resyncs`
    counts them; changes made while the socket was down are in that snapshot, not in the stream."""

    def __init__(self, request: SyncRequest, snapshot: SyncSnapshot) -> None:
        super().__init__()
        self.request = request
        self.snapshot = snapshot
        self.resyncs = 0


Closer = Callable[[], Coroutine[Any, Any, None]]


class Subscription(Stream[T]):
    """A market-data subscription: iterate it; `async with` (or `aclose()`) unsubscribes."""

    def __init__(self, contract_id: int, closer: Closer) -> None:
        super().__init__()
        self.contract_id = contract_id
        self.closer = closer

    async def aclose(self) -> None:
        if not self.ended:
            self.end()
            await self.closer()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()


class Quotes(Subscription[QuotePacket]):
    """`md/subscribeQuote` of one contract: its quote packets."""


class Doms(Subscription[DomPacket]):
    """`md/subscribeDOM` of one contract: its depth-of-market packets."""


class Chart(Subscription[ChartPacket]):
    """`md/getChart`: the history packets (the last with `eoh`), then the realtime ones; `ids` is the answer
    (a reconnection asks again and takes the new ids)."""

    def __init__(self, request: GetChart, ids: ChartSubscription, closer: Closer) -> None:
        super().__init__(0, closer)
        self.request = request
        self.ids = ids

    def owns(self, packet: ChartPacket) -> bool:
        return packet.id in (self.ids.historical_id, self.ids.realtime_id)
