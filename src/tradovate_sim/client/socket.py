"""`TradovateSocket`: Tradovate's WebSocket (asyncio, on the `websockets` library).

- Opens, waits for `o`, sends `authorize` with a token from its `token` source (an `AsyncTradovate`'s, fresh each
  time), then sends the heartbeat `[]` every 2.5 seconds.
- Any operation of model/api.py over the socket: `await ws.call(api.Order.place_order, PlaceOrder(...))`, or the
  same groups as `AsyncTradovate` (`await ws.order.place_order(...)`, `await ws.position.list()`); penalty tickets
  are waited out and the request sent again with its ticket, as over HTTP.
- Streams (client/streams.py): `await ws.sync(SyncRequest(...))` (the snapshot, then typed `props` changes),
  `ws.quotes(symbol)`, `ws.doms(symbol)`, `ws.chart(GetChart(...))` — each an async iterator; `async with` ends it.
- Reconnects when the connection drops (not when `close()` ends it): authorizes again with a fresh token and sends
  every live subscription again (syncrequest, quotes, DOMs, charts). Requests waiting for a reply when it dropped
  fail with `TransportError`; a stream fails with it when reconnecting gives up (`max_reconnects` attempts).
- A server's `c[code, "reason"]` and `shutdown` notice are kept (`close_frame`, `shutdown`); a `c` frame whose code
  says the session ended (4401) or the token is bad does not reconnect.
"""

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from tradovate_sim import wire
from tradovate_sim.client.calls import reply_of, socket_request
from tradovate_sim.client.errors import AuthError, PenaltyCaptchaError, RateLimitedError, TransportError
from tradovate_sim.client.groups import Api, bind
from tradovate_sim.client.session import MAX_TICKETS
from tradovate_sim.client.streams import Chart, Doms, Quotes, Stream, Subscription, Sync
from tradovate_sim.model.api import Awaiting, Operation, Socket
from tradovate_sim.model.enums import EventType
from tradovate_sim.model.kinds import KIND_NAMED
from tradovate_sim.model.market import CancelChart, ChartData, ChartPacket, GetChart, MarketData, MdRequest
from tradovate_sim.model.requests import SyncRequest
from tradovate_sim.model.results import PenaltyTicket
from tradovate_sim.model.session import Change, Shutdown, SyncSnapshot

Req = TypeVar("Req")
Res = TypeVar("Res")
HEARTBEAT_SECONDS = 2.5
MAX_UNCLAIMED = 10_000  # chart packets kept for a getChart whose answer is not read yet
NO_RECONNECT = frozenset({4001, 4401, 4008})  # not authorized in time, session ended / bad token, quota reached


