"""Request limits as arithmetic over times given in milliseconds: rolling windows, per-key tiers (HTTP 429) and
penalty boxes that issue and redeem penalty tickets (`p-ticket`, `p-time`, `p-captcha`).

Nothing here reads a clock or a random source: the shell passes `now_ms` (real time, never the simulated clock) and
the secret that tickets are signed with.

A rolling window of W ms is kept as `SLOTS` + 1 buckets of `ceil(W / SLOTS)` ms each; a count leaves the window
between W and W + W/SLOTS after it was made, never before. So in any interval of length W (open or closed) at most
`limit` requests are admitted, and after a refusal a client waits at most one bucket longer than a precise sliding
log would make it wait.
"""

import base64
import hashlib
import hmac
from collections.abc import Sequence

import msgspec

from tradovate_sim.model.simulator import EndpointRule, LimitsConfig, Window

SLOTS = 10
MAX_KEYS = 100_000  # idle keys are swept when a tier or a box holds more


def problem(config: LimitsConfig) -> str | None:
    """What is wrong with a configuration, naming the field; None when it is usable."""
    for tier in ("user", "anonymous"):
        for index, window in enumerate(getattr(config, tier)):
            if window.limit < 0 or not 0.001 <= window.seconds <= 86_400 * 7:
                return f"{tier}[{index}]: limit >= 0 and 0.001 <= seconds <= 604800 expected"
    for name, rule in config.endpoints.items():
        if rule.limit < 0 or not 0.001 <= rule.seconds <= 86_400 * 7 or not 0 <= rule.backoff_seconds <= 86_400:
            return f"endpoints.{name}: limit >= 0, 0.001 <= seconds <= 604800, 0 <= backoffSeconds <= 86400 expected"
    if not 0 <= config.penalty_max_seconds <= 86_400:
        return "penaltyMaxSeconds: 0 to 86400 expected"
    if config.captcha_after < 1:
        return "captchaAfter: at least 1 expected"
    return None


