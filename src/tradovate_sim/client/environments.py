"""Where a client connects: Tradovate's demo and live hosts, this server on its default port, or any URL."""

from urllib.parse import urlsplit, urlunsplit

import msgspec


class Environment(msgspec.Struct, frozen=True, kw_only=True):
    """A REST base URL (below it: `/v1/...`, and `/sim/...` on this server), the trading WebSocket and the
    market-data WebSocket (a separate host on Tradovate; the same socket on this server)."""

    rest: str
    websocket: str
    market_data: str


DEMO = Environment(rest="https://demo.tradovateapi.com", websocket="wss://demo.tradovateapi.com/v1/websocket",
                   market_data="wss://md.tradovateapi.com/v1/websocket")
LIVE = Environment(rest="https://live.tradovateapi.com", websocket="wss://live.tradovateapi.com/v1/websocket",
                   market_data="wss://md.tradovateapi.com/v1/websocket")
LOCAL = Environment(rest="http://127.0.0.1:8000", websocket="ws://127.0.0.1:8000/v1/websocket",
                    market_data="ws://127.0.0.1:8000/v1/websocket")
PRESETS = {"demo": DEMO, "live": LIVE, "local": LOCAL}


def environment(url: str | Environment) -> Environment:
    """A preset by name (`demo`, `live`, `local`), or the server at `url` (`http://host:port`, with or without its
    `/v1`): its sockets at `ws://host:port/v1/websocket`."""
    if isinstance(url, Environment):
        return url
    preset = PRESETS.get(url.lower())
    if preset is not None:
        return preset
    parts = urlsplit(url.rstrip("/"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url: expected demo, live, local or an http(s) URL, not {url!r}")
    path = parts.path.removesuffix("/v1")
    rest = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    socket = urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc, f"{path}/v1/websocket", "", ""))
    return Environment(rest=rest, websocket=socket, market_data=socket)
