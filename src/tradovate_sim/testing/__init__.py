"""Testing a bot against tradovate-sim: a throwaway server (`SimServer`), the handle a test holds (`Sim`), and the
pytest plugin (`tradovate_sim.pytest_plugin`, loaded through the `pytest11` entry point) whose fixtures give both.

    def test_buys(tradovate_sim, tradovate_trader):
        tradovate_sim.quote("ESZ6", bid=6800, ask=6800.25)
        ...
"""

from tradovate_sim.testing.server import ServerError, SimServer
from tradovate_sim.testing.sim import DEFAULT_START_TIME, Credentials, Sim, SimError, Trader

__all__ = ["DEFAULT_START_TIME", "Credentials", "ServerError", "Sim", "SimError", "SimServer", "Trader"]
