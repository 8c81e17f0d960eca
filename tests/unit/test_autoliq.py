"""Post-trade rule arithmetic (core/autoliq.py) against an independent model, plus the thresholds both ways."""

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from tradovate_sim.core.autoliq import Breach, Effect, Mark, Span, cleared, evaluate, flatten_key
from tradovate_sim.model.entities import PostTradeRisk
from tradovate_sim.model.enums import TrailingMaxDrawdownMode

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def mark(net_liq: float, *, day_base: float = 100_000.0, week_base: float = 100_000.0, now: datetime = NOW,
         margin_used: float = 0.0, high_water: float | None = None, low_water: float | None = None,
         fired: frozenset[str] = frozenset()) -> Mark:
    return Mark(net_liq=net_liq, day_base=day_base, week_base=week_base, now=now, margin_used=margin_used,
                high_water=high_water, low_water=low_water, fired=fired)


def rules_of(breaches: tuple[Breach, ...]) -> set[str]:
    return {b.rule for b in breaches}


# --- thresholds, both directions --------------------------------------------------------------------------------

def test_daily_loss_fires_at_the_level_and_not_a_cent_before() -> None:
    rules = PostTradeRisk(daily_loss_auto_liq=100.0)
    assert evaluate(rules, mark(99_900.01)).breaches == ()
    breach, = evaluate(rules, mark(99_900.0)).breaches
    assert (breach.rule, breach.effect, breach.span, breach.level) == ("dailyLossAutoLiq", Effect.AutoLiquidate,
                                                                       Span.Day, 99_900.0)


def test_daily_loss_percentage_is_of_the_day_base() -> None:
    rules = PostTradeRisk(daily_loss_percentage_auto_liq=2.0)
    assert evaluate(rules, mark(49_000.01, day_base=50_000.0)).breaches == ()
    assert rules_of(evaluate(rules, mark(49_000.0, day_base=50_000.0)).breaches) == {"dailyLossPercentageAutoLiq"}


def test_weekly_loss_uses_the_week_base() -> None:
    rules = PostTradeRisk(weekly_loss_auto_liq=500.0)
    assert evaluate(rules, mark(99_600.0, day_base=99_000.0, week_base=100_099.99)).breaches == ()
    assert rules_of(evaluate(rules, mark(99_600.0, week_base=100_101.0)).breaches) == {"weeklyLossAutoLiq"}


def test_profit_rules_fire_on_the_way_up() -> None:
    rules = PostTradeRisk(daily_profit_auto_liq=1_000.0, weekly_profit_auto_liq=3_000.0)
    assert evaluate(rules, mark(100_999.99)).breaches == ()
    assert rules_of(evaluate(rules, mark(101_000.0)).breaches) == {"dailyProfitAutoLiq"}
    assert rules_of(evaluate(rules, mark(103_000.0)).breaches) == {"dailyProfitAutoLiq", "weeklyProfitAutoLiq"}


def test_alert_and_liquidation_only_variants_have_their_effects() -> None:
    rules = PostTradeRisk(daily_loss_alert=50.0, daily_loss_liq_only=80.0, daily_loss_auto_liq=100.0)
    verdict = evaluate(rules, mark(99_920.0))
    assert {(b.rule, b.effect) for b in verdict.breaches} == {("dailyLossAlert", Effect.Alert),
                                                              ("dailyLossLiqOnly", Effect.LiquidationOnly)}
    assert (verdict.auto_liq_level, verdict.liq_only_level) == (99_900.0, 99_920.0)


def test_margin_percentage_compares_margin_used_with_net_liq() -> None:
    rules = PostTradeRisk(margin_percentage_auto_liq=50.0)
    assert evaluate(rules, mark(10_000.0, margin_used=4_999.0)).breaches == ()
    assert rules_of(evaluate(rules, mark(10_000.0, margin_used=5_000.0)).breaches) == {"marginPercentageAutoLiq"}
    assert rules_of(evaluate(rules, mark(-1.0, margin_used=1.0)).breaches) == {"marginPercentageAutoLiq"}
    assert evaluate(rules, mark(-1.0, margin_used=0.0)).breaches == ()


