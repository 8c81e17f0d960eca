"""Request limits in the shell: reads the real-time clock, asks `core.limits`, and answers HTTP 429 or a penalty
ticket. REST (server/app.py) and the WebSocket (server/websocket.py) call the same methods, in the same order:

1. the tier: an authenticated request counts against its user, any other against its client address (429);
2. an endpoint with a rule: past its limit the request needs its ticket (else the answer is a `PenaltyTicket`);
   when executed, its outcome is counted (failed only, unless the rule counts successes).

Windows follow real time (a monotonic clock), never the simulated clock of `/sim/clock`.
"""

import ipaddress
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from tradovate_sim.core.limits import Limiter, PenaltyBox, problem
from tradovate_sim.model.requests import AccessTokenRequest
from tradovate_sim.model.results import PenaltyTicket
from tradovate_sim.model.simulator import LimitsConfig, LimitsUpdate
from tradovate_sim.service.errors import ApiError, bad_request

TOO_MANY = "Too many requests"


def too_many() -> ApiError:
    """HTTP 429 (an empty body on REST, `{"s":429,"i":id}` on a socket)."""
    return ApiError(429, TOO_MANY)


class TicketField(msgspec.Struct, frozen=True):
    p_ticket: str | None = msgspec.field(default=None, name="p-ticket")


def ticket_in(raw: bytes) -> str | None:
    """The `p-ticket` of a request body, if it carries one."""
    try:
        return msgspec.json.decode(raw, type=TicketField).p_ticket
    except msgspec.DecodeError:  # ValidationError is one
        return None


def subnet(host: str) -> str:
    """The client's /24 (IPv4) or /64 (IPv6) network: what Tradovate's endpoint limits count by."""
    if host.count(".") == 3 and ":" not in host:
        return host.rpartition(".")[0]
    try:
        return str(ipaddress.ip_network(f"{host}/64", strict=False))
    except ValueError:
        return host


def is_failed(result: object) -> bool:
    """A business failure answered with HTTP 200: an `errorText` (or a `failureReason`) is set."""
    return bool(getattr(result, "error_text", None) or getattr(result, "failure_reason", None))


class Admission:
    """The limits of one server; `enabled` False (`--rate-limits off`) skips every count."""

    def __init__(self, config: LimitsConfig) -> None:
        self.secret = secrets.token_bytes(32)
        self.limiter = Limiter(config, self.secret)
        self.enabled = config.enabled

    @property
    def config(self) -> LimitsConfig:
        return self.limiter.config

    def configure(self, config: LimitsConfig) -> None:
        """New numbers; every count and penalty starts afresh."""
        self.limiter = Limiter(config, self.secret)
        self.enabled = config.enabled

    def clear(self) -> None:
        self.configure(self.limiter.config)

    def admit_user(self, user_id: int) -> None:
        """Count a request of an authenticated user, or raise the 429."""
        if self.enabled and not self.limiter.user.admit(user_id, time.monotonic_ns() // 1_000_000):
            raise too_many()

    def admit_anonymous(self, host: str) -> None:
        """Count a request without a valid token (by client address), or raise the 429."""
        if self.enabled and not self.limiter.anonymous.admit(host, time.monotonic_ns() // 1_000_000):
            raise too_many()

    def box(self, operation: str) -> PenaltyBox | None:
        """The penalty box of an operation (lower-cased name), if it has a rule and limits are on."""
        return self.limiter.boxes.get(operation) if self.enabled else None

    def refused(self, operation: str, host: str) -> None:
        """A request refused before it was executed (a bad token): a failure of the operation's rule."""
        box = self.box(operation)
        if box is not None:
            box.record((subnet(host),), True, time.monotonic_ns() // 1_000_000)

    async def run(self, box: PenaltyBox, host: str, body: object, ticket: Callable[[], str | None],
                  execute: Callable[[], Awaitable[object]]) -> object:
        """Execute a request of a limited operation, or answer its penalty ticket; count its outcome."""
        keys = keys_of(host, body)
        penalized = box.penalized(keys, time.monotonic_ns() // 1_000_000)
        if penalized:
            issued = box.answer(penalized, ticket(), time.monotonic_ns() // 1_000_000)
            if issued is not None:
                return PenaltyTicket(p_ticket=issued.ticket, p_time=issued.wait_seconds, p_captcha=issued.captcha)
        try:
            result = await execute()
        except ApiError:
            box.record(keys, True, time.monotonic_ns() // 1_000_000)
            raise
        box.record(keys, is_failed(result), time.monotonic_ns() // 1_000_000)
        return result


def updated_config(config: LimitsConfig, update: LimitsUpdate) -> LimitsConfig:
    """The configuration with `update` applied; a 400 naming the field when the result is not usable."""
    changes = {field: value for field in LimitsUpdate.__struct_fields__
               if (value := getattr(update, field)) is not None}
    if update.endpoints is not None:
        changes["endpoints"] = {**config.endpoints, **{k.strip("/").lower(): v for k, v in update.endpoints.items()}}
    result = msgspec.structs.replace(config, **changes)
    message = problem(result)
    if message is not None:
        raise bad_request(message)
    return result


def keys_of(host: str, body: object) -> Sequence[str]:
    """What an endpoint limit counts a request by: the client's subnet, and for a login also the user name."""
    if isinstance(body, AccessTokenRequest):
        return (subnet(host), "name:" + body.name.lower())
    return (subnet(host),)
