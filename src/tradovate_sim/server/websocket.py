"""Tradovate's WebSocket protocol on `/v1/websocket`: frames (`tradovate_sim.wire`), requests dispatched through the
endpoint table (the `/v1` operations, and the socket-only ones bound here and in `server/subscriptions.py`),
`user/syncrequest` snapshots followed by `props` events, and the fan-out of committed changes and quote moves."""

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.types import Message
from starlette.websockets import WebSocket

from tradovate_sim import wire
from tradovate_sim.core.decision import Change
from tradovate_sim.core.view import Caller
from tradovate_sim.model.api import Served, Socket, Source
from tradovate_sim.model.market import ChartData, MarketData
from tradovate_sim.model.queries import NoParameters
from tradovate_sim.model.requests import SyncRequest
from tradovate_sim.model.session import Shutdown, SyncSnapshot
from tradovate_sim.server.access import AccessLog
from tradovate_sim.server.codec import Codec, decode_as, is_long, joined
from tradovate_sim.server.connection import (
    HEARTBEAT_SECONDS,
    MAX_SOCKETS_PER_USER,
    SESSION_ENDED,
    SHUTDOWN_FLUSH_SECONDS,
    SHUTDOWN_RELEASE_SECONDS,
    Commit,
    Connection,
    Pieces,
)
from tradovate_sim.server.metrics import WS, Metrics, Operations
from tradovate_sim.server.socket_quota import SocketQuota
from tradovate_sim.server.subscriptions import SocketHandlers, bind, bind_encoded, market_data_handlers
from tradovate_sim.service import slices
from tradovate_sim.service.admission import Admission, ticket_in
from tradovate_sim.service.endpoints import Endpoint, Services, Table
from tradovate_sim.service.errors import ApiError, bad_request, not_found
from tradovate_sim.service.market_data import dom_packet, quote_packet
from tradovate_sim.service.sync import Subscription, changes_access, contracts_in
from tradovate_sim.storage.errors import StoreError

log = logging.getLogger("tradovate_sim.websocket")
NO_PARAMETERS = NoParameters()
SNAPSHOTS_AT_ONCE = 2  # snapshots made together (each holds copies of the tables it follows until it is sent)