def test_trailing_drawdown_example_from_the_issue() -> None:
    rules = PostTradeRisk(trailing_max_drawdown=5_000.0, trailing_max_drawdown_limit=100_100.0,
                          trailing_max_drawdown_mode=TrailingMaxDrawdownMode.RealTime)
    assert evaluate(rules, mark(100_000.0)).trailing_level == 95_000.0
    assert evaluate(rules, mark(104_000.0, high_water=100_000.0)).trailing_level == 99_000.0
    assert evaluate(rules, mark(105_100.0, high_water=104_000.0)).trailing_level == 100_100.0
    assert evaluate(rules, mark(110_000.0, high_water=105_100.0)).trailing_level == 100_100.0
    assert evaluate(rules, mark(100_100.01, high_water=110_000.0)).breaches == ()
    breach, = evaluate(rules, mark(100_100.0, high_water=110_000.0)).breaches
    assert (breach.rule, breach.span) == ("trailingMaxDrawdown", Span.UntilCleared)


def test_eod_trailing_raises_the_high_water_only_at_the_close() -> None:
    rules = PostTradeRisk(trailing_max_drawdown=1_000.0, trailing_max_drawdown_mode=TrailingMaxDrawdownMode.EOD)
    intraday = evaluate(rules, mark(102_000.0, high_water=100_000.0))
    assert (intraday.high_water, intraday.trailing_level) == (100_000.0, 99_000.0)
    closing = evaluate(rules, mark(102_000.0, high_water=100_000.0), close=True)
    assert (closing.high_water, closing.trailing_level) == (102_000.0, 101_000.0)


def test_flatten_time_fires_once_and_survives_an_admin_clearing() -> None:
    at = NOW + timedelta(minutes=5)
    rules = PostTradeRisk(flatten_timestamp=at)
    assert evaluate(rules, mark(100_000.0)).breaches == ()
    first = evaluate(rules, mark(100_000.0, now=at))
    assert [b.effect for b in first.breaches] == [Effect.Flatten]
    again = evaluate(rules, mark(100_000.0, now=at + timedelta(hours=30), fired=cleared(first.fired)))
    assert again.breaches == ()
    later = PostTradeRisk(flatten_timestamp=at + timedelta(days=1))
    assert [b.rule for b in evaluate(later, mark(100_000.0, now=at + timedelta(days=1), fired=again.fired))
            .breaches] == [flatten_key(at + timedelta(days=1))]


def test_a_rule_off_never_fires() -> None:
    assert evaluate(PostTradeRisk(), mark(-1_000_000.0, margin_used=1e9)).breaches == ()


# --- properties against an independent model ---------------------------------------------------------------------

money = st.integers(min_value=-20_000_000, max_value=20_000_000).map(lambda c: c / 100)
events = st.lists(st.tuples(money, st.booleans()), min_size=1, max_size=40)  # (net liq, is this mark a close)


@given(events, st.integers(1, 1_000_000).map(lambda c: c / 100), st.sampled_from(TrailingMaxDrawdownMode),
       st.one_of(st.none(), money))
def test_trailing_level_never_falls_and_fires_exactly_when_the_model_says(
        marks: list[tuple[float, bool]], drawdown: float, mode: TrailingMaxDrawdownMode, limit: float | None) -> None:
    rules = PostTradeRisk(trailing_max_drawdown=drawdown, trailing_max_drawdown_mode=mode,
                          trailing_max_drawdown_limit=limit)
    high: float | None = None
    fired: frozenset[str] = frozenset()
    model_high: float | None = None
    previous_level: float | None = None
    model_breached = False
    for net_liq, close in marks:
        verdict = evaluate(rules, mark(net_liq, high_water=high, fired=fired), close=close)
        # independent model
        model_high = net_liq if model_high is None else model_high
        if mode is TrailingMaxDrawdownMode.RealTime or close:
            model_high = max(model_high, net_liq)
        level = round(model_high - drawdown if limit is None else min(model_high - drawdown, limit), 2)
        breached = net_liq <= level
        assert verdict.trailing_level == level
        assert verdict.high_water == model_high
        assert previous_level is None or level >= previous_level
        assert ("trailingMaxDrawdown" in rules_of(verdict.breaches)) == (breached and not model_breached)
        previous_level, model_breached = level, breached
        high, fired = verdict.high_water, verdict.fired


