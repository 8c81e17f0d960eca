"""The simulator controls' wire shapes (`/sim/*`, outside Tradovate's API): ours, declared like Tradovate's."""

from datetime import datetime
from typing import Annotated

import msgspec

from tradovate_sim.model.entities import Wire
from tradovate_sim.model.ids import ContractId, UserId


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


class PasswordRequest(Wire, frozen=True):
    """`POST /sim/password`: give a user (by name) a new password; no current password is asked for. Tradovate's own
    `user/modifyPassword` is the user's change of their own password (with `currentPassword`)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class PasswordState(Wire, frozen=True):
    """The answer of `POST /sim/password`: `changed` false when the user already had that password (then their
    sessions are kept; a changed password ends them)."""

    user_id: UserId
    name: str
    changed: bool


# --- `/sim/limits`: request limits and penalty tickets (core/limits.py does the arithmetic) ----------------------


class Window(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One rolling window of the request limits (HTTP 429)."""

    limit: int  # requests admitted in any interval of `seconds`
    seconds: float


class EndpointRule(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Tradovate's per-endpoint limit: `limit` counted requests in `seconds` (per IP /24, and per user name for a
    login); past it, each request answers a penalty ticket valid after `backoff_seconds` (doubling per violation)."""

    limit: int
    seconds: float
    backoff_seconds: int
    counts_successes: bool  # False: only failed requests count


HOUR = 3600.0

TRADOVATE_ENDPOINTS = {
    "auth/accesstokenrequest": EndpointRule(limit=5, seconds=HOUR, backoff_seconds=15, counts_successes=False),
    "auth/renewaccesstoken": EndpointRule(limit=15, seconds=HOUR, backoff_seconds=15, counts_successes=True),
    "auth/me": EndpointRule(limit=10, seconds=HOUR, backoff_seconds=30, counts_successes=False),
    "user/createevaluationusers": EndpointRule(limit=100, seconds=HOUR, backoff_seconds=1, counts_successes=False),
    "user/createevaluationaccounts": EndpointRule(limit=100, seconds=HOUR, backoff_seconds=1,
                                                  counts_successes=False),
    "user/syncrequest": EndpointRule(limit=300, seconds=HOUR, backoff_seconds=3, counts_successes=True),
    "order/dryrun": EndpointRule(limit=500, seconds=HOUR, backoff_seconds=1, counts_successes=True),
    "accountriskstatus/switchriskcategory": EndpointRule(limit=5000, seconds=HOUR, backoff_seconds=1,
                                                         counts_successes=True),
}


class LimitsConfig(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Every number, as `GET /sim/limits` shows it; Tradovate's documented values by default."""

    enabled: bool = True
    user: tuple[Window, ...] = (Window(limit=5000, seconds=HOUR), Window(limit=5000, seconds=60.0),
                                Window(limit=5000, seconds=1.0))
    anonymous: tuple[Window, ...] = (Window(limit=1000, seconds=HOUR), Window(limit=1000, seconds=60.0),
                                     Window(limit=100, seconds=1.0))
    endpoints: dict[str, EndpointRule] = msgspec.field(default_factory=lambda: dict(TRADOVATE_ENDPOINTS))
    penalty_max_seconds: int = 3600  # the longest back-off; also the wait of a captcha ticket
    captcha_after: int = 5  # tickets in one penalty before `p-captcha` is true


class LimitsUpdate(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The body of `POST /sim/limits`: each field given replaces that part of the configuration; `endpoints` replaces
    the rules it names (lower-cased operation names) and keeps the others."""

    enabled: bool | None = None
    user: tuple[Window, ...] | None = None
    anonymous: tuple[Window, ...] | None = None
    endpoints: dict[str, EndpointRule] | None = None
    penalty_max_seconds: int | None = None
    captcha_after: int | None = None