class TradovateSocket(Api[Awaiting]):
    """One WebSocket to `url`, authorized with what `token()` gives (see the module's docstring)."""

    def __init__(self, url: str, token: Callable[[], Awaitable[str]], *, reconnect: bool = True,
                 max_reconnects: int = 5, max_tickets: int = MAX_TICKETS, timeout: float = 10.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.url = url
        self.token = token
        self.reconnect = reconnect
        self.max_reconnects = max_reconnects
        self.max_tickets = max_tickets
        self.timeout = timeout
        self.sleep = sleep  # how a penalty ticket's p-time is waited
        self.connection: ClientConnection | None = None
        self.pending: dict[int, asyncio.Future[tuple[int, object]]] = {}
        self.next_id = 1
        self.syncs: list[Sync] = []
        self.quote_streams: list[Quotes] = []
        self.dom_streams: list[Doms] = []
        self.charts: list[Chart] = []
        self.unclaimed: deque[ChartPacket] = deque(maxlen=MAX_UNCLAIMED)
        self.close_frame: tuple[int, str] | None = None
        self.shutdown: Shutdown | None = None
        self.closing = False
        self.connections = 0  # how many times it connected (1 + reconnections)
        self.tasks: set[asyncio.Task[None]] = set()
        self.opened = asyncio.Event()
        self.recovered = asyncio.Event()  # set when a reconnection has resubscribed everything (cleared on a drop)
        bind(self, self.call)

    # --- connecting ------------------------------------------------------------------------------------------------

    async def connect(self) -> Self:
        """Open and authorize (an `AuthError` when the token is refused)."""
        try:
            self.connection = await asyncio.wait_for(connect(self.url, max_size=None), self.timeout)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            raise TransportError(f"{self.url}: {error!r}") from error
        self.close_frame = None
        self.opened.clear()
        self.connections += 1
        self.own(self.read(self.connection))
        self.own(self.beat(self.connection))
        await asyncio.wait_for(self.opened.wait(), self.timeout)
        token = await self.token()
        await self.call(Socket.authorize, token)
        return self

    def own(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def __aenter__(self) -> Self:
        return await self.connect() if self.connection is None else self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Close cleanly (code 1000): every stream ends, nothing reconnects."""
        self.closing = True
        connection, self.connection = self.connection, None
        if connection is not None:
            await connection.close()
        for task in list(self.tasks):
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*self.tasks - {asyncio.current_task()}, return_exceptions=True)
        self.fail_pending(TransportError("the socket was closed"))
        for stream in self.streams():
            stream.end()

    def streams(self) -> list[Stream[Any]]:
        return [*self.syncs, *self.quote_streams, *self.dom_streams, *self.charts]

    # --- requests --------------------------------------------------------------------------------------------------

    async def call(self, operation: Operation[Req, Res], request: Req) -> Res:
        """Any operation over the socket (the simulator controls are HTTP only); penalty tickets waited out."""
        ticket: str | None = None
        for _ in range(self.max_tickets + 1):
            status, data = await self.roundtrip(operation, request, ticket)
            outcome = reply_of(operation, status, data)
            if not isinstance(outcome, PenaltyTicket):
                return outcome
            if outcome.p_captcha:
                raise PenaltyCaptchaError(operation.name, outcome.p_time)
            await self.sleep(outcome.p_time)
            ticket = outcome.p_ticket
        raise RateLimitedError(operation.name, 200, f"still penalized after {self.max_tickets} tickets")

    async def roundtrip(self, operation: Operation[Req, Any], request: Req, ticket: str | None) -> tuple[int, object]:
        connection = self.connection
        if connection is None:
            raise TransportError("the socket is not open")
        request_id = self.next_id
        self.next_id += 1
        reply: asyncio.Future[tuple[int, object]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = reply
        try:
            await connection.send(socket_request(operation, request, request_id, ticket))
            return await reply
        except ConnectionClosed as error:
            raise TransportError(f"{operation.name}: the socket closed ({error})") from None
        finally:
            self.pending.pop(request_id, None)

    # --- streams ---------------------------------------------------------------------------------------------------

    async def sync(self, request: SyncRequest | None = None) -> Sync:
        """`user/syncrequest` (once per socket): the snapshot, then the `props` changes as they happen."""
        request = request or SyncRequest()
        stream = Sync(request, SyncSnapshot(users=[], contract_groups=[]))
        self.syncs.append(stream)  # before the request: the changes that follow the answer may share its frame
        try:
            stream.snapshot = await self.call(Socket.sync_request, request)
        except BaseException:
            self.syncs.remove(stream)
            raise
        return stream

    async def quotes(self, symbol: str | int) -> Quotes:
        """`md/subscribeQuote`: the contract's quotes, until the stream is closed (`md/unsubscribeQuote`)."""
        contract_id = await self.contract_id(symbol)

        async def unsubscribe() -> None:
            self.quote_streams.remove(stream)
            await self.quietly(Socket.unsubscribe_quote, MdRequest(symbol=contract_id))

        stream = Quotes(contract_id, unsubscribe)
        self.quote_streams.append(stream)  # before the request: the first packet may follow the answer at once
        try:
            await self.call(Socket.subscribe_quote, MdRequest(symbol=symbol))
        except BaseException:
            self.quote_streams.remove(stream)
            raise
        return stream

    async def doms(self, symbol: str | int) -> Doms:
        """`md/subscribeDOM`: the contract's depth of market, until the stream is closed."""
        contract_id = await self.contract_id(symbol)

        async def unsubscribe() -> None:
            self.dom_streams.remove(stream)
            await self.quietly(Socket.unsubscribe_dom, MdRequest(symbol=contract_id))

        stream = Doms(contract_id, unsubscribe)
        self.dom_streams.append(stream)  # before the request: the first packet may follow the answer at once
        try:
            await self.call(Socket.subscribe_dom, MdRequest(symbol=symbol))
        except BaseException:
            self.dom_streams.remove(stream)
            raise
        return stream

    async def chart(self, request: GetChart) -> Chart:
        """`md/getChart`: history packets, then realtime ones, until the stream is closed (`md/cancelChart`)."""
        ids = await self.call(Socket.get_chart, request)

        async def cancel() -> None:
            self.charts.remove(stream)
            await self.quietly(Socket.cancel_chart, CancelChart(subscription_id=stream.ids.realtime_id))

        stream = Chart(request, ids, cancel)
        self.charts.append(stream)
        early = [packet for packet in self.unclaimed if stream.owns(packet)]  # arrived before the answer was read
        for packet in early:
            self.unclaimed.remove(packet)
            stream.put(packet)
        return stream

    async def contract_id(self, symbol: str | int) -> int:
        return symbol if isinstance(symbol, int) else (await self.contract.find(symbol)).id

    async def quietly(self, operation: Operation[Req, Any], request: Req) -> None:
        """A request whose failure does not matter (an unsubscription on a socket that is going away)."""
        if self.connection is not None and not self.closing:
            with contextlib.suppress(TransportError, AuthError):
                await self.call(operation, request)

    # --- the connection's tasks ------------------------------------------------------------------------------------

    async def beat(self, connection: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(HEARTBEAT_SECONDS)
                await connection.send(wire.CLIENT_HEARTBEAT)

    async def read(self, connection: ClientConnection) -> None:
        try:
            async for text in connection:
                self.receive(text if isinstance(text, str) else text.decode())
        except ConnectionClosed:
            pass
        if connection is not self.connection:
            return  # closed by `close()`, or replaced
        self.connection = None
        self.recovered.clear()
        self.fail_pending(TransportError(f"the socket closed: {self.close_frame}"))
        code = self.close_frame[0] if self.close_frame is not None else None
        if self.closing or not self.reconnect or code in NO_RECONNECT:
            error = TransportError(f"the socket closed: {self.close_frame}")
            for stream in self.streams():
                stream.fail(error)
            return
        self.own(self.recover())

    def receive(self, text: str) -> None:
        try:
            frame = wire.parse_frame(text)
        except wire.FrameError:
            return  # nothing this client can act on
        match frame:
            case wire.Open():
                self.opened.set()
            case wire.Heartbeat():
                pass
            case wire.Close(code=code, reason=reason):
                self.close_frame = (code, reason)
            case wire.Messages(items=items):
                for message in items:
                    match message:
                        case wire.Response(s=status, i=request_id, d=data):
                            reply = self.pending.get(request_id) if request_id is not None else None
                            if reply is not None and not reply.done():
                                reply.set_result((status, data))
                        case wire.Event(e=name, d=data):
                            self.event(name, data)

    def event(self, name: str, data: object) -> None:
        try:
            match name:
                case "props":
                    for change in changes_of(data):
                        for sync in self.syncs:
                            sync.put(change)
                case "md":
                    market = msgspec.convert(data, MarketData)
                    for quote in market.quotes or ():
                        for stream in self.quote_streams:
                            if stream.contract_id == quote.contract_id:
                                stream.put(quote)
                    for dom in market.doms or ():
                        for dom_stream in self.dom_streams:
                            if dom_stream.contract_id == dom.contract_id:
                                dom_stream.put(dom)
                case "chart":
                    for packet in msgspec.convert(data, ChartData).charts:
                        owner = next((chart for chart in self.charts if chart.owns(packet)), None)
                        if owner is not None:
                            owner.put(packet)
                        else:  # a chart whose getChart answer is not read yet (or one cancelled)
                            self.unclaimed.append(packet)
                case "shutdown":
                    self.shutdown = msgspec.convert(data, Shutdown)
        except ValueError:  # msgspec's ValidationError is one
            return  # an event this model does not declare: skipped

    def fail_pending(self, error: TransportError) -> None:
        for reply in self.pending.values():
            if not reply.done():
                reply.set_exception(error)
        self.pending.clear()

    async def recover(self) -> None:
        """Connect again (backing off), authorize, and send every live subscription again."""
        delay = 0.2
        error: Exception = TransportError("the socket closed")
        for _ in range(self.max_reconnects):
            if self.closing:
                return
            try:
                await self.connect()
                await self.resubscribe()
                self.recovered.set()
                return
            except (TransportError, AuthError, TimeoutError) as failed:
                error = failed
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        for stream in self.streams():
            stream.fail(error)

    async def resubscribe(self) -> None:
        for sync in self.syncs:
            sync.snapshot = await self.call(Socket.sync_request, sync.request)
            sync.resyncs += 1
        for quotes in self.quote_streams:
            await self.call(Socket.subscribe_quote, MdRequest(symbol=quotes.contract_id))
        for doms in self.dom_streams:
            await self.call(Socket.subscribe_dom, MdRequest(symbol=doms.contract_id))
        for chart in self.charts:
            chart.ids = await self.call(Socket.get_chart, chart.request)


def changes_of(data: object) -> list[Change]:
    """A `props` event's changes, each entity converted to its kind's Struct; kinds this model does not declare are
    skipped (an array of entities gives one change each)."""
    if not isinstance(data, dict):
        return []
    kind = KIND_NAMED.get(str(data.get("entityType")))
    entity = data.get("entity")
    if kind is None or entity is None:
        return []
    event_type = EventType(str(data.get("eventType")))
    return [Change(entity_type=kind.name, event_type=event_type, entity=msgspec.convert(item, kind.struct))
            for item in (entity if isinstance(entity, list) else [entity])]


__all__ = ["Subscription", "TradovateSocket"]
