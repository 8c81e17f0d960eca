"""`GET /health`: is this server alive, can its database take a write, is its market moving.

The database probe is a real write: one meta key committed through the store's writer process (the same pipe,
group and fsync every command's commit takes), answered within `PROBE_SECONDS` or counted as failed.

PostgreSQL adds two things about this process: `listening` (its listening connection, without which its commands
answer 503: a failing part until it is rebuilt) and `leader` (whether it leads, and which of the market's and the
timers' tasks run in it: server/leader.py). A process that does not lead runs no market loop: not a failure.
"""

import asyncio
import time
from datetime import UTC, datetime

from tradovate_sim.server.runtime import Runtime
from tradovate_sim.storage.errors import StoreError

PROBE_KEY = "health_probe"
PROBE_SECONDS = 2.0  # a writer that has not answered the probe by then is reported as failing
STALE_TICKS = 10  # a synthetic market that has not ticked for this many intervals (and at least 5 s) is stalled


async def check(runtime: Runtime, stopping: bool) -> tuple[int, dict[str, object]]:
    """The status code (200 when every part is well, else 503) and the body that says which part is not."""
    database = await probe_database(runtime)
    market = market_loop(runtime)
    parts = {"database": database, "marketLoop": market}
    if runtime.cluster is not None:
        parts["listening"] = {"ok": True} if runtime.cluster.listening else {
            "ok": False, "error": "the listening connection to PostgreSQL is lost (being restored):"
                                  " commands answer 503 meanwhile"}
    failing = [name for name, part in parts.items() if not part["ok"]]
    if stopping:
        failing.append("server")
    body: dict[str, object] = {"status": "unavailable" if failing else "ok", "failing": failing, **parts}
    if stopping:
        body["server"] = {"ok": False, "error": "shutting down"}
    if runtime.cluster is not None:
        body["leader"] = {"leading": runtime.leadership.leading, "running": runtime.leadership.running()}
    return (503 if failing else 200), body


async def probe_database(runtime: Runtime) -> dict[str, object]:
    started = time.perf_counter()
    stamp = datetime.now(UTC).isoformat().encode()
    try:
        await asyncio.wait_for(asyncio.shield(runtime.store.commit(None, {PROBE_KEY: stamp})), PROBE_SECONDS)
    except StoreError as error:
        return {"ok": False, "error": str(error)}
    except TimeoutError:
        return {"ok": False, "error": f"the writer process did not answer within {PROBE_SECONDS:g} s"}
    return {"ok": True, "seconds": round(time.perf_counter() - started, 6)}


def market_loop(runtime: Runtime) -> dict[str, object]:
    quotes = runtime.settings.quotes
    if quotes != "synthetic":
        return {"ok": True, "quotes": quotes}  # quotes move only when set: there is no loop to run
    if not runtime.leadership.leading:
        return {"ok": True, "quotes": quotes, "running": False}  # another process leads: its loop moves the market
    loop = runtime.loop
    if loop.task is None or loop.task.done():
        return {"ok": False, "quotes": quotes, "error": "the market loop is not running"}
    since = time.monotonic() - (loop.last_tick or 0.0)
    if loop.last_tick is not None and since > max(5.0, STALE_TICKS * loop.interval):
        return {"ok": False, "quotes": quotes, "error": f"the market has not ticked for {since:.1f} s"}
    return {"ok": True, "quotes": quotes}
