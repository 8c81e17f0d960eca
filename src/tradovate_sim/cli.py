"""`tradovate-sim` command line: `serve` runs the server."""

import argparse
import sys
from types import FrameType

from tradovate_sim.settings import from_environment


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tradovate-sim", description="A self-hosted Tradovate-compatible server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server (TRADOVATE_SIM_* variables set the same options)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--db", help="sqlite:///path/file.db (default sqlite:///tradovate-sim.db)")
    serve.add_argument("--admin-user", dest="admin_user")
    serve.add_argument("--admin-password", dest="admin_password")
    serve.add_argument("--demo-password", dest="demo_password")
    serve.add_argument("--seed", choices=["demo", "none"])
    serve.add_argument("--quotes", choices=["synthetic", "manual"])
    serve.add_argument("--catalogue", help="a TOML file of products to add or override")
    serve.add_argument("--synchronous", choices=["FULL", "NORMAL"])
    return parser.parse_args(argv)


def graceful_server() -> type:
    import uvicorn
    from starlette.applications import Starlette

    class Graceful(uvicorn.Server):
        """Sends every WebSocket the `shutdown` event (Maintenance) before uvicorn starts closing them."""

        def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
            super().__init__(config)
            self.starlette = app

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            loop = getattr(self.starlette.state, "loop", None)
            if loop is None or self.should_exit:
                super().handle_exit(sig, frame)
                return
            loop.call_soon_threadsafe(self.starlette.state.hub.shutdown)
            loop.call_soon_threadsafe(loop.call_later, 0.3, super().handle_exit, sig, frame)

    return Graceful


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        import uvicorn

        from tradovate_sim.server.app import create_app
        from tradovate_sim.server.runtime import Runtime

        overrides = {k: v for k, v in vars(args).items() if k != "command"}
        try:
            settings = from_environment(overrides)
        except ValueError as error:
            print(f"tradovate-sim: {error}", file=sys.stderr)
            return 2
        app = create_app(Runtime(settings))
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
        graceful_server()(config, app).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
