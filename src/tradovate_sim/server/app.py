"""The HTTP application: `/v1/<operation>` dispatched through the endpoint table, and `/sim/*` controls.

The only module (with `websocket.py`) that imports the web framework. Errors map to statuses here: a bad body is
a 400 naming the field, a missing or bad token a 401, an unknown operation or entity a 404; a bug is logged and
answered 500 without detail.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib.metadata import version as package_version

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from tradovate_sim.core.view import Caller
from tradovate_sim.model.api import Served, Simulator, Source
from tradovate_sim.model.queries import NoParameters, QuoteQuery
from tradovate_sim.model.results import ErrorResponse
from tradovate_sim.model.simulator import (
    ClockRequest,
    ClockState,
    LimitsConfig,
    LimitsUpdate,
    PasswordRequest,
    PasswordState,
    QuoteRequest,
    QuoteState,
    ResetState,
)
from tradovate_sim.server import console, docs, health, openapi
from tradovate_sim.server.access import USER_ID, AccessLog, HttpOperations, Observed
from tradovate_sim.server.broadcast import Broadcast
from tradovate_sim.server.codec import Codec, decode_as, is_long
from tradovate_sim.server.controls import Controls, control
from tradovate_sim.server.front import Application, Call, PiecedJson, ShortWay, routed
from tradovate_sim.server.heap import Reserve
from tradovate_sim.server.metrics import CONTENT_TYPE, Metrics, Operations
from tradovate_sim.server.pauses import GcPauses, LoopLag
from tradovate_sim.server.protocol import JSON_TYPE
from tradovate_sim.server.runtime import Runtime
from tradovate_sim.server.socket_quota import SocketQuota
from tradovate_sim.server.websocket import Hub
from tradovate_sim.service import endpoints, simulator
from tradovate_sim.service.admission import Admission, ticket_in, updated_config
from tradovate_sim.service.endpoints import Services
from tradovate_sim.service.errors import ApiError, denied, not_found
from tradovate_sim.storage.errors import StoreError
from tradovate_sim.storage.sqlite import SqliteStore

log = logging.getLogger("tradovate_sim")
JSON = "application/json"
MAX_BODY = 1 << 20
NO_PARAMETERS = NoParameters()
_API, _BODY, _QUERY = Served.API, Source.BODY, Source.QUERY  # read once: a member read off its enum class is slow



class EncodedJson(Response):
    """`Response(body, status_code=status, media_type=JSON)` built directly: the same status, headers
    (`content-length`, then `content-type`) and body, without Starlette's generic rendering and header assembly
    (every API answer makes one). `status` is never 1xx, 204 or 304, which have no `content-length`."""

    media_type = JSON

    def __init__(self, body: bytes, status: int = 200) -> None:  # sets what Response.__init__ would
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), JSON_TYPE]


def respond(codec: Codec, payload: object, status: int = 200) -> Response:
    return EncodedJson(codec.encode(payload), status)


# Every method reaches the operation routes, so that a method the operation does not take is a 405 naming the ones
# it takes (`Allow`), not Starlette's 405 listing the route's methods.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# A `/v1` operation answers GET and POST alike, whichever its documented method: Tradovate's clients in the wild
# call `auth/renewAccessToken` (and others) with either, and an existing client must work unchanged.
API_METHODS = ("GET", "POST")


class MethodNotAllowedError(ApiError):
    def __init__(self, path: str, allowed: list[str]) -> None:
        super().__init__(405, f"method: {path} takes {' or '.join(allowed)}")
        self.allowed = allowed


def error_response(codec: Codec, error: ApiError) -> Response:
    if error.status == 429:  # Tradovate's: no body (`Content-Length: 0`), no Retry-After
        return Response(status_code=429)
    response = respond(codec, ErrorResponse(error_text=error.message), error.status)
    if isinstance(error, MethodNotAllowedError):
        response.headers["Allow"] = ", ".join(error.allowed)
    return response


def create_app(runtime: Runtime, metrics_dir: str | None = None) -> Starlette:
    """`metrics_dir`: prometheus_client's multiprocess directory of a `--workers N` worker (server/metrics.py)."""
    table = endpoints.build_all()
    codec = Codec(table)
    holder: dict[str, Services] = {}
    admission = Admission(LimitsConfig(enabled=runtime.settings.rate_limits == "on"))
    hub = Hub(holder, table, codec, runtime.settings.ws_timeout, admission)
    metrics = Metrics(metrics_dir)
    access = AccessLog(runtime.settings.access_log)
    hub.metrics, hub.access = metrics, access
    runtime.platform.telemetry = metrics  # the risk engine counts auto-liquidation breaches here
    runtime.store.on_answer = metrics.commit_answered
    if isinstance(runtime.store, SqliteStore):
        runtime.store.on_sync = metrics.writer_synced
    metrics.observe_writer(lambda: runtime.store.pending)
    metrics.observe_sockets(lambda: len(hub.connections))
    lag, collections = LoopLag(metrics.lag), GcPauses(metrics.collected)
    reserve = Reserve() if runtime.settings.heap_reserve == "on" else None  # the state's next tables, mapped ahead
    operations = HttpOperations(Operations([*(e.name for e in table.values() if e.served is Served.API),
                                            "openapi.json"]),
                                Operations(["sim/quote", "sim/clock", "sim/reset", "health", "metrics", "docs"]))
    document = msgspec.json.encode(openapi.document(  # built once: the table does not change while serving
        (e.operation for e in table.values()), version=package_version("tradovate-sim"),
        endpoint_rules=admission.config.endpoints if admission.enabled else None))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        holder["services"] = runtime.services or await runtime.start()  # the CLI's server starts it first
        metrics.leading(runtime.leadership.leading)
        runtime.leadership.changed.append(metrics.leading)
        holder["services"].identity.session_listeners.append(hub.sessions_ended)
        hub.fresh = runtime.replica.fresh if runtime.replica is not None else None
        if runtime.limits is not None:  # the limits the processes serving before this one were given
            admission.configure(msgspec.json.decode(runtime.limits, type=LimitsConfig))
        if runtime.cluster is not None:
            hub.quota = SocketQuota(runtime.cluster, hub.evict)
            await hub.quota.start()
        app.state.loop = asyncio.get_running_loop()
        runtime.platform.fanout.subscribers.append(hub)
        runtime.platform.fanout.own.append(metrics)  # liquidations by initiator, as this process commits them
        runtime.platform.quote_listeners.append(hub.quotes_changed)
        broadcast.cluster, broadcast.replica = runtime.cluster, runtime.replica  # several processes: see broadcast
        await broadcast.start()
        lag.start()
        collections.install()
        if reserve is not None:
            await reserve.start()
        try:
            yield
        finally:
            if reserve is not None:
                await reserve.stop()
            collections.remove()
            await lag.stop()
            await broadcast.stop()
            if hub.quota is not None:
                await hub.quota.stop()
            hub.shutdown()
            await asyncio.sleep(0.05)  # let the shutdown frames go out
            await runtime.stop()

    async def websocket(socket: WebSocket) -> None:
        await hub.serve(socket)

    def guarded(handle: Callable[[Call], Awaitable[object]]) -> Callable[[Call], Awaitable[Response]]:
        """Answer the handler's payload as JSON; an ApiError as its status; a bug as a logged 500."""
        async def endpoint(request: Call) -> Response:
            try:
                payload = await handle(request)
                if is_long(payload):
                    return PiecedJson(await codec.encode_slices(payload))
                return respond(codec, payload)
            except ApiError as error:
                return error_response(codec, error)
            except ClientDisconnect:  # left in the middle of its body: no one to answer; one line, no traceback
                log.warning("client disconnected during the request body of %s %s", request.method, request.path)
                return respond(codec, ErrorResponse(error_text="body: the client disconnected"), 400)
            except StoreError as error:  # the database cannot take writes: nothing was applied
                log.error("store error on %s %s: %s", request.method, request.path, error)
                return respond(codec, ErrorResponse(error_text="Service unavailable: the database cannot take writes"),
                               503)
            except Exception:
                log.exception("unhandled error on %s %s", request.method, request.path)
                return respond(codec, ErrorResponse(error_text="Internal server error"), 500)
        return endpoint

    async def dispatch(request: Call) -> object:
        services = holder["services"]
        operation = request.operation.strip("/").lower()
        endpoint = table.get(operation)
        if endpoint is None or endpoint.served is not _API:
            raise not_found(f"Unknown operation /v1/{request.operation}")
        if request.method not in API_METHODS:
            raise MethodNotAllowedError(f"/v1/{endpoint.name}", list(API_METHODS))
        if runtime.replica is not None:  # several processes: every commit acknowledged anywhere is in memory first
            await runtime.replica.fresh(endpoint.method == "POST")  # a command: proven fresh, else 503
        caller: Caller | None = None
        if not endpoint.public:
            try:
                caller = services.identity.caller(request.bearer())
            except ApiError:
                if admission.enabled:
                    admission.admit_anonymous(request.client_host())
                    admission.refused(operation, request.client_host())
                raise
            request.scope[USER_ID] = caller.user_id
            admission.admit_user(caller.user_id)
        elif admission.enabled:
            admission.admit_anonymous(request.client_host())
        raw = b""
        if endpoint.source is _BODY:
            raw = await request.body()
            if len(raw) > MAX_BODY:
                raise ApiError(413, "body: larger than 1 MiB")
            body = codec.decode(endpoint.request, raw)
        elif endpoint.source is _QUERY:
            body = codec.decode_query(endpoint.request, request.query_items())
        else:
            body = NO_PARAMETERS
        handler = endpoint.handler
        assert handler is not None
        box = admission.box(operation)
        if box is not None:  # an operation with its own limit: a penalty ticket past it
            def ticket() -> str | None:  # in the body; a login may also send it as its bearer token
                return ticket_in(raw) or (request.bearer() if endpoint.public else None)
            return await admission.run(box, request.client_host(), body, ticket,
                                       lambda: handler(services, caller, body))
        return await handler(services, caller, body)

    broadcast = Broadcast(None, None)  # the other processes on the same PostgreSQL database, once started

    async def quote_elsewhere(body: bytes) -> None:
        # the origin matched resting orders against it (under their accounts' locks): once, not once per process
        await simulator.set_quote(runtime.platform, msgspec.json.decode(body, type=QuoteRequest), match=False)
        await runtime.autoliq.drain()

    async def clock_elsewhere(body: bytes) -> None:
        simulator.move_clock(runtime.platform, msgspec.json.decode(body, type=ClockRequest))
        await runtime.list_contracts()
        # the origin rolled before sending the control, but this process's timer may have rolled since from its
        # clock of before (the leader's): rolled again here, after that roll committed, before the acknowledgement
        await runtime.rollover.roll(everything=True)

    async def reset_elsewhere(_body: bytes) -> None:
        admission.clear()
        await runtime.reloaded()

    async def limits_elsewhere(body: bytes) -> None:
        admission.configure(updated_config(admission.config, msgspec.json.decode(body, type=LimitsUpdate)))
        runtime.limits = msgspec.json.encode(admission.config)  # what a reset here keeps for processes joining

    async def caught_up(_body: bytes) -> None:
        pass  # the replica caught up before the handler runs: a password (and the sessions it ended) are in

    broadcast.handlers.update(quote=quote_elsewhere, clock=clock_elsewhere, reset=reset_elsewhere,
                              limits=limits_elsewhere, password=caught_up)

    async def quote_now(query: QuoteQuery) -> QuoteState:
        return simulator.quote_state(runtime.platform, simulator.current_quote(runtime.platform, query))

    async def set_quote(request: QuoteRequest) -> QuoteState:
        quote = await simulator.set_quote(runtime.platform, request)
        await runtime.autoliq.drain()  # a breach the quote caused is carried out before the answer
        await runtime.share_quote(quote.contract_id)  # before the control: a process starting meanwhile gets either
        await broadcast.everywhere("quote", msgspec.json.encode(request))
        return simulator.quote_state(runtime.platform, quote)

    async def clock_now(_query: NoParameters) -> ClockState:
        clock = runtime.platform.clock
        return ClockState(now=clock.now(), mode="real" if clock.is_real else "fixed")

    async def move_clock(request: ClockRequest) -> ClockState:
        simulator.move_clock(runtime.platform, request)
        # first: from this write on, no process's timer acts on the clock of before (storage/shared_state.py), and a
        # process starting meanwhile gets the new clock, the control, or both
        await runtime.share_clock()
        await runtime.expiry.sweep()  # Day / GTD orders whose time in force the move ran past
        await runtime.settlement.sweep()  # contracts whose last session the move ran past
        await runtime.list_contracts()
        await runtime.rollover.roll(everything=True)  # positions and cash to the clock's trade date
        await runtime.autoliq.time_moved()  # rolls, flatten times, unlocks and waiting liquidations
        fixed = runtime.platform.clock.fixed  # where the clock is, not the move: applying it twice is harmless
        moved = ClockRequest(now=fixed) if fixed is not None else ClockRequest(mode="real")
        await broadcast.everywhere("clock", msgspec.json.encode(moved))
        return await clock_now(NO_PARAMETERS)

    async def reset(_query: NoParameters) -> ResetState:
        admission.clear()
        await runtime.reset()
        await broadcast.everywhere("reset", b"{}")
        return ResetState(ok=True)

    async def limits_now(_query: NoParameters) -> LimitsConfig:
        return admission.config

    async def configure_limits(request: LimitsUpdate) -> LimitsConfig:
        admission.configure(updated_config(admission.config, request))
        await runtime.share_limits(msgspec.json.encode(admission.config))
        await broadcast.everywhere("limits", msgspec.json.encode(request))
        return admission.config

    async def set_password(request: PasswordRequest) -> PasswordState:
        state = await runtime.change_password(request.name, request.password)
        if state is None:
            raise not_found(f"name: no user {request.name!r}")
        await broadcast.everywhere("password", b"{}")
        return state

    entries = Simulator
    controls = Controls(table, [
        control(entries.quote, quote_now), control(entries.set_quote, set_quote),
        control(entries.clock, clock_now), control(entries.move_clock, move_clock), control(entries.reset, reset),
        control(entries.limits, limits_now), control(entries.configure_limits, configure_limits),
        control(entries.set_password, set_password),
    ])

    async def sim(request: Call) -> object:
        if runtime.replica is not None:  # several processes: as /v1 (a token issued elsewhere, a write's effects)
            await runtime.replica.fresh(request.method == "POST")
        caller = holder["services"].identity.caller(request.bearer())
        request.scope[USER_ID] = caller.user_id
        if not caller.organization_admin:
            raise denied("Simulator controls need an organization admin token")
        found = controls.get(request.method, request.operation)
        if found is None:
            allowed = controls.methods_of(request.operation)
            if allowed:
                raise MethodNotAllowedError(f"/sim/{request.operation}", allowed)
            raise not_found(f"Unknown simulator control /sim/{request.operation}")
        endpoint, run = found
        if endpoint.source is Source.BODY:
            return await run(decode_as(await request.body(), endpoint.request))
        if endpoint.source is Source.QUERY:
            return await run(codec.decode_query(endpoint.request, request.query_items()))
        return await run(NO_PARAMETERS)

    async def health_check(_request: Request) -> Response:
        """No token; not counted against request limits (probes poll it)."""
        status, body = await health.check(runtime, hub.stopping)
        return respond(codec, body, status)

    async def metrics_text(_request: Request) -> Response:
        """No token: bound to the server's own host and port (loopback by default)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    async def openapi_document(_request: Request) -> Response:
        """No token: the document describes the API, not its data."""
        return Response(document, media_type=JSON)

    api = guarded(dispatch)
    routes = [  # the API first: Starlette tries the routes in turn on every request
        Route("/v1/openapi.json", openapi_document, methods=["GET"]),
        WebSocketRoute("/v1/websocket", websocket),
        Route("/v1/{path:path}", routed(api, "path"), methods=METHODS),  # GET and POST: the short way (front.py)
        Route("/health", health_check, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
        *docs.routes(),
        Route("/sim/{action}", routed(guarded(sim), "action"), methods=METHODS),
        WebSocketRoute("/websocket", websocket),
        *console.routes(),  # the risk-desk console at `/`
    ]
    app = Application(routes=routes, lifespan=lifespan,
                      middleware=[Middleware(Observed, metrics=metrics, operations=operations, access=access)])
    app.short_way = ShortWay(api, metrics, operations, access)
    app.state.pauses = (lag, collections)  # the worst pauses seen
    app.state.hub = hub  # the CLI's server tells sockets about a shutdown before uvicorn closes them
    return app
