"""Tradovate's WebSocket protocol on `/v1/websocket`: SockJS-style frames (`o`, `h`, `a[...]`, `c[code,"reason"]`),
requests `endpoint\\nid\\nquery\\nbody` dispatched through the same endpoint table as REST, `user/syncrequest`
snapshots followed by `props` events, and market data (`md/subscribeQuote`, `md/subscribeDOM`, `md/getChart`)."""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import cast
from urllib.parse import parse_qsl

import msgspec
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from tradovate_sim.core.decision import Change
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Contract
from tradovate_sim.model.market import CancelChart, ChartData, ChartSubscription, GetChart, MarketData, MdRequest
from tradovate_sim.model.requests import SyncRequest
from tradovate_sim.server.access import AccessLog
from tradovate_sim.server.codec import Codec, decode_as
from tradovate_sim.server.metrics import WS, Metrics, Operations
from tradovate_sim.service.admission import Admission, ticket_in
from tradovate_sim.service.chart import ChartFeed, chart_spec, check_range
from tradovate_sim.service.endpoints import Endpoint, Services
from tradovate_sim.service.errors import ApiError, bad_request, not_found
from tradovate_sim.service.market_data import dom_packet, quote_packet
from tradovate_sim.service.sync import Subscription, changes_access

log = logging.getLogger("tradovate_sim.websocket")

HEARTBEAT_SECONDS = 2.5
MAX_PENDING_FRAMES = 10_000  # a client that lets more pile up is told `c[1008,...]` and dropped
MAX_PENDING_CHARS = 64 << 20  # likewise for 64 Mi characters of queued text (one larger frame alone is let through)
CLOSE_FLUSH_SECONDS = 2.0  # a closing socket's queued frames get this long to go out; then the close is forced
SHUTDOWN_FLUSH_SECONDS = 1.0  # the same on server shutdown
RELEASE_SECONDS = 5.0  # after the close frame, a connection the client has not drained is reset
SHUTDOWN_RELEASE_SECONDS = 1.0  # the same on server shutdown
MAX_SOCKETS_PER_USER = 50
MAX_CHARTS_PER_SOCKET = 100
FINISH_EXTENSION = "tradovate_sim.finish"  # scope extension of server/protocol.py: a close past the backpressure
TOO_SLOW = (1008, "Client too slow: outbound buffer full")
SESSION_ENDED = (4401, "Session ended")
# Operations only the socket serves (beside the endpoint table's), by Tradovate's names: the metrics' labels
WS_OPERATIONS = ("authorize", "user/syncRequest", "md/subscribeQuote", "md/unsubscribeQuote", "md/subscribeDOM",
                 "md/unsubscribeDOM", "md/getChart", "md/cancelChart")

Finish = Callable[[Sequence[str], int, str, float], bool]
ANSWERED = object()  # what `Hub.call` returns for a request it has answered itself (syncrequest, market data)


def finisher(socket: WebSocket) -> Finish | None:
    """The ASGI server's `finish` extension (server/protocol.py), if it offers one."""
    extension = (socket.scope.get("extensions") or {}).get(FINISH_EXTENSION) or {}
    finish = extension.get("finish")
    return cast(Finish, finish) if callable(finish) else None


