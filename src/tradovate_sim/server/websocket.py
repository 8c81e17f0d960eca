"""Tradovate's WebSocket protocol on `/v1/websocket`: SockJS-style frames (`o`, `h`, `a[...]`, `c[code,"reason"]`),
requests `endpoint\\nid\\nquery\\nbody` dispatched through the same endpoint table as REST, `user/syncrequest`
snapshots followed by `props` events, and market data (`md/subscribeQuote`, `md/subscribeDOM`)."""

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from urllib.parse import parse_qsl

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from tradovate_sim.core.decision import Change
from tradovate_sim.core.view import Caller, Quote
from tradovate_sim.model.entities import Contract
from tradovate_sim.server.codec import Codec, decode_as
from tradovate_sim.service.endpoints import Endpoint, Services
from tradovate_sim.service.errors import ApiError, bad_request, not_found
from tradovate_sim.service.sync import Subscription, SyncRequest

log = logging.getLogger("tradovate_sim.websocket")

HEARTBEAT_SECONDS = 2.5
MAX_PENDING_FRAMES = 10_000  # a client that lets more pile up is disconnected
MAX_SOCKETS_PER_USER = 50


class Connection:
    """One client socket: its caller, its subscriptions and its outbox."""

    def __init__(self, hub: "Hub", socket: WebSocket) -> None:
        self.hub = hub
        self.socket = socket
        self.caller: Caller | None = None
        self.subscription: Subscription | None = None
        self.quotes: set[int] = set()
        self.doms: set[int] = set()
        self.frames: deque[str] = deque()
        self.md_dirty: set[int] = set()
        self.wake = asyncio.Event()
        self.last_received = time.monotonic()
        self.last_sent = time.monotonic()
        self.closing: tuple[int, str] | None = None
        self.opened = time.monotonic()
        self.sender_task: asyncio.Task[None] | None = None

    def push(self, frame: str) -> None:
        if self.closing:
            return
        if len(self.frames) >= MAX_PENDING_FRAMES:
            self.close(1008, "Client too slow: outbound buffer full")
            if self.sender_task is not None:
                self.sender_task.cancel()  # it may be stuck writing to a client that does not read
            return
        self.frames.append(frame)
        self.wake.set()

    def reply(self, request_id: int, status: int, payload: object = None) -> None:
        message: dict[str, object] = {"s": status, "i": request_id}
        if payload is not None:
            message["d"] = payload
        self.push("a" + self.hub.codec.encode([message]).decode())

    def close(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            self.wake.set()

    async def sender(self) -> None:
        """Send frames in order; market data coalesced to the latest quote per contract."""
        socket = self.socket
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.frames:
                await socket.send_text(self.frames.popleft())
                self.last_sent = time.monotonic()
            if self.md_dirty:
                dirty, self.md_dirty = self.md_dirty, set()
                frame = self.hub.market_frame(self, dirty)
                if frame:
                    await socket.send_text(frame)
                    self.last_sent = time.monotonic()
            if self.closing is not None:
                code, reason = self.closing
                with contextlib.suppress(Exception):
                    await socket.send_text("c" + self.hub.codec.encode([code, reason]).decode())
                    await socket.close(code=code if 1000 <= code < 5000 else 1000, reason=reason[:120])
                return


class Hub:
    """Every live socket; receives committed changes and quote moves and routes them."""

    def __init__(self, services_ref: dict[str, Services], table: dict[str, Endpoint], codec: Codec,
                 timeout: float) -> None:
        self.services_ref = services_ref
        self.table = table
        self.codec = codec
        self.timeout = timeout
        self.connections: set[Connection] = set()

    @property
    def services(self) -> Services:
        return self.services_ref["services"]

    # --- fan-out ------------------------------------------------------------------------------

    def publish(self, changes: Sequence[Change], seq: int) -> None:
        for connection in self.connections:
            subscription = connection.subscription
            if subscription is None:
                continue
            selected = subscription.select(changes)
            if selected:
                events = [{"e": "props", "d": change} for change in selected]
                connection.push("a" + self.codec.encode(events).decode())

    def quotes_changed(self, contract_ids: Sequence[int]) -> None:
        for connection in self.connections:
            if connection.quotes or connection.doms:
                hit = [c for c in contract_ids if c in connection.quotes or c in connection.doms]
                if hit:
                    connection.md_dirty.update(hit)
                    connection.wake.set()

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
                quotes.append(quote_entries(quote, tick))
            if contract_id in connection.doms:
                doms.append(dom_entries(quote, tick))
        data: dict[str, object] = {}
        if quotes:
            data["quotes"] = quotes
        if doms:
            data["doms"] = doms
        if not data:
            return None
        return "a" + self.codec.encode([{"e": "md", "d": data}]).decode()

    def shutdown(self) -> None:
        for connection in list(self.connections):
            connection.push("a" + self.codec.encode([{"e": "shutdown", "d": {
                "reasonCode": "Maintenance", "reason": "Server is shutting down"}}]).decode())
            connection.close(1001, "Maintenance")

    # --- one socket ---------------------------------------------------------------------------

    async def serve(self, socket: WebSocket) -> None:
        await socket.accept()
        connection = Connection(self, socket)
        self.connections.add(connection)
        await socket.send_text("o")
        sender = asyncio.create_task(connection.sender())
        connection.sender_task = sender
        watchdog = asyncio.create_task(self.watch(connection))
        try:
            while not sender.done():
                receive = asyncio.create_task(socket.receive())
                done, _ = await asyncio.wait({receive, sender}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    break
                message = receive.result()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    raw = message.get("bytes") or b""
                    text = raw.decode("utf-8", errors="replace")
                connection.last_received = time.monotonic()
                await self.handle(connection, text)
        except WebSocketDisconnect:
            pass
        finally:
            self.connections.discard(connection)
            watchdog.cancel()
            if not sender.done():
                connection.close(1000, "Closed")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sender, 2)
            sender.cancel()
            if socket.client_state is WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(socket.close(code=1008 if connection.closing else 1000), 1)

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
        except ApiError as error:
            connection.reply(request_id, error.status, error.message)
        except Exception:
            log.exception("unhandled error on websocket request %s", endpoint_name)
            connection.reply(request_id, 500, "Internal server error")

    async def dispatch(self, connection: Connection, name: str, request_id: int, query: str, body: str) -> None:
        services = self.services
        key = name.strip("/").lower()
        if key == "authorize":
            try:
                connection.caller = services.identity.caller(body.strip())
            except ApiError:
                connection.reply(request_id, 401, "Invalid access token")
                connection.close(4401, "Invalid access token")
                return
            self.enforce_limit(connection)
            connection.reply(request_id, 200)
            return
        if connection.caller is None:
            connection.reply(request_id, 401, "Not authorized: send authorize first")
            return
        caller = services.identity.caller_of_session(connection.caller)
        if key == "user/syncrequest":
            if connection.subscription is not None:
                raise bad_request("user/syncrequest: only one per connection")
            request = decode_as(body.encode(), SyncRequest)
            subscription = Subscription(services.platform, caller, request)
            snapshot = subscription.snapshot()
            connection.subscription = subscription  # same loop step as the snapshot: no gap, no duplicate
            connection.reply(request_id, 200, snapshot)
            return
        if key.startswith("md/"):
            self.market_data(connection, key, request_id, body)
            return
        endpoint = self.table.get(key)
        if endpoint is None:
            raise not_found(f"Unknown operation {name}")
        decoded = self.codec.decode(endpoint.request, body.encode()) if endpoint.request is not None else None
        params = dict(parse_qsl(query.strip(), keep_blank_values=True))
        result = await endpoint.handler(services, caller, decoded, params)
        connection.reply(request_id, 200, result)

    def enforce_limit(self, connection: Connection) -> None:
        assert connection.caller is not None
        mine = sorted((c for c in self.connections if c.caller is not None
                       and c.caller.user_id == connection.caller.user_id), key=lambda c: c.opened)
        for old in mine[:max(0, len(mine) - MAX_SOCKETS_PER_USER)]:
            old.push("a" + self.codec.encode([{"e": "shutdown", "d": {
                "reasonCode": "ConnectionQuotaReached", "reason": "Too many connections"}}]).decode())
            old.close(4008, "ConnectionQuotaReached")

    def market_data(self, connection: Connection, key: str, request_id: int, body: str) -> None:
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

    def resolve(self, symbol: str | int) -> int:
        platform = self.services.platform
        contract_id = symbol if isinstance(symbol, int) else platform.state.find(Contract, symbol)
        if contract_id is None and isinstance(symbol, str) and symbol.isdigit():
            contract_id = int(symbol)
        if contract_id is None or platform.state.get("contract", contract_id) is None:
            raise not_found(f"symbol: unknown contract {symbol!r}")
        return contract_id


class MdRequest(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str | int


def quote_entries(quote: Quote, tick: float) -> dict[str, object]:
    def price(ticks: int) -> float:
        return round(ticks * tick, 10)

    entries: dict[str, dict[str, float | int]] = {}
    if quote.bid is not None:
        entries["Bid"] = {"price": price(quote.bid), "size": quote.bid_size}
    if quote.ask is not None:
        entries["Offer"] = {"price": price(quote.ask), "size": quote.ask_size}
    if quote.last is not None:
        entries["Trade"] = {"price": price(quote.last), "size": quote.last_size}
    return {"timestamp": quote.timestamp, "contractId": quote.contract_id, "entries": entries}


def dom_entries(quote: Quote, tick: float) -> dict[str, object]:
    def side(top: int | None, size: int, step: int) -> list[dict[str, float | int]]:
        if top is None:
            return []
        levels = [{"price": round(top * tick, 10), "size": size}]
        levels += [{"price": round((top + step * k) * tick, 10), "size": quote.depth_size}
                   for k in range(1, quote.depth_levels + 1) if quote.depth_size > 0]
        return levels

    return {"contractId": quote.contract_id, "timestamp": quote.timestamp,
            "bids": side(quote.bid, quote.bid_size, -1), "offers": side(quote.ask, quote.ask_size, 1)}
