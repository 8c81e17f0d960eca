"""`watch`: the account's live `props` events (`user/syncRequest`) and the quotes of the symbols asked for
(`md/subscribeQuote`) over the WebSocket, one line each, until Ctrl-C (exit 0) or `--count` events.

With `--json` each line is the event as Tradovate frames it: `{"e": "props", "d": {entityType, eventType,
entity}}` or `{"e": "md", "d": {"quotes": [quote]}}`. A line on stderr says when the subscriptions are live."""

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec

from tradovate_sim.cli.failure import Exit, not_found, usage
from tradovate_sim.cli.invocation import Invocation
from tradovate_sim.cli.names import SUGGESTED, front_month, pick_account
from tradovate_sim.cli.output import cell
from tradovate_sim.client import AsyncTradovate, NotFoundError
from tradovate_sim.model.market import QuotePacket
from tradovate_sim.model.requests import SyncRequest
from tradovate_sim.model.session import Change

SHOWN_FIELDS = 8  # fields of an entity a human line shows (the id first)


def props_line(change: Change) -> str:
    fields = msgspec.to_builtins(change.entity)
    shown = " ".join(f"{k}={cell(v)}" for k, v in list(fields.items())[:SHOWN_FIELDS] if k not in ("id", "timestamp"))
    return f"{change.event_type} {change.entity_type} {fields.get('id')}: {shown}"


def quote_line(symbol: str, packet: QuotePacket) -> str:
    entries = packet.entries
    parts = [f"{name} {entry.size} @ {cell(entry.price)}"
             for name, entry in (("bid", entries.bid), ("ask", entries.offer), ("last", entries.trade))
             if entry is not None]
    return f"{packet.timestamp:%H:%M:%S} {symbol} " + "  ".join(parts)


async def pump(stream: AsyncIterator[Any], label: str, queue: asyncio.Queue[tuple[str, Any] | None]) -> None:
    try:
        async for item in stream:
            await queue.put((label, item))
    finally:
        await queue.put(None)  # the stream ended (the socket closed)


async def watching(run: Invocation, client: AsyncTradovate) -> Exit:
    args = run.args
    out = run.out
    if args.no_props and not args.quote:
        raise usage("watch: nothing to watch (--no-props without --quote)")
    given = args.account or run.connection.profile.account
    accounts = [] if args.no_props else sorted(await client.account.list(), key=lambda a: a.id)
    selected = [pick_account(accounts, given)] if given and accounts else accounts
    queue: asyncio.Queue[tuple[str, Any] | None] = asyncio.Queue()
    contracts = []
    for symbol in args.quote or []:  # looked up over REST: Tradovate's market-data socket answers md/ only
        try:
            contracts.append(await client.contract.find(symbol.upper()))
        except NotFoundError:  # a product's root (ES): its front month, as `place` and `liquidate` take it
            found = front_month(symbol.upper(), await client.contract.suggest(symbol.upper(), SUGGESTED))
            if found is None:
                raise not_found(f"unknown symbol {symbol!r}") from None
            contracts.append(found)
    async with contextlib.AsyncExitStack() as stack:
        tasks: list[asyncio.Task[None]] = []
        if not args.no_props:
            ws = await stack.enter_async_context(client.websocket())
            sync = await ws.sync(SyncRequest(accounts=[a.id for a in selected]))
            tasks.append(asyncio.create_task(pump(sync, "props", queue)))
        if contracts:  # Tradovate's market-data host (on this server, the same socket's URL)
            md = await stack.enter_async_context(client.websocket(market_data=True))
            for contract in contracts:
                quotes = await stack.enter_async_context(await md.quotes(contract.id))
                tasks.append(asyncio.create_task(pump(quotes, contract.name, queue)))
        out.warn("watching " + ", ".join([*(a.name for a in selected if not args.no_props),
                                          *(c.name for c in contracts)]) + " (Ctrl-C to stop)")
        seen = 0
        try:
            with stopped_by_signals() as stopped:
                while tasks and (args.count is None or seen < args.count):
                    item = await queue.get()
                    if item is None:
                        break
                    label, event = item
                    seen += 1
                    if out.json:
                        out.value({"e": "props", "d": event} if label == "props"
                                  else {"e": "md", "d": {"quotes": [event]}})
                    else:
                        out.line(props_line(event) if label == "props" else quote_line(label, event))
        except asyncio.CancelledError:
            if not stopped:
                raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return Exit.OK


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[list[int]]:
    """SIGINT (Ctrl-C) and SIGTERM cancel the current task, which ends the watch cleanly (the socket closed with
    1000); the list holds the signal once one came. Installed here even when the shell started us with SIGINT
    ignored (a background job)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    stopped: list[int] = []

    def stop(number: int) -> None:
        if not stopped:
            stopped.append(number)
            task.cancel()

    installed = []
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform or thread
            loop.add_signal_handler(number, stop, number)
            installed.append(number)
    try:
        yield stopped
    finally:
        for number in installed:
            loop.remove_signal_handler(number)
        if stopped:
            task.uncancel()


async def watch_async(run: Invocation) -> Exit:
    client = run.connection.async_client()
    try:
        done = await watching(run, client)
        run.connection.remember(client.session)
        return done
    finally:
        await client.aclose()


def watch(run: Invocation) -> Exit:
    try:
        return asyncio.run(watch_async(run))
    except KeyboardInterrupt:
        return Exit.OK
