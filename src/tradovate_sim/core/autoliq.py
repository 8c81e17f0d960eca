"""Post-trade risk rules (`UserAccountAutoLiq`): from an account's marks to the levels and the breaches.

Pure arithmetic. The shell builds a `Mark` of one account — its net liquidation value (cash + open P&L), the
day's and the week's starting values, the margin it uses, the high/low-water marks and the rules breached at the
previous evaluation — and asks `evaluate`; the `Verdict` says the new water marks, the current trigger levels and
which rules are newly breached. What a breach does (alert, liquidation-only, liquidate and lock) and when the
restriction ends is the shell's to carry out; each `Breach` names its `Effect` and its `Span`.

Definitions (docs/behaviour.md, "Post-trade risk"):
- day P&L = net liq - day base, where the day base is the net liq at the trade date's start plus the cash moved
  in or out since (so a deposit is not a profit); the week likewise from the week's first trade date;
- loss rules fire when net liq <= their level (base - amount, or base x (1 - percent/100)); profit rules when
  net liq >= base + amount; margin rules when margin used >= percent of net liq;
- trailing drawdown level = min(high water - trailingMaxDrawdown, trailingMaxDrawdownLimit): it never falls;
  `RealTime` raises the high water on every mark, `EOD` only at the trade date's close (`close=True`);
- every comparison is made in cents, so a level reached exactly fires;
- a rule fires once per breach: when its condition turns true. It re-arms when the condition is false again (a
  new trade date's base, a recovery) or when an admin clears the account (`cleared`).
"""

import math
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

import msgspec

from tradovate_sim.core.view import Quote, Value
from tradovate_sim.model.entities import PostTradeRisk
from tradovate_sim.model.enums import TrailingMaxDrawdownMode


class Effect(StrEnum):
    """What a breached rule does to the account."""

    Alert = "Alert"  # an alert for the risk desk; trading goes on
    LiquidationOnly = "LiquidationOnly"  # only orders that reduce a position are accepted
    AutoLiquidate = "AutoLiquidate"  # cancel every working order, close every position, lock
    Flatten = "Flatten"  # cancel every working order, close every position, liquidation-only (flattenTimestamp)


class Span(StrEnum):
    """How long a breach's restriction lasts, and so when its rule may fire again."""

    Day = "Day"  # until the next session's open (the next trade date)
    Week = "Week"  # until the next week's first session
    UntilCleared = "UntilCleared"  # until an admin clears it (`setadminautoliqaction Normal`, `resetautoliqstatus`)


class Mark(Value, frozen=True):
    """One account's standing at one moment."""

    net_liq: float  # cash + open P&L
    day_base: float  # net liq at the start of the trade date, plus cash moved in or out since
    week_base: float  # the same for the week
    now: datetime
    margin_used: float = 0.0  # initial margin of the open positions
    high_water: float | None = None  # AccountRiskStatus.maxNetLiq; None: not tracked yet (starts at net_liq)
    low_water: float | None = None  # AccountRiskStatus.minNetLiq
    fired: frozenset[str] = frozenset()  # rules (wire names) breached at the previous evaluation: already acted on


class Breach(Value, frozen=True):
    rule: str  # the UserAccountAutoLiq field's wire name, e.g. "dailyLossAutoLiq"
    effect: Effect
    span: Span
    level: float  # the net liq (or margin %) at which the rule fires
    value: float  # the net liq (or margin %) that reached it
    text: str


class Verdict(Value, frozen=True):
    high_water: float
    low_water: float
    auto_liq_level: float | None  # the highest net liq at which an auto-liquidation rule fires; None: no such rule
    liq_only_level: float | None  # the same for liquidation-only rules
    trailing_level: float | None  # the trailing drawdown level alone
    breaches: tuple[Breach, ...] = ()  # rules breached now and not at the previous evaluation: act on these
    fired: frozenset[str] = frozenset()  # every rule breached now: the next evaluation's `Mark.fired`
    calm_low: float = -math.inf  # while calm_low < net liq (in cents) < calm_high, with the same rules, bases,
    calm_high: float = math.inf  # margin, time and `fired`, evaluating again changes nothing: the per-quote fast path
    calm_floor: float = -math.inf  # calm_low without the low water: between it and calm_low only the low water moves


def cents(amount: float) -> float:
    return round(amount + 0.0, 2)


class _Rule(Value, frozen=True):
    """A rule expressed as a net-liq level: `below` rules fire at net liq <= level, the others at >= level."""

    name: str
    effect: Effect
    span: Span
    below: bool
    level: Callable[[float, Mark], float]  # (the rule's amount, the mark) -> net liq level
    what: str


def _loss(base: Callable[[Mark], float]) -> Callable[[float, Mark], float]:
    return lambda amount, mark: base(mark) - amount


