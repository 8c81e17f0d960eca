"""A sweep the runtime runs every second of real time in a task of its own (order expiry, trade-date rolls, contract
settlement): started and stopped by the runtime; a failing sweep is logged and the next one goes on.

`Ticker` is the loop every timer runs in (these sweeps, the market loop, the margin watch, auto-liquidation's clock
and water-mark flush). It stops between two runs, never in the middle of one: a run under way when `stop()` is
called finishes (its commits land or fail as store errors) and `stop()` returns once it has; a sleeping ticker is
cancelled at once. `start()` and `stop()` may be called any number of times, in any order (PostgreSQL: a process
that stops leading stops its timers and starts them again when it leads again, server/leader.py)."""

import abc
import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import ClassVar

__all__ = ["Periodic", "Ticker"]


class _Run:
    """One run of a ticker, from a `start()` to its `stop()` (a stop while another start is under way is that run's)."""

    def __init__(self) -> None:
        self.stopping = False
        self.working = False  # a tick is under way: `stop()` waits for it instead of cancelling it


def doubling(count: int) -> bool:
    """Whether the `count`th failure in a row gets a log line: the 1st, 2nd, 4th, 8th... (a streak of failures
    costs a few lines, not one a run)."""
    return count & (count - 1) == 0


class Ticker:
    """Runs `work()` every `interval` seconds in a task named `name`, from `start()` until `stop()`. Without
    `failed`, `work` handles its own failures (one that escapes ends the task: `stop()` logs "<what> had failed" on
    `log`); with it (a message with one `%d`), a failing run is logged with its traceback at the 1st, 2nd, 4th,
    8th... failure in a row, and the next run goes on."""

    def __init__(self, name: str, interval: float, work: Callable[[], Awaitable[None]], *,
                 log: logging.Logger | None = None, what: str | None = None, failed: str | None = None) -> None:
        self.name = name
        self.interval = interval
        self.work = work
        self.log = log or logging.getLogger(f"tradovate_sim.{name}")
        self.what = what or name
        self.failed = failed
        self.failures = 0  # runs failed in a row (with `failed`)
        self.task: asyncio.Task[None] | None = None
        self._run: _Run | None = None

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        """Start ticking (nothing if already ticking)."""
        if self.running:
            return
        run = self._run = _Run()
        self.task = asyncio.create_task(self._ticks(run), name=self.name)

    async def _ticks(self, run: _Run) -> None:
        while not run.stopping:
            await asyncio.sleep(self.interval)
            if run.stopping:
                return
            run.working = True
            try:
                await self.work()
            except Exception:
                if self.failed is None:
                    raise
                self.failures += 1
                if doubling(self.failures):
                    self.log.exception(self.failed, self.failures)
            else:
                self.failures = 0
            finally:
                run.working = False

    async def stop(self) -> None:
        """Stop ticking: at once if asleep, else after the tick under way (nothing if not ticking)."""
        task, run = self.task, self._run
        self.task = self._run = None
        if task is None or run is None:
            return
        run.stopping = True
        if not run.working:
            task.cancel()
        try:
            await asyncio.shield(task)  # a stop that is itself cancelled still leaves the tick to finish
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # this caller was cancelled, not the ticker
        except Exception:  # it ended on a failure `work` did not handle: say so, the stop goes on
            self.log.exception("%s had failed", self.what)


class Periodic(abc.ABC):
    """Mixed into a sweeping service: `tick()` is its sweep; `task_name` names the task, `failure` the log line."""

    task_name: ClassVar[str]
    failure: ClassVar[str]
    ticker: Ticker | None = None

    @abc.abstractmethod
    async def tick(self) -> None:
        """One sweep."""

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self.ticker.task if self.ticker is not None else None

    def start(self, interval: float = 1.0) -> None:
        if self.ticker is None:
            self.ticker = Ticker(self.task_name, interval, self._sweep)
        self.ticker.start()

    async def _sweep(self) -> None:
        try:
            await self.tick()
        except Exception:
            logging.getLogger(f"tradovate_sim.{self.task_name}").exception(self.failure)

    async def stop(self) -> None:
        if self.ticker is not None:
            await self.ticker.stop()
