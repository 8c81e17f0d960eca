"""The fixtures in an asyncio test: the server runs in its own process, so the helpers' blocking calls and the
test's event loop do not wait on each other; a bot's socket on `ws_url` hears the quote a helper sets."""

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tradovate_sim.testing import Sim, Trader


async def next_bid(socket: ClientConnection) -> float:
    """The bid of the next quote event on the socket (heartbeats answered)."""
    async for frame in socket:
        if frame == "h":
            await socket.send("[]")
        elif isinstance(frame, str) and frame.startswith("a"):
            messages: list[dict[str, Any]] = json.loads(frame[1:])
            for message in messages:
                for quote in message.get("d", {}).get("quotes", []) if message.get("e") == "md" else []:
                    return float(quote["entries"]["Bid"]["price"])
    raise AssertionError("the socket closed")


async def test_a_bot_socket_hears_the_quote_a_helper_sets(tradovate_sim: Sim, tradovate_trader: Trader) -> None:
    symbol = tradovate_sim.front("ES").name
    tradovate_sim.quote(symbol, bid=6800, ask=6800.25)
    async with connect(tradovate_sim.ws_url) as socket:
        assert await socket.recv() == "o"
        await socket.send(f"authorize\n1\n\n{tradovate_trader.token}")
        await socket.send(f'md/subscribeQuote\n2\n\n{{"symbol": "{symbol}"}}')
        assert await asyncio.wait_for(next_bid(socket), 30) == 6800.0

        tradovate_sim.quote(symbol, bid=6801, ask=6801.25)

        assert await asyncio.wait_for(next_bid(socket), 30) == 6801.0