class Connection:
    """One client socket: its caller, its subscriptions and its outbox.

    Closing: `close()` lets the sender send what is queued, then the goodbye (an optional notice such as the
    `shutdown` event, then `c[code,"reason"]`) and the close frame. When that has not happened within the flush
    bound, or at once when the outbox overflows, `force()` drops the queue and writes the goodbye and the close frame
    behind whatever the transport already holds; the connection is reset if the client has not read it all within
    the release bound."""

    def __init__(self, hub: "Hub", socket: WebSocket) -> None:
        self.hub = hub
        self.socket = socket
        self.caller: Caller | None = None
        self.subscription: Subscription | None = None
        self.quotes: set[int] = set()
        self.doms: set[int] = set()
        self.frames: deque[str] = deque()
        self.pending_chars = 0
        self.md_dirty: set[int] = set()
        self.charts: dict[int, ChartFeed] = {}  # by realtimeId
        self.charts_dirty = False
        self.wake = asyncio.Event()
        self.last_received = time.monotonic()
        self.last_sent = time.monotonic()
        self.closing: tuple[int, str] | None = None
        self.goodbye: deque[str] = deque()  # what is still to be said before the close frame
        self.release = RELEASE_SECONDS
        self.deadline: asyncio.TimerHandle | None = None
        self.finished = False  # the close frame is out (or the client is gone): nothing more is sent
        self.opened = time.monotonic()
        self.sender_task: asyncio.Task[None] | None = None
        self.requests = 0  # requests received (heartbeats aside), for the access log
        self.status = 0  # the status of the last reply, for the metrics
        self.client_code: int | None = None  # the close code the client sent, when it closed first

    def push(self, frame: str) -> None:
        if self.closing:
            return
        if self.frames and (len(self.frames) >= MAX_PENDING_FRAMES
                            or self.pending_chars + len(frame) > MAX_PENDING_CHARS):
            self.close(*TOO_SLOW)
            self.force()
            return
        self.frames.append(frame)
        self.pending_chars += len(frame)
        self.wake.set()

    def reply(self, request_id: int, status: int, payload: object = None) -> None:
        self.status = status
        message: dict[str, object] = {"s": status, "i": request_id}
        if payload is not None:
            message["d"] = payload
        self.push("a" + self.hub.codec.encode([message]).decode())

    def close(self, code: int, reason: str, notice: str | None = None, *, flush: float = CLOSE_FLUSH_SECONDS,
              release: float = RELEASE_SECONDS) -> None:
        """Close after what is queued: `notice` (a frame), `c[code,"reason"]`, the close frame; forced after `flush`
        seconds."""
        if self.closing is not None:
            return
        self.closing = (code, reason)
        if notice is not None:
            self.goodbye.append(notice)
        self.goodbye.append("c" + self.hub.codec.encode([code, reason]).decode())
        self.release = release
        self.deadline = asyncio.get_running_loop().call_later(flush, self.force)
        self.wake.set()

    def force(self) -> None:
        """Drop what is queued; write the goodbye and the close frame past the backpressure (see `close`)."""
        if self.finished:
            return
        self.finished = True
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        if self.sender_task is not None:
            self.sender_task.cancel()  # it may be stuck writing to a client that does not read
        self.frames.clear()
        self.pending_chars = 0
        code, reason = self.closing or (1000, "Closed")
        finish = finisher(self.socket)
        if finish is not None:
            finish(list(self.goodbye), close_code(code), reason[:120], self.release)
        self.goodbye.clear()

    def gone(self) -> None:
        """The client disconnected: nothing more is sent."""
        self.finished = True
        if self.deadline is not None:
            self.deadline.cancel()

    def sender_done(self, task: "asyncio.Task[None]") -> None:
        """Log a sender that failed other than by the client going away; forget the task, whose exception's traceback
        holds this connection (a cycle that would keep every closed connection alive until a full collection)."""
        self.sender_task = None
        report_failure(task)

    async def sender(self) -> None:
        """Send frames in order; market data coalesced to the latest quote per contract; then the goodbye."""
        socket = self.socket
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.frames:
                frame = self.frames.popleft()
                self.pending_chars -= len(frame)
                await socket.send_text(frame)
                self.last_sent = time.monotonic()
            if self.closing is not None:
                break
            if self.md_dirty:
                dirty, self.md_dirty = self.md_dirty, set()
                market = self.hub.market_frame(self, dirty)
                if market:
                    await socket.send_text(market)
                    self.last_sent = time.monotonic()
            if self.charts_dirty and not self.frames:  # never ahead of a getChart reply and its history
                self.charts_dirty = False
                chart = self.hub.chart_frame(self)
                if chart:
                    await socket.send_text(chart)
                    self.last_sent = time.monotonic()
        while self.goodbye:
            await socket.send_text(self.goodbye[0])
            self.goodbye.popleft()
        code, reason = self.closing
        await socket.close(code=close_code(code), reason=reason[:120])
        self.finished = True
        if self.deadline is not None:
            self.deadline.cancel()


