"""The shutdown says which of its steps hangs (`Runtime.stop`'s watch)."""

import asyncio

import pytest

from tradovate_sim.server import runtime


class Warnings:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.logged = asyncio.Event()

    def warning(self, text: str, *args: object) -> None:
        self.lines.append(text % args)
        self.logged.set()


async def test_a_step_still_running_past_the_bound_is_logged_by_name_and_a_quick_one_is_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    warnings = Warnings()
    monkeypatch.setattr(runtime, "log", warnings)
    monkeypatch.setattr(runtime, "SLOW_STOP_SECONDS", 0.01)
    released = asyncio.Event()

    async def hanging() -> None:
        with runtime._watched("the hanging step"):
            await released.wait()

    with runtime._watched("the quick step"):
        pass
    step = asyncio.create_task(hanging())
    await asyncio.wait_for(warnings.logged.wait(), 10)  # logged while the step still runs
    running = not step.done()
    released.set()
    await step
    await asyncio.sleep(0.05)  # the quick step's warning, had it not been cancelled, would be out by now

    assert running
    assert warnings.lines == ["stopping: the hanging step still running after 0 s"]
