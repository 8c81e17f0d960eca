"""`tradovate-sim`: `serve` runs the server; the other commands are a client of it, or of Tradovate itself, built on
`tradovate_sim.client` (docs/cli.md). Exit codes: cli/failure.py."""

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from tradovate_sim.cli import risk, simulator, trading, watch
from tradovate_sim.cli.connection import Connection, TokenCache, cache_path, resolve
from tradovate_sim.cli.database import add_database, manage
from tradovate_sim.cli.failure import CliError, Exit, from_client, usage
from tradovate_sim.cli.invocation import Command, Invocation
from tradovate_sim.cli.output import Output
from tradovate_sim.cli.serve import add_serve, serve
from tradovate_sim.client import AuthError, TradovateError

PROG = "tradovate-sim"


class Parser(argparse.ArgumentParser):
    """argparse, whose usage errors are one line (exit 2) instead of the usage text and the line."""

    def error(self, message: str) -> NoReturn:
        raise usage(f"{message} (see {self.prog} --help)")


def connection_options() -> Parser:
    common = Parser(add_help=False)
    group = common.add_argument_group("connection (flags, then TRADOVATE_* variables, then the config profile)")
    group.add_argument("--url", help="demo, live, local (default) or http(s)://host:port [TRADOVATE_URL]")
    group.add_argument("--user", help="the user name [TRADOVATE_USER]")
    group.add_argument("--password", help="the password [TRADOVATE_PASSWORD] (visible to other local users in the"
                                          " process list: prefer the variable, the config file or the prompt)")
    group.add_argument("--profile", help="a profile of the config file [TRADOVATE_PROFILE] (default: default)")
    group.add_argument("--config", help="the config file [TRADOVATE_CONFIG]"
                                        " (default ~/.config/tradovate-sim/config.toml)")
    group.add_argument("--no-cache", dest="no_cache", action="store_true",
                       help="neither use nor keep a token between runs")
    common.add_argument("--json", action="store_true", help="JSON for scripts (the wire's field names)")
    return common


def account_option(parser: Parser) -> None:
    parser.add_argument("--account", help="an account's name or id [TRADOVATE_ACCOUNT]")


def add(commands: "argparse._SubParsersAction[Parser]", name: str, run: Command, help: str,
        parents: list[Parser]) -> Parser:
    parser = commands.add_parser(name, help=help, description=help, parents=parents)
    parser.set_defaults(run=run)
    return parser