@given(st.lists(money, min_size=1, max_size=40), st.integers(1, 1_000_000).map(lambda c: c / 100))
def test_daily_loss_fires_once_per_breach(net_liqs: list[float], amount: float) -> None:
    rules = PostTradeRisk(daily_loss_auto_liq=amount)
    fired: frozenset[str] = frozenset()
    was_breached = False
    for net_liq in net_liqs:
        verdict = evaluate(rules, mark(net_liq, fired=fired))
        breached = net_liq <= round(100_000.0 - amount, 2)
        new = rules_of(verdict.breaches) == {"dailyLossAutoLiq"}
        assert new == (breached and not was_breached)
        was_breached, fired = breached, verdict.fired


@given(money, money)
def test_low_water_is_the_minimum_seen(first: float, second: float) -> None:
    rules = PostTradeRisk()
    one = evaluate(rules, mark(first))
    two = evaluate(rules, mark(second, high_water=one.high_water, low_water=one.low_water))
    assert two.low_water == min(first, second)
    assert two.high_water == max(first, second)


amounts = st.one_of(st.none(), st.integers(1, 5_000_000).map(lambda c: c / 100))
percents = st.one_of(st.none(), st.integers(1, 10_000).map(lambda c: c / 100))
rule_sets = st.builds(
    PostTradeRisk, daily_loss_alert=amounts, daily_loss_liq_only=amounts, daily_loss_auto_liq=amounts,
    daily_loss_percentage_auto_liq=percents, weekly_loss_auto_liq=amounts, daily_profit_auto_liq=amounts,
    weekly_profit_auto_liq=amounts, trailing_max_drawdown=amounts, trailing_max_drawdown_limit=amounts,
    trailing_max_drawdown_mode=st.sampled_from(TrailingMaxDrawdownMode), margin_percentage_auto_liq=percents,
    margin_percentage_alert=percents)


offsets = st.integers(0, 500_000).map(lambda c: c / 100)
near_base = st.integers(-500_000, 500_000).map(lambda c: 100_000 + c / 100)


@example(rules=PostTradeRisk(weekly_loss_auto_liq=0.01, trailing_max_drawdown_mode=TrailingMaxDrawdownMode.EOD),
         first=99_999.99, water=(0.0, 0.0), move=0.01, margin=0.0)  # leaving a breach re-arms: not calm
@given(rule_sets, near_base, st.tuples(offsets, offsets), st.integers(-500_000, 500_000).map(lambda c: c / 100),
       st.integers(0, 1_000_000).map(lambda c: c / 100))
def test_inside_the_calm_band_evaluating_again_changes_nothing(rules: PostTradeRisk, first: float,
                                                                water: tuple[float, float], move: float,
                                                                margin: float) -> None:
    up, down = water
    verdict = evaluate(rules, mark(first, margin_used=margin, high_water=first + up, low_water=first - down))
    second = round(first + move, 2)
    if not verdict.calm_low < second < verdict.calm_high:
        return
    again = evaluate(rules, mark(second, margin_used=margin, high_water=verdict.high_water,
                                 low_water=verdict.low_water, fired=verdict.fired))
    assert again.breaches == ()
    assert again.fired == verdict.fired
    assert (again.high_water, again.low_water) == (verdict.high_water, verdict.low_water)


# --- the per-quote fast path: a price band never calls calm a mark that is not -----------------------------------

@given(st.integers(-2_000_000, 2_000_000).map(lambda c: c / 100), st.integers(0, 2_000_000).map(lambda c: c / 100),
       st.integers(40_000_00, 60_000_00).map(lambda c: c / 100), st.integers(-20, 20).filter(bool),
       st.integers(20_000, 30_000), st.integers(20_000, 30_000), st.sampled_from([(0.25, 50.0), (0.25, 5.0)]))
def test_a_mark_inside_the_price_band_keeps_net_liq_inside_the_calm_band(  # noqa: PLR0917
        low_offset: float, width: float, cash: float, net_pos: int, entry_ticks: int, mark_ticks_: int,
        terms: tuple[float, float]) -> None:
    from tradovate_sim.core.autoliq import cents, open_pnl, price_band
    calm_low = cash + low_offset
    calm_high = calm_low + width
    tick, point = terms
    net_price = entry_ticks * tick
    low, high = price_band(calm_low, calm_high, rest=cash, net_pos=net_pos, net_price=net_price, terms=terms)
    if low < mark_ticks_ < high:
        net_liq = cents(cash + open_pnl(net_pos, net_price, mark_ticks_, tick, point))
        assert calm_low < net_liq < calm_high