def _loss_pct(base: Callable[[Mark], float]) -> Callable[[float, Mark], float]:
    return lambda pct, mark: base(mark) * (1 - pct / 100)


def _profit(base: Callable[[Mark], float]) -> Callable[[float, Mark], float]:
    return lambda amount, mark: base(mark) + amount


def _day(mark: Mark) -> float:
    return mark.day_base


def _week(mark: Mark) -> float:
    return mark.week_base


_A, _L, _Q = Effect.Alert, Effect.LiquidationOnly, Effect.AutoLiquidate
_LEVEL_RULES = (
    _Rule(name="dailyLossAlert", effect=_A, span=Span.Day, below=True, level=_loss(_day), what="daily loss"),
    _Rule(name="dailyLossPercentageAlert", effect=_A, span=Span.Day, below=True, level=_loss_pct(_day),
          what="daily loss percentage"),
    _Rule(name="dailyLossLiqOnly", effect=_L, span=Span.Day, below=True, level=_loss(_day), what="daily loss"),
    _Rule(name="dailyLossPercentageLiqOnly", effect=_L, span=Span.Day, below=True, level=_loss_pct(_day),
          what="daily loss percentage"),
    _Rule(name="dailyLossAutoLiq", effect=_Q, span=Span.Day, below=True, level=_loss(_day), what="daily loss"),
    _Rule(name="dailyLossPercentageAutoLiq", effect=_Q, span=Span.Day, below=True, level=_loss_pct(_day),
          what="daily loss percentage"),
    _Rule(name="weeklyLossAutoLiq", effect=_Q, span=Span.Week, below=True, level=_loss(_week), what="weekly loss"),
    _Rule(name="dailyProfitAutoLiq", effect=_Q, span=Span.Day, below=False, level=_profit(_day),
          what="daily profit"),
    _Rule(name="weeklyProfitAutoLiq", effect=_Q, span=Span.Week, below=False, level=_profit(_week),
          what="weekly profit"),
)
_MARGIN_RULES = (
    ("marginPercentageAlert", _A),
    ("marginPercentageLiqOnly", _L),
    ("marginPercentageAutoLiq", _Q),
)
def _amount(rules: PostTradeRisk, wire_name: str) -> float | None:
    value = getattr(rules, _ATTRIBUTE[wire_name])
    return None if value is None else float(value)


_ATTRIBUTE = {field.encode_name: field.name for field in msgspec.structs.fields(PostTradeRisk)}  # wire -> attribute


def trailing_level(rules: PostTradeRisk, high_water: float) -> float | None:
    """The trailing drawdown liquidation level for a high-water net liq, or None when the rule is off."""
    drawdown = rules.trailing_max_drawdown
    if drawdown is None:
        return None
    level = high_water - drawdown
    if rules.trailing_max_drawdown_limit is not None:
        level = min(level, rules.trailing_max_drawdown_limit)
    return cents(level)


def evaluate(rules: PostTradeRisk, mark: Mark, *, close: bool = False) -> Verdict:
    """The water marks, levels and new breaches of one account at `mark`. `close=True` at the trade date's close
    (the moment an `EOD` trailing drawdown raises its high water)."""
    net_liq = cents(mark.net_liq)
    realtime = rules.trailing_max_drawdown_mode is not TrailingMaxDrawdownMode.EOD
    high = net_liq if mark.high_water is None else mark.high_water
    low = net_liq if mark.low_water is None else min(mark.low_water, net_liq)
    if realtime or close:
        high = max(high, net_liq)
    calm = _Band(low=math.nextafter(low, -math.inf), high=math.nextafter(high, math.inf) if realtime else math.inf)
    breaches: list[Breach] = []
    levels: dict[Effect, list[float]] = {_Q: [], _L: []}
    for rule in _LEVEL_RULES:
        amount = _amount(rules, rule.name)
        if amount is None:
            continue
        level = cents(rule.level(amount, mark))
        if rule.below and rule.effect in levels:
            levels[rule.effect].append(level)
        if calm.crossed(net_liq, level, below=rule.below):
            breaches.append(Breach(rule=rule.name, effect=rule.effect, span=rule.span, level=level, value=net_liq,
                                   text=f"{rule.what} rule {rule.name}: net liquidation value {net_liq:.2f} "
                                        f"reached the level {level:.2f}"))
    trailing = trailing_level(rules, high)
    if trailing is not None:
        levels[_Q].append(trailing)
        if calm.crossed(net_liq, trailing, below=True):
            breaches.append(Breach(rule="trailingMaxDrawdown", effect=_Q, span=Span.UntilCleared, level=trailing,
                                   value=net_liq, text=f"trailing drawdown: net liquidation value {net_liq:.2f} "
                                                       f"reached the level {trailing:.2f}"))
    for name, effect in _MARGIN_RULES:
        pct = _amount(rules, name)
        if pct is None or mark.margin_used <= 0:
            continue
        # margin used >= pct % of net liq  <=>  net liq <= margin used x 100 / pct (any net liq <= 0 included)
        level = mark.margin_used * 100 / pct if pct > 0 else math.inf
        if calm.crossed(net_liq, level, below=True):
            used = mark.margin_used / net_liq * 100 if net_liq > 0 else math.inf
            breaches.append(Breach(rule=name, effect=effect, span=Span.Day, level=pct, value=used,
                                   text=f"margin rule {name}: margin used is {used:.2f} % of the net liquidation "
                                        f"value, at or over {pct:.2f} %"))
    if rules.flatten_timestamp is not None and mark.now >= rules.flatten_timestamp:
        at = rules.flatten_timestamp
        breaches.append(Breach(rule=flatten_key(at), effect=Effect.Flatten, span=Span.Day, level=0.0, value=0.0,
                               text=f"flatten time {at.isoformat()} reached"))
    return Verdict(high_water=high, low_water=low, auto_liq_level=max(levels[_Q], default=None),
                   liq_only_level=max(levels[_L], default=None), trailing_level=trailing,
                   breaches=tuple(b for b in breaches if b.rule not in mark.fired),
                   fired=frozenset(b.rule for b in breaches), calm_low=calm.low, calm_high=calm.high,
                   calm_floor=calm.floor)