class Counter:
    """Requests of one key in one rolling window (see the module's docstring)."""

    __slots__ = ("head", "limit", "ring", "slot_ms", "total")

    def __init__(self, limit: int, window_ms: int) -> None:
        self.limit = limit
        self.slot_ms = max(1, -(-window_ms // SLOTS))
        span = -(-window_ms // self.slot_ms)  # buckets s - span .. s cover any interval of window_ms ending in s
        self.ring = [0] * (span + 1)
        self.head = 0  # the bucket of the latest count
        self.total = 0

    def count(self, now_ms: int) -> int:
        """The requests counted in the window that ends now (an upper bound of the precise sliding count)."""
        slot = now_ms // self.slot_ms
        head = self.head
        if slot > head:
            ring = self.ring
            size = len(ring)
            if slot - head >= size:
                for index in range(size):
                    ring[index] = 0
                self.total = 0
            else:
                for moved in range(head + 1, slot + 1):
                    index = moved % size
                    self.total -= ring[index]
                    ring[index] = 0
            self.head = slot
        return self.total

    def add(self) -> None:
        """Count one request at the time of the last `count`."""
        self.ring[self.head % len(self.ring)] += 1
        self.total += 1


def window_ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class Tier:
    """Per-key admission against every window at once: a request is admitted (and counted in each) only when each
    window holds fewer than its limit; a refused request is not counted."""

    def __init__(self, windows: Sequence[Window]) -> None:
        self.windows = [(w.limit, window_ms(w.seconds)) for w in windows]
        self.counters: dict[object, list[Counter]] = {}

    def admit(self, key: object, now_ms: int) -> bool:
        counters = self.counters.get(key)
        if counters is None:
            if len(self.counters) >= MAX_KEYS:
                self.sweep(now_ms)
            counters = self.counters[key] = [Counter(limit, ms) for limit, ms in self.windows]
        for counter in counters:
            if counter.count(now_ms) >= counter.limit:
                return False
        for counter in counters:
            counter.add()
        return True

    def sweep(self, now_ms: int) -> None:
        idle = [key for key, counters in self.counters.items() if not any(c.count(now_ms) for c in counters)]
        for key in idle:
            del self.counters[key]


class Ticket(msgspec.Struct, frozen=True):
    """A penalty ticket as answered: its text, the whole seconds to wait, whether Tradovate would ask a captcha."""

    ticket: str
    wait_seconds: int
    captcha: bool


class Penalty:
    """One key's standing at one endpoint: its counted requests, the violations of its current penalty and its one
    live ticket."""

    __slots__ = ("counter", "ready_ms", "strikes", "ticket")

    def __init__(self, counter: Counter) -> None:
        self.counter = counter
        self.strikes = 0
        self.ticket: str | None = None
        self.ready_ms = 0


class PenaltyBox:
    """An endpoint's limit. Under it a request goes ahead; past it (for any of the request's keys) it needs that
    key's live ticket, presented once its wait is over, else it is answered a ticket and not executed.

    Each answer without a redeemable ticket is a violation: it replaces the live ticket with one whose wait doubles
    (`backoff_seconds`, then twice that, ..., at most `penalty_max_seconds`); after `captcha_after` of them the
    ticket asks a captcha and waits `penalty_max_seconds`. A ticket presented too early is answered again with the
    time that remains (not a violation). A penalty, and its violations, end when the counts fall below the limit."""

    def __init__(self, rule: EndpointRule, config: LimitsConfig, secret: bytes, name: str) -> None:
        self.rule = rule
        self.window_ms = window_ms(rule.seconds)
        self.max_seconds = config.penalty_max_seconds
        self.captcha_after = config.captcha_after
        self.secret = secret
        self.name = name
        self.issued = 0
        self.states: dict[str, Penalty] = {}

    def penalized(self, keys: Sequence[str], now_ms: int) -> list[Penalty]:
        """The keys' standings that are past the limit now; a standing back under it forgets its violations."""
        found: list[Penalty] = []
        for key in keys:
            state = self.states.get(key)
            if state is None:
                continue
            if state.counter.count(now_ms) >= self.rule.limit:
                found.append(state)
            elif state.strikes:
                state.strikes, state.ticket = 0, None
        return found

    def answer(self, penalized: Sequence[Penalty], ticket: str | None, now_ms: int) -> Ticket | None:
        """None when `ticket` is redeemed (the request goes ahead); else the ticket to answer."""
        if ticket is not None and all(state.ticket == ticket for state in penalized):
            ready_ms = max(state.ready_ms for state in penalized)
            if now_ms >= ready_ms:
                for state in penalized:
                    state.ticket = None
                return None
            captcha = max(state.strikes for state in penalized) > self.captcha_after
            return Ticket(ticket, -(-(ready_ms - now_ms) // 1000), captcha)
        strikes = max(state.strikes for state in penalized) + 1
        captcha = strikes > self.captcha_after
        wait = self.max_seconds if captcha else min(self.rule.backoff_seconds << min(strikes - 1, 32),
                                                    self.max_seconds)
        self.issued += 1
        text = self.sign(self.issued)
        for state in penalized:
            state.strikes, state.ticket, state.ready_ms = strikes, text, now_ms + wait * 1000
        return Ticket(text, wait, captcha)

    def record(self, keys: Sequence[str], failed: bool, now_ms: int) -> None:
        """Count a request that was executed (only a failed one, unless the rule counts successes)."""
        if not failed and not self.rule.counts_successes:
            return
        for key in keys:
            state = self.states.get(key)
            if state is None:
                if len(self.states) >= MAX_KEYS:
                    self.sweep(now_ms)
                state = self.states[key] = Penalty(Counter(self.rule.limit, self.window_ms))
            state.counter.count(now_ms)
            state.counter.add()

    def sweep(self, now_ms: int) -> None:
        idle = [key for key, state in self.states.items() if not state.counter.count(now_ms)]
        for key in idle:
            del self.states[key]

    def sign(self, serial: int) -> str:
        """An opaque ticket text that cannot be guessed without the secret."""
        message = f"{self.name}:{serial}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(serial.to_bytes(6, "big") + digest).decode()


class Limiter:
    """The limits of one server: the authenticated tier (by user id), the anonymous tier (by client address) and a
    penalty box per limited endpoint (keyed by lower-cased operation name)."""

    def __init__(self, config: LimitsConfig, secret: bytes) -> None:
        self.config = config
        self.user = Tier(config.user)
        self.anonymous = Tier(config.anonymous)
        self.boxes = {name.lower(): PenaltyBox(rule, config, secret, name.lower())
                      for name, rule in config.endpoints.items()}
