"""`tradovate-sim serve`: runs the server."""

import argparse
import asyncio
import os
import socket
import sys
from types import FrameType
from typing import Any

from tradovate_sim.settings import from_environment


def add_serve(commands: "argparse._SubParsersAction[Any]") -> None:
    serve = commands.add_parser("serve", help="run the server (TRADOVATE_SIM_* variables set the same options)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--db", help="a file path, sqlite:///relative.db / sqlite:////absolute.db, or"
                                    " postgresql://user:password@host:port/dbname (default sqlite:///tradovate-sim.db)")
    serve.add_argument("--admin-user", dest="admin_user")
    serve.add_argument("--admin-password", dest="admin_password")
    serve.add_argument("--demo-password", dest="demo_password")
    serve.add_argument("--seed", choices=["demo", "none"])
    serve.add_argument("--quotes", choices=["synthetic", "manual"])
    serve.add_argument("--catalogue", help="a TOML file of products to add or override")
    serve.add_argument("--synchronous", choices=["FULL", "NORMAL"])
    serve.add_argument("--rate-limits", dest="rate_limits", choices=["on", "off"],
                       help="Tradovate's request limits and penalty tickets (default on)")
    serve.add_argument("--log-format", dest="log_format", choices=["plain", "json"],
                       help="log lines on stderr as plain text (default) or one JSON object each")
    serve.add_argument("--workers", type=int,
                       help="server processes on one port (SO_REUSEPORT); more than 1 needs a postgresql:// --db")
    serve.add_argument("--heap-reserve", dest="heap_reserve", choices=["on", "off"],
                       help="keep free memory, as much as the heap uses, mapped ahead of the state's growth so that "
                       "no request waits for the kernel (default on; glibc only)")
    serve.add_argument("--access-log", dest="access_log", action=argparse.BooleanOptionalAction,
                       help="one log line per HTTP request and per closed WebSocket (default off)")
    serve.add_argument("--clock", metavar="TIME", help="freeze the simulated clock at TIME (ISO 8601, e.g."
                       " 2026-11-24T15:00:00Z) from the start, the first start's seed included (default: wall time)")


REUSE_PORT_ENV = "TRADOVATE_SIM_REUSE_PORT"  # set by `--workers N` for its workers: bind the port shared
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # set by `--workers N`: prometheus_client's multiprocess directory
WORKER_EXIT_AT_START = (1, 2)  # a worker that exits so could not start (bad database, bad setting): all stop
GRACEFUL_SHUTDOWN_SECONDS = 5  # uvicorn's backstop: tasks still running this long after sockets closed are cancelled


def graceful_server() -> type:
    import socket

    import uvicorn
    from starlette.applications import Starlette

    from tradovate_sim.server.connection import SHUTDOWN_FLUSH_SECONDS
    from tradovate_sim.server.runtime import Runtime, StartupError

    class Graceful(uvicorn.Server):
        """On SIGTERM/SIGINT, first every WebSocket gets the `shutdown` event (Maintenance) and its close frame — or,
        if its client does not read, has them written past the backpressure after SHUTDOWN_FLUSH_SECONDS — then
        uvicorn shuts down (which resets connections still open SHUTDOWN_RELEASE_SECONDS later)."""

        def __init__(self, config: uvicorn.Config, app: Starlette, runtime: Runtime) -> None:
            super().__init__(config)
            self.starlette = app
            self.runtime = runtime
            self.failed = False
            self.signalled = False
            self.closing_sockets: asyncio.Task[None] | None = None

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            """Open the runtime before the app's lifespan, so that a database it cannot open is one line on stderr
            (and exit status 1) rather than a lifespan traceback."""
            try:
                await self.runtime.start()
            except StartupError as error:
                print(f"tradovate-sim: {error}", file=sys.stderr, flush=True)
                self.failed = self.should_exit = True
                return
            await super().startup(sockets)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            loop = getattr(self.starlette.state, "loop", None)
            if loop is None or self.should_exit or self.signalled:
                super().handle_exit(sig, frame)  # a second signal does not wait for the sockets
                return
            self.signalled = True
            loop.call_soon_threadsafe(self.close_sockets, loop, sig, frame)

        def close_sockets(self, loop: asyncio.AbstractEventLoop, sig: int, frame: FrameType | None) -> None:
            def then_exit(_task: asyncio.Task[None]) -> None:
                if not self.should_exit:
                    uvicorn.Server.handle_exit(self, sig, frame)

            hub = self.starlette.state.hub
            hub.shutdown()
            self.closing_sockets = loop.create_task(hub.closed(SHUTDOWN_FLUSH_SECONDS + 0.5))
            self.closing_sockets.add_done_callback(then_exit)

    return Graceful


def http_protocol() -> type[asyncio.Protocol] | str:
    """Our uvicorn HTTP protocol (each response in one write; see server/protocol.py), or uvicorn's own when this
    uvicorn or its httptools is missing."""
    try:
        from tradovate_sim.server.protocol import OneWriteHttpProtocol
    except ImportError:  # pragma: no cover - an older uvicorn
        return "auto"
    return OneWriteHttpProtocol


