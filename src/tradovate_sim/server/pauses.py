"""Pauses of the server, for operators (issue 9): how late the event loop wakes a timer (a synchronous step that
holds the loop delays every request behind it) and how long each garbage collection stops the process.

`LoopLag` is a timer callback that measures how late the loop ran it, every `interval`; `GcPauses` times every
collection through `gc.callbacks`. Both record into the server's metrics (`tradovate_sim_event_loop_lag_seconds`,
`tradovate_sim_gc_pause_seconds`, `tradovate_sim_gc_collections_total`) and keep the worst seen.
"""

import asyncio
import contextlib
import gc
import time
from collections.abc import Callable

INTERVAL = 0.01  # seconds between two wakes of the lag probe: ~100 cheap wakes a second


class LoopLag:
    """How late the event loop runs a timer: a callback (no task, no future: a few thousand instructions a wake)
    scheduled `interval` ahead observes its lateness each time and schedules the next."""

    def __init__(self, observe: Callable[[float], None], interval: float = INTERVAL) -> None:
        self.observe = observe
        self.interval = interval
        self.worst = 0.0
        self.handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._schedule(asyncio.get_running_loop())

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        # perf_counter, not the loop's clock: uvloop's counts whole milliseconds
        self.handle = loop.call_later(self.interval, self._wake, loop, time.perf_counter() + self.interval)

    def _wake(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        lag = max(0.0, time.perf_counter() - due)
        self.worst = max(self.worst, lag)
        self.observe(lag)
        self._schedule(loop)

    async def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class GcPauses:
    """Times every garbage collection of the process (`gc.callbacks`), by generation."""

    def __init__(self, observe: Callable[[int, float], None]) -> None:
        self.observe = observe
        self.started = 0.0
        self.worst = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        seconds = time.perf_counter() - self.started
        self.worst = max(self.worst, seconds)
        self.observe(info["generation"], seconds)

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self)