class Hub:
    """Every live socket; receives committed changes and quote moves and routes them."""

    def __init__(self, services_ref: dict[str, Services], table: dict[str, Endpoint], codec: Codec,
                 timeout: float, admission: Admission) -> None:
        self.services_ref = services_ref
        self.admission = admission
        self.table = table
        self.codec = codec
        self.timeout = timeout
        self.connections: set[Connection] = set()
        self.stopping = False
        self.chart_ids = 0  # historicalId and realtimeId of the last chart
        self.metrics: Metrics | None = None
        self.access: AccessLog | None = None
        self.operations = Operations([*(endpoint.name for endpoint in table.values()), *WS_OPERATIONS])

    @property
    def services(self) -> Services:
        return self.services_ref["services"]

    # --- fan-out ------------------------------------------------------------------------------

    def publish(self, changes: Sequence[Change], seq: int) -> None:
        frames: dict[tuple[int, ...], str] = {}  # sockets that select the same changes share one encoding
        recheck = changes_access(changes)
        for connection in self.connections:
            subscription = connection.subscription
            if subscription is None:
                continue
            selected = subscription.select(changes, recheck)
            if selected:
                key = tuple(map(id, selected))
                frame = frames.get(key)
                if frame is None:
                    events = [{"e": "props", "d": change} for change in selected]
                    frame = frames[key] = "a" + self.codec.encode(events).decode()
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
        return "a" + self.codec.encode([{"e": "chart", "d": ChartData(charts=packets)}]).decode() if packets else None

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
        return "a" + self.codec.encode([{"e": "md", "d": data}]).decode()

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
        notice = "a" + self.codec.encode([{"e": "shutdown", "d": {
            "reasonCode": "Maintenance", "reason": "Server is shutting down"}}]).decode()
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
        connection.push("o")
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
                if self.metrics is None:
                    await self.handle(connection, text)
                else:
                    await self.handle_observed(connection, text, self.metrics)
        finally:
            self.connections.discard(connection)
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
        if text.strip() == "[]":
            return  # client heartbeat
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
            elif now - connection.last_received > self.timeout:
                connection.close(4002, "Heartbeat timeout: no client frames")
            elif now - connection.last_sent >= HEARTBEAT_SECONDS and not connection.frames:
                connection.last_sent = now
                connection.push("h")

    async def handle(self, connection: Connection, text: str) -> None:
        if text.strip() == "[]":
            return  # client heartbeat
        parts = text.split("\n", 3)
        if len(parts) < 2:
            message = "Malformed frame: expected endpoint\\nid\\nquery\\nbody"
            connection.push("a" + self.codec.encode([{"s": 400, "i": None, "d": message}]).decode())
            return
        endpoint_name, raw_id = parts[0].strip(), parts[1].strip()
        if not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 19:
            connection.push("a" + self.codec.encode([{"s": 400, "i": None, "d":
                                                      f"Malformed request id {raw_id[:32]!r}"}]).decode())
            return
        request_id = int(raw_id)
        query = parts[2] if len(parts) > 2 else ""
        body = parts[3] if len(parts) > 3 else ""
        try:
            await self.dispatch(connection, endpoint_name, request_id, query, body)
        except ApiError as error:  # a 429 carries no `d`, as Tradovate's
            connection.reply(request_id, error.status, None if error.status == 429 else error.message)
        except Exception:
            log.exception("unhandled error on websocket request %s", endpoint_name)
            connection.reply(request_id, 500, "Internal server error")

    async def dispatch(self, connection: Connection, name: str, request_id: int, query: str, body: str) -> None:
        services = self.services
        key = name.strip("/").lower()
        if key == "authorize":
            try:
                connection.caller = services.identity.caller(authorize_token(body))
            except ApiError:
                connection.reply(request_id, 401, "Invalid access token")
                connection.close(4401, "Invalid access token")
                return
            self.enforce_limit(connection)
            connection.reply(request_id, 200)
            return
        admission = self.admission
        if connection.caller is None:
            admission.admit_anonymous(self.host(connection))
            connection.reply(request_id, 401, "Not authorized: send authorize first")
            return
        caller = services.identity.caller_of_session(connection.caller)
        admission.admit_user(caller.user_id)  # each request frame counts as one request, as on REST
        box = admission.box(key)
        def execute() -> Awaitable[object]:
            return self.call(connection, caller, key=key, name=name, request_id=request_id, query=query, body=body)

        if box is not None:  # an operation with its own limit: a penalty ticket past it
            result = await admission.run(box, self.host(connection), None, lambda: ticket_in(body.encode()), execute)
        else:
            result = await execute()
        if result is not ANSWERED:
            connection.reply(request_id, 200, result)

    def host(self, connection: Connection) -> str:
        client = connection.socket.client
        return client.host if client is not None else ""

    async def call(self, connection: Connection, caller: Caller, *, key: str, name: str, request_id: int,
                   query: str, body: str) -> object:
        """Execute one request; the result to answer with `s:200`, or ANSWERED when it has been answered already."""
        services = self.services
        if key == "user/syncrequest":
            if connection.subscription is not None:
                raise bad_request("user/syncrequest: only one per connection")
            request = decode_as(body.encode(), SyncRequest)
            subscription = Subscription(services.platform, caller, request)
            snapshot = subscription.snapshot()
            connection.subscription = subscription  # same loop step as the snapshot: no gap, no duplicate
            connection.reply(request_id, 200, snapshot)
            return ANSWERED
        if key.startswith("md/"):
            self.market_data(connection, key, request_id, body)
            return ANSWERED
        endpoint = self.table.get(key)
        if endpoint is None:
            raise not_found(f"Unknown operation {name}")
        decoded = self.codec.decode(endpoint.request, body.encode()) if endpoint.request is not None else None
        params = dict(parse_qsl(query.strip(), keep_blank_values=True))
        return await endpoint.handler(services, caller, decoded, params)

    def enforce_limit(self, connection: Connection) -> None:
        assert connection.caller is not None
        mine = sorted((c for c in self.connections if c.caller is not None and c.closing is None
                       and c.caller.user_id == connection.caller.user_id), key=lambda c: c.opened)
        for old in mine[:max(0, len(mine) - MAX_SOCKETS_PER_USER)]:
            old.close(4008, "ConnectionQuotaReached", "a" + self.codec.encode([{"e": "shutdown", "d": {
                "reasonCode": "ConnectionQuotaReached", "reason": "Too many connections"}}]).decode())

    def market_data(self, connection: Connection, key: str, request_id: int, body: str) -> None:
        if key == "md/getchart":
            self.get_chart(connection, request_id, body)
            return
        if key == "md/cancelchart":
            cancel = decode_as(body.encode(), CancelChart)
            chart_id = next((key for key, feed in connection.charts.items()  # the realtimeId, or the historicalId
                             if cancel.subscription_id in (feed.realtime_id, feed.historical_id)), None)
            if chart_id is None or connection.charts.pop(chart_id, None) is None:
                raise not_found(f"subscriptionId: no chart {cancel.subscription_id} on this socket")
            connection.reply(request_id, 200)
            return
        request = decode_as(body.encode(), MdRequest)
        contract_id = self.resolve(request.symbol)
        match key:
            case "md/subscribequote":
                connection.quotes.add(contract_id)
            case "md/unsubscribequote":
                connection.quotes.discard(contract_id)
            case "md/subscribedom":
                connection.doms.add(contract_id)
            case "md/unsubscribedom":
                connection.doms.discard(contract_id)
            case _:
                raise not_found(f"Unknown market data operation {key}")
        connection.reply(request_id, 200)
        if key.startswith("md/subscribe"):
            connection.md_dirty.add(contract_id)
            connection.wake.set()

    def get_chart(self, connection: Connection, request_id: int, body: str) -> None:
        """Answer the ids, then the history up to `eoh`; realtime packets follow as trades print. The history is
        built and the feed registered in one step of the event loop: no trade falls between them."""
        request = decode_as(body.encode(), GetChart)
        contract_id = self.resolve(request.symbol)
        spec = chart_spec(request.chart_description)
        check_range(request.time_range)
        if len(connection.charts) >= MAX_CHARTS_PER_SOCKET:
            raise bad_request(f"md/getChart: at most {MAX_CHARTS_PER_SOCKET} charts per socket")
        platform = self.services.platform
        instrument = platform.instrument(contract_id)
        if instrument is None:
            raise not_found(f"symbol: unknown contract {request.symbol!r}")
        self.chart_ids += 2
        feed = ChartFeed(platform, contract_id, instrument.product.tick_size, spec,
                         historical_id=self.chart_ids - 1, realtime_id=self.chart_ids)
        history = feed.history(request.time_range)
        connection.charts[feed.realtime_id] = feed
        connection.reply(request_id, 200, ChartSubscription(historical_id=feed.historical_id,
                                                            realtime_id=feed.realtime_id))
        connection.push("a" + self.codec.encode([{"e": "chart", "d": ChartData(charts=history)}]).decode())

    def resolve(self, symbol: str | int) -> int:
        platform = self.services.platform
        contract_id = symbol if isinstance(symbol, int) else platform.state.find(Contract, symbol)
        if contract_id is None and isinstance(symbol, str) and symbol.isdigit():
            contract_id = int(symbol)
        if contract_id is None or platform.state.get(Contract, contract_id) is None:
            raise not_found(f"symbol: unknown contract {symbol!r}")
        return contract_id


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


def close_code(code: int) -> int:
    """A code a close frame may carry."""
    return code if code in (1000, 1001, 1008, 1011) or 3000 <= code < 5000 else 1000


def report_failure(task: "asyncio.Task[None]") -> None:
    """Log a sender that failed other than by the client going away."""
    if not task.cancelled() and (error := task.exception()) is not None and not isinstance(error, WebSocketDisconnect):
        log.error("websocket sender failed", exc_info=error)
