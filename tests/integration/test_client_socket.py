"""The client's WebSocket (`TradovateSocket`) against a running server: authorize, any operation over the socket,
`user/syncrequest` as typed `props` changes, quotes / DOM / chart streams, reconnection with resubscription, and a
clean close. Waits are bounded (`NEXT`) only so that a broken stream fails instead of hanging."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from server import ADMIN, ADMIN_PASSWORD, DEMO, DEMO_PASSWORD, FRONT, Desk, ServerProcess, running

from tradovate_sim.client import AsyncTradovate, AuthError, TradovateSocket, TransportError
from tradovate_sim.client.errors import TradovateError
from tradovate_sim.model import api
from tradovate_sim.model import entities as en
from tradovate_sim.model.enums import EventType, OrderAction, OrderType
from tradovate_sim.model.market import ChartDescription, GetChart, TimeRange
from tradovate_sim.model.queries import NoParameters
from tradovate_sim.model.requests import PlaceOrder, SyncRequest
from tradovate_sim.model.results import PlaceOrderResult
from tradovate_sim.model.session import Change
from tradovate_sim.model.simulator import QuoteRequest

T = TypeVar("T")
NEXT = 10.0  # seconds: a guard against a hang, not a measurement


async def next_of(stream: AsyncIterator[T]) -> T:
    return await asyncio.wait_for(anext(stream), NEXT)


@pytest.fixture
async def client(desk: Desk, server: ServerProcess) -> AsyncIterator[AsyncTradovate]:
    async with AsyncTradovate(server.base_url, DEMO, DEMO_PASSWORD) as http:
        yield http


@pytest.fixture
async def ws(client: AsyncTradovate) -> AsyncIterator[TradovateSocket]:
    async with client.websocket() as socket:
        yield socket


def set_quote(desk: Desk, bid: float) -> None:
    desk.quote(bid=bid, ask=bid + 0.25)


def buy(desk: Desk) -> PlaceOrder:
    return PlaceOrder(account_id=desk.demo1, action=OrderAction.Buy, symbol=FRONT, order_qty=1,
                      order_type=OrderType.Market, is_automated=True)


async def test_any_operation_goes_over_the_socket_typed(ws: TradovateSocket, desk: Desk) -> None:
    set_quote(desk, 6800.0)
    placed = await ws.order.place_order(buy(desk))
    assert isinstance(placed, PlaceOrderResult) and placed.order_id is not None
    positions = await ws.position.deps(desk.demo1)
    assert [p.net_pos for p in positions if p.contract_id == desk.front] == [1]
    assert (await ws.call(api.Auth.me, NoParameters())).name == DEMO
    assert (await ws.contract.find(FRONT)).id == desk.front


async def test_simulator_controls_are_refused_over_the_socket(ws: TradovateSocket) -> None:
    with pytest.raises(TradovateError, match="HTTP only"):
        await ws.sim.clock()


async def test_bad_token_is_refused_by_authorize(server: ServerProcess, desk: Desk) -> None:
    async def bad() -> str:
        return "not-a-token"

    socket = TradovateSocket(f"ws://127.0.0.1:{server.port}/v1/websocket", bad, reconnect=False)
    with pytest.raises(AuthError) as raised:
        await socket.connect()
    await socket.close()
    assert raised.value.status == 401


async def test_sync_gives_the_snapshot_then_typed_changes(ws: TradovateSocket, desk: Desk) -> None:
    sync = await ws.sync(SyncRequest(accounts=[desk.demo1]))
    assert [a.id for a in sync.snapshot.accounts or []] == [desk.demo1]
    set_quote(desk, 6800.0)
    await ws.order.place_order(buy(desk))
    seen: list[Change] = []
    while not any(isinstance(c.entity, en.Position) for c in seen):
        seen.append(await next_of(sync))
    # the contract, unknown to an empty snapshot, comes first (with its maturity, product, exchange), then the order
    assert [c.entity_type for c in seen[:4]] == ["exchange", "product", "contractMaturity", "contract"]
    first = seen[4]
    assert first.entity_type == "order" and first.event_type is EventType.Created
    assert isinstance(first.entity, en.Order) and first.entity.account_id == desk.demo1
    assert any(isinstance(c.entity, en.Fill) for c in seen)


async def test_quotes_and_dom_stream_the_contracts_market(ws: TradovateSocket, desk: Desk) -> None:
    set_quote(desk, 6800.0)
    async with await ws.quotes(FRONT) as quotes, await ws.doms(desk.front) as doms:
        assert quotes.contract_id == desk.front
        set_quote(desk, 6801.0)
        quote = await next_of(quotes)
        while quote.entries.bid is None or quote.entries.bid.price != 6801.0:
            quote = await next_of(quotes)
        assert quote.contract_id == desk.front and quote.entries.offer is not None
        dom = await next_of(doms)
        while not dom.bids or dom.bids[0].price != 6801.0:
            dom = await next_of(doms)
        assert dom.offers[0].price == 6801.25
    assert ws.quote_streams == [] and ws.dom_streams == []  # unsubscribed
    with pytest.raises(StopAsyncIteration):
        await next_of(quotes)


async def test_chart_streams_history_then_its_end(ws: TradovateSocket, desk: Desk) -> None:
    set_quote(desk, 6800.0)
    await ws.order.place_order(buy(desk))  # a trade: one bar of history
    request = GetChart(symbol=FRONT, chart_description=ChartDescription(
        underlying_type="MinuteBar", element_size=1, element_size_unit="UnderlyingUnits"),
        time_range=TimeRange(as_much_as_elements=10))
    async with await ws.chart(request) as chart:
        packets = [await next_of(chart)]
        while not packets[-1].eoh:
            packets.append(await next_of(chart))
    assert all(p.id == chart.ids.historical_id for p in packets)
    assert ws.charts == []


async def test_reconnects_and_resubscribes_when_the_connection_drops(ws: TradovateSocket, desk: Desk) -> None:
    set_quote(desk, 6800.0)
    sync = await ws.sync(SyncRequest(accounts=[desk.demo1]))
    quotes = await ws.quotes(FRONT)
    dropped = ws.connection
    assert dropped is not None
    dropped.transport.abort()  # the network drops the connection
    await asyncio.wait_for(ws.recovered.wait(), NEXT)
    assert (ws.connections, sync.resyncs) == (2, 1)
    set_quote(desk, 6802.0)
    quote = await next_of(quotes)
    while quote.entries.bid is None or quote.entries.bid.price != 6802.0:
        quote = await next_of(quotes)
    await ws.order.place_order(buy(desk))
    change = await next_of(sync)
    while not isinstance(change.entity, en.Order):
        change = await next_of(sync)
    await quotes.aclose()


async def test_session_ended_by_newer_logins_fails_the_streams(ws: TradovateSocket, desk: Desk) -> None:
    sync = await ws.sync(SyncRequest(accounts=[desk.demo1]))
    desk.api.token(DEMO, DEMO_PASSWORD)
    desk.api.token(DEMO, DEMO_PASSWORD)  # the socket's session is the oldest of three: ended
    with pytest.raises(TransportError):
        while True:
            await next_of(sync)
    assert ws.close_frame is not None and ws.close_frame[0] == 4401


async def test_close_ends_streams_and_later_calls_fail(client: AsyncTradovate, desk: Desk) -> None:
    socket = await client.websocket().connect()
    sync = await socket.sync()
    await socket.close()
    with pytest.raises(StopAsyncIteration):
        await next_of(sync)
    with pytest.raises(TransportError):
        await socket.position.list()


class QuickTimeout(ServerProcess):
    """The harness's server closing sockets silent for 4 seconds (`TRADOVATE_SIM_WS_TIMEOUT`; heartbeats: 2.5 s)."""

    def command(self) -> list[str]:
        return ["env", "TRADOVATE_SIM_WS_TIMEOUT=4", *super().command()]


async def test_heartbeats_keep_an_idle_socket_open(tmp_path: Path) -> None:
    with running(QuickTimeout(tmp_path / "sim.db", tmp_path / "server.log")) as server:
        async with AsyncTradovate(server.base_url, DEMO, DEMO_PASSWORD) as client, client.websocket() as ws:
            await asyncio.sleep(6)  # idle for longer than the server's timeout: only heartbeats went out
            assert (await ws.auth.me()).name == DEMO
            assert (ws.connections, ws.close_frame) == (1, None)


async def test_admin_socket_and_demo_socket_are_separate_sessions(server: ServerProcess, desk: Desk) -> None:
    async with AsyncTradovate(server.base_url, ADMIN, ADMIN_PASSWORD) as admin, admin.websocket() as socket:
        accounts: list[Any] = await socket.account.list()
        assert {a.id for a in accounts} >= {desk.demo1, desk.demo2}
        await admin.sim.set_quote(QuoteRequest(symbol=FRONT, bid=6800.0, ask=6800.25, bid_size=10, ask_size=10))
