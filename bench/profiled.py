"""Run `tradovate-sim` with cProfile switched by signal on its main (event-loop) thread: SIGUSR1 starts profiling,
SIGUSR2 stops it and writes the stats to the path given first. Used by `bench/cost.py --cprofile`:

    python bench/profiled.py OUT.prof serve --port ...
"""

import cProfile
import runpy
import signal
import sys
from types import FrameType


def main() -> None:
    output = sys.argv[1]
    profiler = cProfile.Profile()

    def on(_signum: int, _frame: FrameType | None) -> None:
        profiler.enable()

    def off(_signum: int, _frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(output)

    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGUSR2, off)
    sys.argv = ["tradovate-sim", *sys.argv[2:]]
    runpy.run_module("tradovate_sim.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
