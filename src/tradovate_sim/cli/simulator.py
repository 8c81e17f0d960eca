"""This server's simulator controls (`/sim/...`, an organization admin's login): `quote`, `clock`, `reset`,
`passwd`."""

import getpass
import sys
from datetime import UTC, datetime

from tradovate_sim.cli.failure import Exit, usage
from tradovate_sim.cli.invocation import Invocation
from tradovate_sim.model.queries import QuoteQuery
from tradovate_sim.model.simulator import ClockRequest, PasswordRequest, QuoteRequest, QuoteState

QUOTE_FIELDS = ("bid", "ask", "bid_size", "ask_size", "last", "last_size", "depth_size", "depth_levels")


def show_quote(run: Invocation, state: QuoteState) -> None:
    if run.out.json:
        run.out.value(state)
        return
    run.out.fields(f"{state.symbol} (contract {state.contract_id})", [
        ("bid", f"{state.bid_size} @ {state.bid}" if state.bid is not None else "none"),
        ("ask", f"{state.ask_size} @ {state.ask}" if state.ask is not None else "none"),
        ("last", state.last), ("depth", f"{state.depth_levels} levels of {state.depth_size}"),
        ("timestamp", state.timestamp)])


def quote(run: Invocation) -> Exit:
    args = run.args
    given = {name: getattr(args, name) for name in QUOTE_FIELDS if getattr(args, name) is not None}
    sim = run.client.sim
    symbol = run.names.contract(args.symbol).name  # a product's root (ES): its front month
    if given or args.release:
        state = sim.set_quote(QuoteRequest(symbol=symbol, release=args.release, **given))
    else:
        state = sim.quote(QuoteQuery(symbol=symbol))
    show_quote(run, state)
    return Exit.OK


def clock(run: Invocation) -> Exit:
    args = run.args
    sim = run.client.sim
    if args.set is not None:
        try:
            now = datetime.fromisoformat(args.set)
        except ValueError:
            raise usage(f"argument --set: not an ISO 8601 time: {args.set!r}") from None
        state = sim.move_clock(ClockRequest(now=now if now.tzinfo else now.replace(tzinfo=UTC)))
    elif args.advance is not None:
        state = sim.move_clock(ClockRequest(advance_seconds=args.advance))
    elif args.real:
        state = sim.move_clock(ClockRequest(mode="real"))
    else:
        state = sim.clock()
    if run.out.json:
        run.out.value(state)
    else:
        run.out.line(f"{state.now:%Y-%m-%d %H:%M:%S}Z ({'wall time' if state.mode == 'real' else 'fixed'})")
    return Exit.OK


def reset(run: Invocation) -> Exit:
    state = run.client.sim.reset()
    if run.out.json:
        run.out.value(state)
    else:
        run.out.line("reset: the database is back to its freshly seeded state (the clock is unchanged)")
    return Exit.OK


def new_password(from_stdin: bool, name: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"new password of {name}: ")
        if getpass.getpass("again: ") != password:
            raise usage("passwd: the two passwords differ")
    else:
        raise usage("passwd: give the new password on stdin with --password-stdin (or run it in a terminal)")
    if not password:
        raise usage("passwd: the new password is empty")
    return password


def passwd(run: Invocation) -> Exit:
    name = run.args.name
    password = new_password(run.args.password_stdin, name)
    state = run.client.sim.set_password(PasswordRequest(name=name, password=password))
    connection = run.connection
    if state.changed and name == connection.profile.user:  # our own session ended with it
        connection.cache.drop(connection.environment, name)
        if run.opened is not None:
            run.opened.close()
            run.opened = None
    if run.out.json:
        run.out.value(state)
    else:
        run.out.line(f"password of {state.name} (user {state.user_id}) "
                     + ("set; their sessions were ended" if state.changed else "unchanged (it was that already)"))
    return Exit.OK