class Hub:
    """Every live socket; receives committed changes and quote moves and routes them."""

    def __init__(self, services_ref: dict[str, Services], table: Table, codec: Codec,
                 timeout: float, admission: Admission) -> None:
        self.services_ref = services_ref
        self.admission = admission
        self.table = table
        self.codec = codec
        self.timeout = timeout
        self.connections: set[Connection] = set()
        self.snapshots = asyncio.Semaphore(SNAPSHOTS_AT_ONCE)  # `user/syncrequest` snapshots being made
        self.stopping = False
        self.chart_ids = 0  # historicalId and realtimeId of the last chart
        self.metrics: Metrics | None = None
        self.access: AccessLog | None = None
        # several processes on one database: waits until every commit that finished anywhere is in memory
        self.fresh: Callable[[bool], Awaitable[None]] | None = None  # (deciding: a command)
        self.quota: SocketQuota | None = None  # several processes: a user's sockets counted across them
        self.operations = Operations(e.name for e in table.values() if e.served is not Served.SIMULATOR)
        operations = Socket
        self.handlers = SocketHandlers(table, [
            bind(operations.authorize, self.authorize), bind_encoded(operations.sync_request, self.sync_request),
            *market_data_handlers(self, operations)])

    @property
    def services(self) -> Services:
        return self.services_ref["services"]

    # --- fan-out ------------------------------------------------------------------------------

    def publish(self, changes: Sequence[Change], seq: int) -> None:
        if not self.connections:
            return
        frames: dict[tuple[int, ...], str] = {}  # sockets that select the same changes share one encoding
        # orders' and positions' contracts: a socket must know them first
        commit: Commit = (changes, changes_access(changes), contracts_in(changes))
        for connection in self.connections:
            subscription = connection.subscription
            if subscription is None:
                continue
            if connection.held is not None:  # its snapshot is being made: these follow it (`release`)
                connection.held.append(commit)
                continue
            self.deliver(connection, subscription, commit, frames)

    def deliver(self, connection: Connection, subscription: Subscription, commit: Commit,
                frames: dict[tuple[int, ...], str]) -> None:
        """Push to `connection` the `props` frame of the changes `subscription` selects from `commit` (`frames`:
        those already made for this commit, by the changes they hold)."""
        selected = subscription.select(*commit)
        if selected:
            key = tuple(map(id, selected))
            frame = frames.get(key)
            if frame is None:
                events = [wire.Event(e="props", d=change) for change in selected]
                frame = frames[key] = wire.messages_frame(events, self.codec.encode)
            connection.push(frame)

    def quotes_changed(self, contract_ids: Sequence[int]) -> None:
        for connection in self.connections:
            if connection.quotes or connection.doms:
                hit = [c for c in contract_ids if c in connection.quotes or c in connection.doms]
                if hit:
                    connection.md_dirty.update(hit)
                    connection.wake.set()
            if connection.charts and any(f.contract_id in contract_ids for f in connection.charts.values()):
                connection.charts_dirty = True
                connection.wake.set()

    def chart_frame(self, connection: Connection) -> str | None:
        """The realtime chart packets of every trade since the last frame, coalesced."""
        packets = [packet for feed in connection.charts.values() for packet in feed.updates()]
        return self.event("chart", ChartData(charts=packets)) if packets else None

    def market_frame(self, connection: Connection, contract_ids: set[int]) -> str | None:
        platform = self.services.platform
        quotes, doms = [], []
        for contract_id in sorted(contract_ids):
            quote = platform.market.quotes.get(contract_id)
            instrument = platform.instrument(contract_id)
            if quote is None or instrument is None:
                continue
            tick = instrument.product.tick_size
            if contract_id in connection.quotes:
                quotes.append(quote_packet(quote, tick))
            if contract_id in connection.doms:
                doms.append(dom_packet(quote, tick))
        if not quotes and not doms:
            return None
        data = MarketData(quotes=quotes or None, doms=doms or None)
        return self.event("md", data)

    def sessions_ended(self) -> None:
        """Close every socket whose session has ended (a third login of its user, a reset that ended it): its
        subscriptions are dropped at once, what was already queued goes out, then `c[4401,"Session ended"]`."""
        identity = self.services.identity
        for connection in list(self.connections):
            caller = connection.caller
            if caller is None or connection.closing is not None or \
                    (caller.session_id is not None and identity.sessions.is_live(caller.session_id)):
                continue
            connection.subscription = None
            connection.quotes.clear()
            connection.doms.clear()
            connection.md_dirty.clear()
            connection.charts.clear()
            connection.charts_dirty = False
            connection.close(*SESSION_ENDED)

    def shutdown(self) -> None:
        """Tell every socket `shutdown` (Maintenance) and close it; later sockets are closed the same way at once."""
        self.stopping = True
        for connection in list(self.connections):
            self.say_maintenance(connection)

    def say_maintenance(self, connection: Connection) -> None:
        notice = self.event("shutdown", Shutdown(reason_code="Maintenance", reason="Server is shutting down"))
        connection.close(1001, "Maintenance", notice, flush=SHUTDOWN_FLUSH_SECONDS, release=SHUTDOWN_RELEASE_SECONDS)

    async def closed(self, within: float) -> None:
        """Wait until every socket has sent its close frame (or been forced to), at most `within` seconds."""
        senders = [c.sender_task for c in self.connections if c.sender_task is not None and not c.sender_task.done()]
        if senders:
            await asyncio.wait(senders, timeout=within)

    # --- one socket ---------------------------------------------------------------------------

    async def serve(self, socket: WebSocket) -> None:
        await socket.accept()
        connection = Connection(self, socket)
        self.connections.add(connection)
        if self.metrics is not None:
            self.metrics.sockets_changed()
        connection.push(wire.OPEN)
        sender = asyncio.create_task(connection.sender())
        connection.sender_task = sender
        watchdog = asyncio.create_task(self.watch(connection))
        if self.stopping:
            self.say_maintenance(connection)
        receive: asyncio.Task[Message] | None = None
        disconnected = False
        try:
            while not sender.done():
                receive = asyncio.create_task(socket.receive())
                done, _ = await asyncio.wait({receive, sender}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    break
                message = receive.result()
                if message["type"] == "websocket.disconnect":
                    disconnected = True
                    connection.client_code = message.get("code")
                    break
                text = message.get("text")
                if text is None:
                    raw = message.get("bytes") or b""
                    text = raw.decode("utf-8", errors="replace")
                connection.last_received = time.monotonic()
                if connection.closing is not None:
                    continue  # a socket being closed carries out nothing more: its answer could not be sent
                connection.handling = True  # (its frames are not read meanwhile: no heartbeat timeout)
                try:
                    if self.metrics is None:
                        await self.handle(connection, text)
                    else:
                        await self.handle_observed(connection, text, self.metrics)
                finally:
                    connection.handling = False
                    connection.last_received = time.monotonic()
        finally:
            self.connections.discard(connection)
            if self.metrics is not None:
                self.metrics.sockets_changed()
            if self.quota is not None:
                self.quota.closed(connection)
            watchdog.cancel()
            if receive is not None:
                receive.cancel()
            if disconnected:
                connection.gone()
            elif not connection.finished:  # the sender failed, or this task is being cancelled
                connection.close(1011 if sender.done() else 1001, "Closed")
                connection.force()
            sender.cancel()
            sender.add_done_callback(connection.sender_done)
            self.socket_closed(connection)

    async def handle_observed(self, connection: Connection, text: str, metrics: Metrics) -> None:
        """`handle`, counted and timed by operation and status (a frame with no reply is a malformed one: 400)."""
        if wire.is_heartbeat(text):
            return
        connection.requests += 1
        connection.status = 0
        started = time.perf_counter()
        try:
            await self.handle(connection, text)
        finally:
            operation = self.operations.name(text.partition("\n")[0].strip().strip("/").lower())
            metrics.request(WS, operation, connection.status or 400, time.perf_counter() - started)

    def socket_closed(self, connection: Connection) -> None:
        """The socket's access line: its close code (ours, or the client's when it closed first), how long it was
        open and how many requests it carried."""
        access = self.access
        if access is None or not access.enabled:
            return
        code = connection.closing[0] if connection.closing is not None else connection.client_code
        caller = connection.caller
        access.socket_closed(connection.socket.scope, code, time.monotonic() - connection.opened,
                             connection.requests, caller.user_id if caller is not None else None)

    async def watch(self, connection: Connection) -> None:
        """Server heartbeats; close sockets that never authorize or go silent."""
        while connection.closing is None:
            await asyncio.sleep(HEARTBEAT_SECONDS / 2)
            now = time.monotonic()
            if connection.caller is None and now - connection.opened > self.timeout:
                connection.close(4001, "Not authorized in time")
            elif not connection.handling and now - connection.last_received > self.timeout:
                connection.close(4002, "Heartbeat timeout: no client frames")
            elif now - connection.last_sent >= HEARTBEAT_SECONDS and not connection.frames:
                connection.last_sent = now
                connection.push(wire.HEARTBEAT)

    async def handle(self, connection: Connection, text: str) -> None:
        if wire.is_heartbeat(text):
            return
        try:
            request = wire.parse_request(text)
        except wire.FrameError as error:
            connection.push(wire.response_frame(None, 400, str(error), self.codec.encode))
            return
        try:
            await self.dispatch(connection, request)
        except ApiError as error:  # a 429 carries no `d`, as Tradovate's
            connection.reply(request.id, error.status, None if error.status == 429 else error.message)
        except StoreError as error:  # the database cannot take writes: nothing was applied (as over HTTP)
            log.error("store error on websocket request %s: %s", request.endpoint, error)
            connection.after_reply.clear()
            connection.reply(request.id, 503, "Service unavailable: the database cannot take writes")
        except Exception:
            log.exception("unhandled error on websocket request %s", request.endpoint)
            connection.after_reply.clear()
            connection.reply(request.id, 500, "Internal server error")

    async def dispatch(self, connection: Connection, request: wire.Request) -> None:
        key = request.endpoint.strip("/").lower()
        endpoint = self.table.get(key)
        if endpoint is not None and endpoint.served is Served.SIMULATOR:
            endpoint = None
        if self.fresh is not None:  # read-your-writes across processes, as every HTTP request (server/app.py)
            await self.fresh(endpoint is not None and endpoint.method == "POST" and endpoint.served is Served.API)
        if endpoint is not None and endpoint.public and endpoint.served is Served.SOCKET:  # authorize
            connection.reply(request.id, 200, self.handlers.by_key[key](connection, None, request.body))
            return
        admission = self.admission
        if connection.caller is None:
            admission.admit_anonymous(self.host(connection))
            connection.reply(request.id, 401, "Not authorized: send authorize first")
            return
        caller = self.services.identity.caller_of_session(connection.caller)
        admission.admit_user(caller.user_id)  # each request frame counts as one request, as on REST
        box = admission.box(key)

        def execute() -> Awaitable[object]:
            return self.call(connection, caller, endpoint, request)

        if box is not None:  # an operation with its own limit: a penalty ticket past it
            result = await admission.run(box, self.host(connection), None,
                                         lambda: ticket_in(request.body.encode()), execute)
        else:
            result = await execute()
        connection.reply(request.id, 200, result)

    def host(self, connection: Connection) -> str:
        client = connection.socket.client
        return client.host if client is not None else ""

    async def call(self, connection: Connection, caller: Caller, endpoint: Endpoint[Any, Any] | None,
                   request: wire.Request) -> object:
        """Execute one request; its result (None: a reply without `d`)."""
        if endpoint is None:
            raise not_found(f"Unknown operation {request.endpoint}")
        body: object
        match endpoint.source:
            case Source.BODY if endpoint.served is Served.SOCKET:  # an empty body is `{}`
                body = decode_as(request.body.encode(), endpoint.request)
            case Source.BODY:
                body = self.codec.decode(endpoint.request, request.body.encode())
            case Source.QUERY:
                body = self.codec.decode_query(endpoint.request,
                                               parse_qsl(request.query.strip(), keep_blank_values=True))
            case Source.TEXT:
                body = request.body
            case Source.NONE:
                body = NO_PARAMETERS
        if endpoint.served is Served.SOCKET:
            result = self.handlers.by_key[endpoint.key](connection, caller, body)
            return await result if inspect.isawaitable(result) else result
        assert endpoint.handler is not None
        # A query answers one moment's entities, and a long one is made in slices: on a socket that follows commits,
        # those that land meanwhile follow its reply (as they would have had it been made in one step)
        hold = endpoint.method == "GET" and connection.subscription is not None and connection.held is None
        if hold:
            connection.held = []
        try:
            result = await endpoint.handler(self.services, caller, body)
            if is_long(result):
                result = Pieces(await self.codec.encode_slices(result))
        except BaseException:
            if hold:
                self.release(connection)
            raise
        if hold:
            connection.after_reply.append(lambda: self.release(connection))
        return result

    # --- the socket's own operations ----------------------------------------------------------

    def authorize(self, connection: Connection, _caller: Caller | None, token: str) -> None:
        try:
            connection.caller = self.services.identity.caller(authorize_token(token))
        except ApiError:
            connection.after_reply.append(lambda: connection.close(4401, "Invalid access token"))
            raise ApiError(401, "Invalid access token") from None
        if self.quota is not None:
            self.quota.opened(connection, connection.caller.user_id)
        else:
            self.enforce_limit(connection)

    async def sync_request(self, connection: Connection, caller: Caller | None, request: SyncRequest) -> Pieces:
        """The snapshot (`SyncSnapshot`, encoded), taken at one step of the event loop, from which the socket
        follows the commits: no gap, no duplicate. Made and encoded a slice at a time (thousands of accounts: tens
        of MB); the commits that land meanwhile are held and selected for the socket once the snapshot is out."""
        assert caller is not None
        if connection.subscription is not None:
            raise bad_request("user/syncrequest: only one per connection")
        subscription = Subscription(self.services.platform, caller, request)
        async with self.snapshots:  # a reconnecting desk's sockets: a few snapshots (and their copies) at a time
            captured = subscription.capture()
            connection.subscription, connection.held = subscription, []
            try:
                fields = await subscription.collect(captured)
                encoded: dict[str, list[bytes]] = {}
                for name, rows in fields.items():
                    encoded[name] = await self.codec.encode_slices(rows)
                    await slices.turn()
            except BaseException:
                if connection.subscription is subscription:
                    connection.subscription = None
                connection.held = None
                raise
        connection.after_reply.append(lambda: self.release(connection))
        return Pieces(joined(SyncSnapshot, encoded))

    def release(self, connection: Connection) -> None:
        """The commits held while the socket's snapshot was made, selected now as `publish` would have."""
        held, connection.held = connection.held or [], None
        subscription = connection.subscription
        if subscription is not None:
            for commit in held:
                self.deliver(connection, subscription, commit, {})

    def enforce_limit(self, connection: Connection) -> None:
        assert connection.caller is not None
        mine = sorted((c for c in self.connections if c.caller is not None and c.closing is None
                       and c.caller.user_id == connection.caller.user_id), key=lambda c: c.opened)
        for old in mine[:max(0, len(mine) - MAX_SOCKETS_PER_USER)]:
            self.evict(old)

    def evict(self, connection: Connection) -> None:
        """Close a socket past its user's quota."""
        connection.close(4008, "ConnectionQuotaReached", self.event("shutdown", Shutdown(
            reason_code="ConnectionQuotaReached", reason="Too many connections")))

    def event(self, name: str, data: object) -> str:
        return wire.event_frame(name, data, self.codec.encode)


def authorize_token(body: str) -> str:
    """The token of an `authorize` body: the raw token, or the token as a JSON string (`"<token>"`), which clients
    that JSON-encode every body send. Anything else is returned as it is, and refused as a bad token."""
    text = body.strip()
    if text.startswith('"'):
        try:
            return msgspec.json.decode(text, type=str).strip()
        except msgspec.DecodeError:  # ValidationError is one
            return text
    return text