def websocket_protocol() -> type[asyncio.Protocol] | str:
    """Our uvicorn WebSocket protocol (connections always released; see server/protocol.py), or uvicorn's own when
    this uvicorn lacks the sans-I/O implementation it extends."""
    try:
        from tradovate_sim.server.protocol import ReleasingWebSocketProtocol
    except ImportError:  # pragma: no cover - an older uvicorn
        return "auto"
    return ReleasingWebSocketProtocol


def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT; 1 when it cannot start, 2 for a bad setting."""
    import uvicorn

    from tradovate_sim.server import logs
    from tradovate_sim.server.app import create_app
    from tradovate_sim.server.runtime import Runtime, StartupError

    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "run")}
    try:
        settings = from_environment(overrides)
    except ValueError as error:
        print(f"tradovate-sim: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.access_log)
    if settings.workers > 1:
        return supervise(settings.workers)
    try:
        runtime = Runtime(settings)
    except StartupError as error:
        print(f"tradovate-sim: {error}", file=sys.stderr)
        return 1
    # a worker of `--workers N` counts into the supervisor's directory and answers /metrics for all of them
    app = create_app(runtime, os.environ.get(METRICS_DIR_ENV) if os.environ.get(REUSE_PORT_ENV) else None)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            log_config=None,  # uvicorn's lines go through our handler (logs.configure)
                            http=http_protocol(), ws=websocket_protocol(),
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    try:  # bound before anything starts (a taken port is one line, before any banner), listening once serving
        sock = bound_socket(settings.host, settings.port, shared=bool(os.environ.get(REUSE_PORT_ENV)))
    except OSError as error:
        print(f"tradovate-sim: --host {settings.host} --port {settings.port}: {error.strerror or error}",
              file=sys.stderr)
        return 1
    server = graceful_server()(config, app, runtime)
    server.run(sockets=[sock])
    return 1 if server.failed else 0


def bound_socket(host: str, port: int, *, shared: bool) -> socket.socket:
    """A socket bound to host:port, not listening yet: uvicorn makes it listen once the runtime and the app's
    lifespan have started, so no connection waits on a server that is still loading. `shared` (`--workers N`): the
    other workers bind it too and the kernel spreads connections over those that listen — a worker started again
    after a crash takes none until it can serve them."""

    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def supervise(workers: int) -> int:
    """`--workers N`: N `serve` processes on one port, each a whole server on the same PostgreSQL database (one of
    them leads: server/leader.py). SIGTERM/SIGINT go to every worker; a worker that dies is started again; a worker
    that cannot start (exit 1 or 2) stops them all, with its exit status. A supervisor that is killed takes its
    workers with it (Linux: they get SIGTERM when it dies), so that a new one never serves beside orphans.

    The workers count their metrics into a private directory (prometheus_client's multiprocess mode, 0700), made
    here and removed at exit; a worker that ends is marked dead there (its gauges leave the sum). Those that killed
    supervisors left behind are removed first (cli/metrics_directory.py)."""
    import shutil

    from tradovate_sim.cli import metrics_directory

    for path in metrics_directory.remove_abandoned():
        print(f"tradovate-sim: removed {path}, left by a supervisor no longer alive", file=sys.stderr, flush=True)
    metrics_dir = metrics_directory.make()  # 0700
    try:
        return supervise_in(workers, metrics_dir)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def supervise_in(workers: int, metrics_dir: str) -> int:
    import ctypes
    import ctypes.util
    import signal
    import subprocess
    import time

    from prometheus_client.multiprocess import mark_process_dead

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if sys.platform == "linux" else None

    def die_with_the_supervisor() -> None:  # in the child, before exec
        if libc is not None:
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    env = {**os.environ, "TRADOVATE_SIM_WORKERS": "1", REUSE_PORT_ENV: "1", METRICS_DIR_ENV: metrics_dir}
    command = [sys.executable, "-m", "tradovate_sim.cli", *sys.argv[1:], "--workers", "1"]
    children = [subprocess.Popen(command, env=env, preexec_fn=die_with_the_supervisor)  # noqa: PLW1509 (no threads)
                for _ in range(workers)]
    stopping = False
    status = 0
    reaped: set[int] = set()

    def forward(sig: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        for i, child in enumerate(children):
            code = child.poll()
            if code is not None and child.pid not in reaped:
                reaped.add(child.pid)
                mark_process_dead(child.pid, metrics_dir)  # type: ignore[no-untyped-call]
            if code is None or stopping:
                continue
            if code in WORKER_EXIT_AT_START:
                status = code
                forward(signal.SIGTERM, None)
                break
            print(f"tradovate-sim: worker {child.pid} ended ({code}); starting another", file=sys.stderr, flush=True)
            children[i] = subprocess.Popen(command, env=env, preexec_fn=die_with_the_supervisor)  # noqa: PLW1509
        if stopping and all(child.poll() is not None for child in children):
            return status
        time.sleep(0.1)
