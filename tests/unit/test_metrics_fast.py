"""The metrics' fast counting and observing (server/metrics.py) record exactly what prometheus_client's public
`inc` and `observe` record: same exposition, bucket by bucket."""

from functools import partial

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from tradovate_sim.server.metrics import LATENCY_BUCKETS, counting, observing


def _made(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    return (Counter("c", "a counter", ["x"], registry=registry),
            Histogram("h", "a histogram", ["x"], buckets=LATENCY_BUCKETS, registry=registry))


def _exposed(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def test_fast_counting_and_observing_expose_what_the_public_calls_expose_when_values_hit_every_bucket() -> None:
    # Arrange
    fast_registry, public_registry = CollectorRegistry(), CollectorRegistry()
    fast_counter, fast_histogram = _made(fast_registry)
    public_counter, public_histogram = _made(public_registry)
    count, observe = counting(fast_counter.labels("a")), observing(fast_histogram.labels("a"))
    values = [0.0, -1.0, float("nan"), 1e9, *LATENCY_BUCKETS, *(b * 1.0001 for b in LATENCY_BUCKETS),
              *(b * 0.9999 for b in LATENCY_BUCKETS)]
    # Act
    for value in values:
        count()
        observe(value)
        public_counter.labels("a").inc()
        public_histogram.labels("a").observe(value)
    # Assert
    assert isinstance(count, partial)  # the fast paths were taken, not the fallbacks
    assert observe.__qualname__.startswith("observing.")
    assert _exposed(fast_registry) == _exposed(public_registry)
