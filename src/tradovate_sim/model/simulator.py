"""The simulator controls' wire shapes (`/sim/*`, outside Tradovate's API): ours, declared like Tradovate's."""

from datetime import datetime

from tradovate_sim.model.entities import Wire
from tradovate_sim.model.ids import ContractId


class QuoteRequest(Wire, frozen=True):
    """`POST /sim/quote`: pins the contract's quote (every omitted field takes its default, `depthSize` excepted),
    or with `release` hands it back to the random walk."""

    contract_id: ContractId | None = None
    symbol: str | None = None
    bid: float | None = None
    ask: float | None = None
    bid_size: int | None = None
    ask_size: int | None = None
    last: float | None = None
    last_size: int | None = None
    depth_size: int | None = None
    depth_levels: int | None = None
    release: bool = False


class QuoteState(Wire, frozen=True):
    """The answer of `GET|POST /sim/quote`: the quote in prices. An empty side is `null`."""

    contract_id: ContractId
    symbol: str
    bid: float | None
    ask: float | None
    bid_size: int
    ask_size: int
    last: float | None
    depth_size: int
    depth_levels: int
    timestamp: datetime


class ClockRequest(Wire, frozen=True):
    """`POST /sim/clock`: one of `now` (freeze there), `advanceSeconds`, or `mode: "real"`."""

    now: datetime | None = None
    advance_seconds: float | None = None
    mode: str | None = None


class ClockState(Wire, frozen=True):
    """The answer of `GET|POST /sim/clock`."""

    now: datetime
    mode: str  # real | fixed


class ResetState(Wire, frozen=True):
    """The answer of `POST /sim/reset`."""

    ok: bool
