"""Request-limit arithmetic (core/limits.py): rolling windows, tiers, penalty tickets — times given, no clock."""

from bisect import bisect_left

from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core.limits import SLOTS, Counter, Limiter, PenaltyBox, Tier, problem
from tradovate_sim.model.simulator import EndpointRule, LimitsConfig, Window

SECRET = b"s" * 32
LOGIN = EndpointRule(limit=5, seconds=3600.0, backoff_seconds=15, counts_successes=False)


def make_box(rule: EndpointRule = LOGIN, **config: int) -> PenaltyBox:
    return PenaltyBox(rule, LimitsConfig(**config), SECRET, "auth/accesstokenrequest")  # type: ignore[arg-type]


def fail(box: PenaltyBox, times: int, now_ms: int, keys: tuple[str, ...] = ("127.0.0",)) -> None:
    for _ in range(times):
        assert not box.penalized(keys, now_ms)
        box.record(keys, True, now_ms)


# --- windows and tiers ----------------------------------------------------------------------------------------------


def test_tier_refuses_the_request_past_the_limit_when_inside_the_window() -> None:
    tier = Tier([Window(limit=3, seconds=1.0)])
    assert [tier.admit(7, 1_000 + i) for i in range(5)] == [True, True, True, False, False]


def test_tier_admits_again_when_the_window_has_passed_plus_one_bucket() -> None:
    tier = Tier([Window(limit=2, seconds=1.0)])
    assert tier.admit(7, 10_000) and tier.admit(7, 10_000)
    assert not tier.admit(7, 10_999)  # inside the window
    assert tier.admit(7, 10_000 + 1_000 + 1_000 // SLOTS)


def test_tier_counts_each_key_apart() -> None:
    tier = Tier([Window(limit=1, seconds=60.0)])
    assert tier.admit(1, 0) and tier.admit(2, 0)
    assert not tier.admit(1, 1)


def test_tier_does_not_count_a_refused_request_when_one_window_is_full() -> None:
    tier = Tier([Window(limit=10, seconds=60.0), Window(limit=2, seconds=1.0)])
    assert tier.admit(1, 0) and tier.admit(1, 0)
    assert not tier.admit(1, 10)  # the second window refuses: the first does not count it
    counter = tier.counters[1][0]
    assert counter.count(10) == 2


def test_counter_forgets_everything_when_idle_longer_than_the_ring() -> None:
    counter = Counter(5, 1_000)
    counter.count(0)
    counter.add()
    assert counter.count(10_000_000) == 0


def test_zero_limit_refuses_everything() -> None:
    assert not Tier([Window(limit=0, seconds=1.0)]).admit(1, 0)


@settings(max_examples=300, deadline=None)
@given(
    limit=st.integers(min_value=0, max_value=8),
    window=st.integers(min_value=1, max_value=3_000),
    gaps=st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=120),
)
def test_never_more_than_the_limit_admitted_in_any_window(limit: int, window: int, gaps: list[int]) -> None:
    """Against an independent model: the sorted times of the admitted requests; any `limit + 1` of them in a row
    must span more than the window (so no closed interval of the window's length holds more than `limit`)."""
    tier = Tier([Window(limit=limit, seconds=window / 1000)])
    now, admitted = 5_000, []
    for gap in gaps:
        now += gap
        if tier.admit("k", now):
            admitted.append(now)
    for first, last in zip(admitted, admitted[limit:], strict=False):
        assert last - first > window, (admitted, limit, window)
    # and it is not stingier than a precise sliding window by more than one bucket
    precise = [t for t in admitted if t > now - window]
    assert len(precise) <= limit
    bucket = -(-window // SLOTS)
    if len([t for t in admitted if t > now - window - 2 * bucket]) < limit:
        assert tier.admit("k", now)


@settings(max_examples=200, deadline=None)
@given(limit=st.integers(min_value=1, max_value=6), gaps=st.lists(st.integers(min_value=0, max_value=400),
                                                                 min_size=1, max_size=80))
def test_a_request_is_refused_only_when_the_widened_window_is_full(limit: int, gaps: list[int]) -> None:
    """A refusal is justified: the window widened by its bucket holds `limit` admitted requests already."""
    window = 1_000
    bucket = -(-window // SLOTS)
    tier = Tier([Window(limit=limit, seconds=1.0)])
    now, admitted = 0, []
    for gap in gaps:
        now += gap
        if tier.admit("k", now):
            admitted.append(now)
        else:
            recent = len(admitted) - bisect_left(admitted, now - window - 2 * bucket)
            assert recent >= limit


# --- penalty tickets ------------------------------------------------------------------------------------------------


def test_penalty_starts_past_the_limit_of_failures() -> None:
    box = make_box()
    fail(box, 5, 0)
    assert box.penalized(("127.0.0",), 1)


def test_successes_do_not_count_when_the_rule_counts_failures_only() -> None:
    box = make_box()
    for _ in range(20):
        box.record(("127.0.0",), False, 0)
    assert not box.penalized(("127.0.0",), 1)


def test_ticket_is_issued_with_the_backoff_and_redeemed_once_after_it() -> None:
    box = make_box()
    fail(box, 5, 0)
    issued = box.answer(box.penalized(("127.0.0",), 1_000), None, 1_000)
    assert issued is not None and issued.wait_seconds == 15 and not issued.captcha
    early = box.answer(box.penalized(("127.0.0",), 5_000), issued.ticket, 5_000)
    assert early is not None and early.ticket == issued.ticket and early.wait_seconds == 11
    assert box.answer(box.penalized(("127.0.0",), 16_000), issued.ticket, 16_000) is None
    again = box.answer(box.penalized(("127.0.0",), 16_001), issued.ticket, 16_001)  # used: a new violation
    assert again is not None and again.ticket != issued.ticket


def test_each_violation_doubles_the_wait_up_to_the_captcha() -> None:
    box = make_box(penalty_max_seconds=100, captcha_after=4)
    fail(box, 5, 0)
    waits = []
    for _ in range(6):
        issued = box.answer(box.penalized(("127.0.0",), 10), None, 10)
        assert issued is not None
        waits.append((issued.wait_seconds, issued.captcha))
    assert waits == [(15, False), (30, False), (60, False), (100, False), (100, True), (100, True)]


def test_wrong_or_stale_ticket_is_a_violation() -> None:
    box = make_box()
    fail(box, 5, 0)
    first = box.answer(box.penalized(("127.0.0",), 0), None, 0)
    second = box.answer(box.penalized(("127.0.0",), 0), "forged", 0)
    assert first is not None and second is not None and second.ticket != first.ticket
    stale = box.answer(box.penalized(("127.0.0",), 60_000), first.ticket, 60_000)
    assert stale is not None and stale.ticket != first.ticket


def test_penalty_by_user_name_holds_from_another_address() -> None:
    box = make_box()
    fail(box, 5, 0, ("10.0.0", "name:demo"))
    assert box.penalized(("10.0.1", "name:demo"), 1)
    assert not box.penalized(("10.0.1", "name:other"), 1)


def test_ticket_must_cover_every_penalized_key() -> None:
    box = make_box()
    fail(box, 5, 0, ("10.0.0", "name:a"))
    issued = box.answer(box.penalized(("10.0.0", "name:b"), 0), None, 0)  # only the address is penalized
    assert issued is not None
    later = box.answer(box.penalized(("10.0.0", "name:a"), 20_000), issued.ticket, 20_000)
    assert later is not None  # the name is penalized too and the ticket was not issued for it


def test_penalty_and_violations_end_when_the_failures_leave_the_window() -> None:
    box = make_box()
    fail(box, 5, 0)
    assert box.answer(box.penalized(("127.0.0",), 0), None, 0) is not None
    hour_and_bucket = 3_600_000 + 360_000
    assert not box.penalized(("127.0.0",), hour_and_bucket)
    fail(box, 5, hour_and_bucket)
    issued = box.answer(box.penalized(("127.0.0",), hour_and_bucket), None, hour_and_bucket)
    assert issued is not None and issued.wait_seconds == 15  # the doubling started afresh


def test_ticket_texts_differ_and_are_opaque() -> None:
    box = make_box()
    fail(box, 5, 0)
    texts = set()
    for _ in range(50):
        issued = box.answer(box.penalized(("127.0.0",), 0), None, 0)
        assert issued is not None
        texts.add(issued.ticket)
    assert len(texts) == 50 and all("auth" not in t for t in texts)


def test_limiter_has_a_box_per_rule_by_lower_cased_name() -> None:
    limiter = Limiter(LimitsConfig(), SECRET)
    assert "auth/accesstokenrequest" in limiter.boxes and "order/placeorder" not in limiter.boxes


def test_problem_names_the_field_of_a_bad_configuration() -> None:
    assert problem(LimitsConfig()) is None
    assert problem(LimitsConfig(user=(Window(limit=-1, seconds=1.0),))) is not None
    assert "captchaAfter" in (problem(LimitsConfig(captcha_after=0)) or "")