class _Band:
    """The open interval of net liq around the current one in which no rule's condition and no water mark
    changes: each threshold narrows it from the side it is on."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.floor = -math.inf  # the low edge the thresholds alone set

    def crossed(self, net_liq: float, level: float, *, below: bool) -> bool:
        """Whether a rule firing at `net liq <= level` (`below`) or `>= level` holds now; narrows the band so that
        inside it the answer stays the same."""
        if below:
            holds = net_liq <= level
            if holds:
                self.high = min(self.high, math.nextafter(level, math.inf))  # stays while net liq <= level
            else:
                self.low = max(self.low, level)  # stays while net liq > level
                self.floor = max(self.floor, level)
        else:
            holds = net_liq >= level
            if holds:
                self.low = max(self.low, math.nextafter(level, -math.inf))
                self.floor = max(self.floor, math.nextafter(level, -math.inf))
            else:
                self.high = min(self.high, level)
        return holds


_FLATTEN = "flattenTimestamp@"


def flatten_key(moment: datetime) -> str:
    """A flatten time fires once: its key in `fired` names the instant, and survives every period's end."""
    return _FLATTEN + moment.isoformat()


def cleared(fired: frozenset[str]) -> frozenset[str]:
    """`fired` after an admin cleared the account's restrictions: every rule re-arms (and fires again at the next
    evaluation if it is still breached), but a flatten time already acted on stays done."""
    return frozenset(rule for rule in fired if rule.startswith(_FLATTEN))


# --- marks: what an open position is worth, and the marks within which an account stays calm ---------------------


def mark_ticks(quote: Quote | None) -> float | None:
    """The price (in ticks) an open position is marked at: the last trade, else the bid/ask mid, else the one side
    shown; None without any of them (the position then adds no open P&L)."""
    if quote is None:
        return None
    if quote.last is not None:
        return float(quote.last)
    if quote.bid is not None and quote.ask is not None:
        return (quote.bid + quote.ask) / 2
    side = quote.bid if quote.bid is not None else quote.ask
    return None if side is None else float(side)


def open_pnl(net_pos: int, net_price: float, mark: float, tick_size: float, value_per_point: float) -> float:
    """Open P&L of a position of `net_pos` at average price `net_price` marked at `mark` ticks."""
    return (mark * tick_size - net_price) * net_pos * value_per_point


_CENT = 0.01  # net liq is compared in cents: a band stays a cent inside the calm one
_TICK_SLACK = 1e-6  # and a millionth of a tick inside, for floating error


def price_band(calm_low: float, calm_high: float, *, rest: float, net_pos: int, net_price: float,
               terms: tuple[float, float]) -> tuple[float, float]:
    """The marks (ticks) of an account's one open position within which its net liq stays strictly inside the calm
    band, `rest` (cash) unchanged: `low < mark < high` => evaluating again changes nothing. `terms`: the contract's
    (tick size, value per point)."""
    tick_size, value_per_point = terms
    slope = net_pos * value_per_point * tick_size  # net liq per tick
    if slope == 0:
        return (-math.inf, math.inf) if calm_low + _CENT < rest < calm_high - _CENT else (0.0, 0.0)
    base = rest - net_pos * value_per_point * net_price  # net liq = base + slope * mark
    first, second = (calm_low + _CENT - base) / slope, (calm_high - _CENT - base) / slope
    low, high = (first, second) if slope > 0 else (second, first)
    return low + _TICK_SLACK, high - _TICK_SLACK
