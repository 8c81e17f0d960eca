"""A stall sampler for a server run under the benchmarks (issue 9: how the tables' growth was found).

Put this directory first on `PYTHONPATH` of the process to watch (the benchmarks pass their environment on to the
server they start):

    PYTHONPATH=bench/stalls:src STALL_MS=20 .venv/bin/python bench/liquidation.py --open-loop 1000

Python imports `sitecustomize` at start-up. This one wraps uvloop's `new_event_loop` so that the loop beats every
2 ms, and starts a thread that, whenever the beat is over `STALL_MS` (default 20) ms late, writes the event loop
thread's stack every 5 ms until it beats again, into `$STALL_DIR/stalls.<pid>` (default the temporary directory):
the stack of the step that holds the loop. The thread needs the GIL to look, so a step inside one C call (a page
fault storm, a long `write`) shows once it returns, with its lateness. Start-up steps (the state's load, argon2)
show too. Not for production: a sampling thread and a 2-ms timer cost a little CPU.
"""

import os
import sys
import tempfile
import threading
import time
import traceback

LIMIT = float(os.environ.get("STALL_MS", "20")) / 1000
_beat: list[float] = []
_main = threading.main_thread().ident


def _install(loop):  # type: ignore[no-untyped-def]
    def heartbeat() -> None:
        _beat[:] = [time.perf_counter()]
        loop.call_later(0.002, heartbeat)

    loop.call_soon(heartbeat)
    threading.Thread(target=_watch, name="stall-sampler", daemon=True).start()
    return loop


def _watch() -> None:
    path = os.path.join(os.environ.get("STALL_DIR", tempfile.gettempdir()), f"stalls.{os.getpid()}")
    with open(path, "w", buffering=1) as log:
        last = None
        while True:
            time.sleep(0.005)
            if not _beat or _main is None:
                continue
            late = time.perf_counter() - _beat[0]
            if late <= LIMIT:
                last = None
                continue
            frame = sys._current_frames().get(_main)
            stack = "".join(traceback.format_stack(frame)[-18:]) if frame is not None else ""
            shown = " same" if stack == last else "\n" + stack
            log.write(f"--- {time.time():.3f} late {late * 1000:.1f} ms:{shown}\n")
            last = stack


try:
    import uvloop
except ImportError:
    pass
else:
    _new_event_loop = uvloop.new_event_loop
    uvloop.new_event_loop = lambda: _install(_new_event_loop())