def build() -> Parser:
    parser = Parser(prog=PROG, description="A self-hosted Tradovate-compatible server, and a command line client"
                                           " of it (or of Tradovate)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve(commands)
    add_database(commands)
    common = [connection_options()]
    add(commands, "login", trading.login, "log in: check the credentials, show who you are, keep the token", common)
    add(commands, "logout", trading.logout, "forget the kept token", common)
    account_option(add(commands, "accounts", trading.accounts, "the accounts you see", common))
    for name, run, what in (("positions", trading.positions, "open positions (--all: flat ones too)"),
                            ("orders", trading.orders, "working orders (--all: every order)")):
        listing = add(commands, name, run, what, common)
        account_option(listing)
        listing.add_argument("--all", action="store_true")
    account_option(add(commands, "fills", trading.fills, "fills", common))
    place = add(commands, "place", trading.place, "place an order: market, or --limit / --stop / both", common)
    place.add_argument("action", choices=["buy", "sell", "Buy", "Sell"], metavar="buy|sell")
    place.add_argument("qty", type=int, metavar="QTY")
    place.add_argument("symbol", metavar="SYMBOL", help="a contract (ESZ6), or a product (ES): its front month")
    place.add_argument("--limit", type=float, metavar="PRICE", help="a limit order at PRICE")
    place.add_argument("--stop", type=float, metavar="PRICE", help="a stop order at PRICE (with --limit: stop-limit)")
    place.add_argument("--tif", choices=["Day", "GTC", "IOC", "FOK"], help="time in force")
    place.add_argument("--text", help="the order's text")
    account_option(place)
    cancel = add(commands, "cancel", trading.cancel, "cancel a working order", common)
    cancel.add_argument("order_id", type=int, metavar="ORDER_ID")
    liquidate = add(commands, "liquidate", trading.liquidate,
                    "liquidate one position (SYMBOL) or every position of the account (--all)", common)
    liquidate.add_argument("symbol", nargs="?", metavar="SYMBOL")
    liquidate.add_argument("--all", action="store_true", help="every position and working order of the account")
    liquidate.add_argument("--admin", action="store_true", help="as the organization's risk desk (admin: true)")
    account_option(liquidate)
    risky = add(commands, "risk", risk.show, "an account's risk state and rules; lock, unlock, liquidation-only",
                [])
    actions = risky.add_subparsers(dest="risk_command", required=True, metavar="ACTION")
    account_option(add(actions, "show", risk.show, "the account's risk status, auto-liquidation rules, limits",
                       common))
    for name, what in (("lock", "lock trading (LockTradingImmediately)"), ("unlock", "back to Normal"),
                       ("liquidation-only", "only orders that reduce a position (LiquidateOnlyModeImmediately)")):
        action = add(actions, name, risk.act, what, common)
        account_option(action)
        action.add_argument("--reason", help="the admin's reason (adminActionReason)")
    watching = add(commands, "watch", watch.watch, "live props events and quotes until Ctrl-C", common)
    account_option(watching)
    watching.add_argument("--quote", action="append", metavar="SYMBOL", help="also the quotes of SYMBOL (repeat)")
    watching.add_argument("--no-props", dest="no_props", action="store_true", help="quotes only")
    watching.add_argument("--count", type=int, help="stop after this many events")
    quote = add(commands, "quote", simulator.quote, "this server: show a contract's quote, or set it", common)
    quote.add_argument("symbol", metavar="SYMBOL")
    for field in simulator.QUOTE_FIELDS:
        quote.add_argument("--" + field.replace("_", "-"), dest=field,
                           type=int if field.endswith(("size", "levels")) else float)
    quote.add_argument("--release", action="store_true", help="hand the quote back to the random walk")
    clock = add(commands, "clock", simulator.clock, "this server: show the clock, or set, advance or release it",
                common)
    moves = clock.add_mutually_exclusive_group()
    moves.add_argument("--set", metavar="TIME", help="freeze at an ISO 8601 time (UTC unless it says)")
    moves.add_argument("--advance", type=float, metavar="SECONDS", help="move by SECONDS")
    moves.add_argument("--real", action="store_true", help="back to wall time")
    add(commands, "reset", simulator.reset, "this server: back to the freshly seeded database", common)
    passwd = add(commands, "passwd", simulator.passwd, "this server: set a user's password (an admin's login)",
                 common)
    passwd.add_argument("name", metavar="USER")
    passwd.add_argument("--password-stdin", dest="password_stdin", action="store_true",
                        help="read the new password from stdin's first line (else: prompted twice)")
    return parser


def run_command(args: argparse.Namespace, out: Output) -> int:
    command: Callable[[Invocation], Exit] = args.run
    connection = Connection(resolve(args, os.environ), TokenCache(None if args.no_cache else cache_path(os.environ)))
    invocation = Invocation(args, out, connection)
    try:
        return int(command(invocation))
    except AuthError as error:
        invocation.keep = False
        client = invocation.opened
        if client is not None and client.session.credentials is None:  # the kept token alone, and it is refused
            connection.cache.drop(connection.environment, connection.user)
            raise CliError(Exit.CONNECTION, f"not authorized: {error.message}; the kept token no longer works: give"
                                            " the password, or log in again (tradovate-sim login)") from None
        raise from_client(error, connection.url) from None
    except TradovateError as error:
        raise from_client(error, connection.url) from None
    finally:
        invocation.close()


def main(argv: list[str] | None = None) -> int:
    out: Output | None = None
    try:
        args = build().parse_args(sys.argv[1:] if argv is None else argv)
        if args.command == "serve":
            return serve(args)
        if args.command in ("migrate", "copy"):
            return manage(args)
        out = Output(json=args.json)
        return run_command(args, out)
    except CliError as error:
        print(f"{PROG}: {error.message}", file=sys.stderr, flush=True)
        return int(error.code)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        return int(Exit.INTERRUPTED)
    except BrokenPipeError:  # `tradovate-sim fills | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(Exit.OK)
