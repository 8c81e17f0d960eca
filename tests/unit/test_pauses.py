"""The pause instruments of /metrics (server/pauses.py): the event-loop lag probe sees a synchronous step that holds
the loop, and every garbage collection is timed by generation. Lower bounds only: a slow machine can only add lag."""

import asyncio
import gc
import time

from tradovate_sim.server.metrics import Metrics
from tradovate_sim.server.pauses import GcPauses, LoopLag


async def test_the_lag_probe_sees_a_step_that_holds_the_event_loop() -> None:
    # Arrange: a probe waking every 10 ms
    seen: list[float] = []
    probe = LoopLag(seen.append, interval=0.01)
    probe.start()
    await asyncio.sleep(0.05)  # a few wakes first
    # Act: hold the loop for 100 ms without awaiting
    time.sleep(0.1)  # noqa: ASYNC251 (the point: a synchronous step)
    await asyncio.sleep(0.05)
    await probe.stop()
    # Assert: the wake due while the loop was held came at least 90 ms late
    assert seen
    assert max(seen) >= 0.09
    assert probe.worst == max(seen)


def test_every_garbage_collection_is_counted_and_timed_by_generation() -> None:
    # Arrange
    metrics = Metrics()
    pauses = GcPauses(metrics.collected)
    pauses.install()
    try:
        # Act
        gc.collect(0)
        gc.collect(2)
    finally:
        pauses.remove()
    # Assert
    text = metrics.exposition().decode()
    assert 'tradovate_sim_gc_collections_total{generation="0"} 1.0' in text
    assert 'tradovate_sim_gc_collections_total{generation="2"} 1.0' in text
    assert 'tradovate_sim_gc_pause_seconds_count{generation="2"} 1.0' in text
    assert pauses not in gc.callbacks
