"""Shared fixtures of the unit tests that need a whole runtime in process (store, platform, identity, market)."""

import gc
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tradovate_sim.server.runtime import Runtime
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.settings import Settings


@pytest.fixture
async def make_runtime(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Runtime]]]:
    """`await make_runtime(**settings)`: a started runtime on its own SQLite file (manual quotes, no seed, cheap
    password hashing unless told otherwise), stopped after the test, the GC tuning of `Runtime.start` undone."""
    thresholds = gc.get_threshold()
    made: list[Runtime] = []

    async def make(**settings: Any) -> Runtime:
        values: dict[str, Any] = {"db": f"sqlite:///{tmp_path / 'runtime.db'}", "quotes": "manual",
                                  "admin_password": "admin-pw", "seed": "none", **settings}
        runtime = Runtime(Settings(**values), out=io.StringIO(),
                          hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1))
        await runtime.start()
        made.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in made:
            await runtime.stop()
        gc.unfreeze()  # Runtime.start freezes the heap and raises the thresholds
        gc.set_threshold(*thresholds)
