"""What the client's tests share: a `Driver` that runs one call through the blocking or the asyncio client, so a
test written once runs in both modes."""

import asyncio
from collections.abc import Callable
from typing import Any

from tradovate_sim.client import AsyncTradovate, Tradovate

MODES = ["sync", "async"]


class Driver:
    """One client of either mode: `drive(lambda c: c.position.list())` returns the result in both (the asyncio
    client's awaitable is run on the driver's own event loop)."""

    def __init__(self, mode: str, base_url: str, name: str, password: str, **options: Any) -> None:
        self.mode = mode
        self.loop = asyncio.new_event_loop() if mode == "async" else None
        self.client: Tradovate | AsyncTradovate = (
            AsyncTradovate(base_url, name, password, **options) if mode == "async"
            else Tradovate(base_url, name, password, **options))

    def __call__(self, use: Callable[[Any], Any]) -> Any:
        result = use(self.client)
        return self.loop.run_until_complete(result) if self.loop is not None else result

    @property
    def session(self) -> Any:
        return self.client.session

    def close(self) -> None:
        if isinstance(self.client, AsyncTradovate):
            assert self.loop is not None
            self.loop.run_until_complete(self.client.aclose())
            self.loop.close()
        else:
            self.client.close()
