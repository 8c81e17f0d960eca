"""The socket-only operations' handlers, bound to the API's `Socket` operations (model/api.py): market data
(`md/subscribeQuote`, `md/subscribeDOM` and their `unsubscribe`, `md/getChart`, `md/cancelChart`) here; `authorize`
and `user/syncrequest` with the hub. Each handler is typed by its entry (mypy checks it takes the entry's request
type and returns its result type; `bind_encoded`'s handlers return it encoded, unchecked); every entry has exactly
one (checked when the hub is built)."""

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from tradovate_sim.core.view import Caller
from tradovate_sim.model.api import Operation, Served, Socket
from tradovate_sim.model.entities import Contract
from tradovate_sim.model.market import CancelChart, ChartData, ChartSubscription, GetChart, MdRequest
from tradovate_sim.server.connection import MAX_CHARTS_PER_SOCKET, Connection, Pieces
from tradovate_sim.service.chart import ChartFeed, chart_spec, check_range
from tradovate_sim.service.endpoints import Table, check_bound
from tradovate_sim.service.errors import bad_request, not_found

if TYPE_CHECKING:
    from tradovate_sim.server.websocket import Hub

Req = TypeVar("Req")
Res = TypeVar("Res")

# A socket handler: the connection, its caller (None only for a public operation: `authorize`), the request.
Run = Callable[[Connection, Caller | None, Any], object]


class Bound:
    """One socket-only entry and its handler (the types erased: `bind` checked them)."""

    def __init__(self, endpoint: Operation[Any, Any], run: Run) -> None:
        self.endpoint = endpoint
        self.run = run


def bind(endpoint: Operation[Req, Res], run: Callable[[Connection, Caller | None, Req], Res]) -> Bound:
    """Bind `run` to a socket-only entry: mypy checks that it takes the entry's request type and returns its
    result."""
    return Bound(endpoint, run)


def bind_encoded(endpoint: Operation[Req, Any], run: Callable[[Connection, Caller | None, Req], Awaitable[Pieces]],
                 ) -> Bound:
    """`bind` for a handler that answers its entry's result encoded already, in wire form (`user/syncrequest`,
    whose snapshot is encoded a slice at a time)."""
    return Bound(endpoint, run)


class SocketHandlers:
    """The socket-only operations' handlers by the table's key."""

    def __init__(self, table: Table, bound: Iterable[Bound]) -> None:
        self.by_key: dict[str, Run] = {}
        for item in bound:
            if item.endpoint.key in self.by_key:
                raise RuntimeError(f"{item.endpoint.key}: two handlers")
            self.by_key[item.endpoint.key] = item.run
        check_bound(table, Served.SOCKET, list(self.by_key))


def market_data_handlers(hub: "Hub", operations: type[Socket]) -> list[Bound]:
    def subscribe_quote(connection: Connection, _caller: Caller | None, request: MdRequest) -> None:
        contract_id = resolve(hub, request.symbol)
        connection.quotes.add(contract_id)
        connection.md_dirty.add(contract_id)  # the current quote follows the reply
        connection.wake.set()

    def unsubscribe_quote(connection: Connection, _caller: Caller | None, request: MdRequest) -> None:
        connection.quotes.discard(resolve(hub, request.symbol))

    def subscribe_dom(connection: Connection, _caller: Caller | None, request: MdRequest) -> None:
        contract_id = resolve(hub, request.symbol)
        connection.doms.add(contract_id)
        connection.md_dirty.add(contract_id)
        connection.wake.set()

    def unsubscribe_dom(connection: Connection, _caller: Caller | None, request: MdRequest) -> None:
        connection.doms.discard(resolve(hub, request.symbol))

    def get_chart(connection: Connection, _caller: Caller | None, request: GetChart) -> ChartSubscription:
        """Answer the ids, then the history up to `eoh`; realtime packets follow as trades print. The history is
        built and the feed registered in one step of the event loop: no trade falls between them."""
        contract_id = resolve(hub, request.symbol)
        spec = chart_spec(request.chart_description)
        check_range(request.time_range)
        if len(connection.charts) >= MAX_CHARTS_PER_SOCKET:
            raise bad_request(f"md/getChart: at most {MAX_CHARTS_PER_SOCKET} charts per socket")
        platform = hub.services.platform
        instrument = platform.instrument(contract_id)
        if instrument is None:
            raise not_found(f"symbol: unknown contract {request.symbol!r}")
        hub.chart_ids += 2
        feed = ChartFeed(platform, contract_id, instrument.product.tick_size, spec,
                         historical_id=hub.chart_ids - 1, realtime_id=hub.chart_ids)
        history = feed.history(request.time_range)
        connection.charts[feed.realtime_id] = feed
        connection.after_reply.append(lambda: connection.push(hub.event("chart", ChartData(charts=history))))
        return ChartSubscription(historical_id=feed.historical_id, realtime_id=feed.realtime_id)

    def cancel_chart(connection: Connection, _caller: Caller | None, request: CancelChart) -> None:
        chart_id = next((key for key, feed in connection.charts.items()  # the realtimeId, or the historicalId
                         if request.subscription_id in (feed.realtime_id, feed.historical_id)), None)
        if chart_id is None or connection.charts.pop(chart_id, None) is None:
            raise not_found(f"subscriptionId: no chart {request.subscription_id} on this socket")

    return [
        bind(operations.subscribe_quote, subscribe_quote), bind(operations.unsubscribe_quote, unsubscribe_quote),
        bind(operations.subscribe_dom, subscribe_dom), bind(operations.unsubscribe_dom, unsubscribe_dom),
        bind(operations.get_chart, get_chart), bind(operations.cancel_chart, cancel_chart),
    ]


def resolve(hub: "Hub", symbol: str | int) -> int:
    platform = hub.services.platform
    contract_id = symbol if isinstance(symbol, int) else platform.state.find(Contract, symbol)
    if contract_id is None and isinstance(symbol, str) and symbol.isdigit():
        contract_id = int(symbol)
    if contract_id is None or platform.state.get(Contract, contract_id) is None:
        raise not_found(f"symbol: unknown contract {symbol!r}")
    return contract_id
