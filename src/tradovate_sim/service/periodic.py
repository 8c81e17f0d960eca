"""A sweep the runtime runs every second of real time in a task of its own (order expiry, trade-date rolls, contract
settlement): started and stopped by the runtime; a failing sweep is logged and the next one goes on."""

import abc
import asyncio
import contextlib
import logging
from typing import ClassVar


class Periodic(abc.ABC):
    """Mixed into a sweeping service: `tick()` is its sweep; `task_name` names the task, `failure` the log line."""

    task_name: ClassVar[str]
    failure: ClassVar[str]
    task: asyncio.Task[None] | None = None

    @abc.abstractmethod
    async def tick(self) -> None:
        """One sweep."""

    def start(self, interval: float = 1.0) -> None:
        self.task = asyncio.create_task(self.run(interval), name=self.task_name)

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick()
            except Exception:
                logging.getLogger(f"tradovate_sim.{self.task_name}").exception(self.failure)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
