"""Applying fills to a position: netPos, netPrice, bought/sold, FIFO fill pairs and realized ticks.

The property tests replay random fill sequences through `apply_fill` and through a deliberately plain FIFO model
written here, and compare the two after every fill.
"""

from dataclasses import dataclass

import pytest
from builders import NOW, TRADE_DATE, make_fill, make_position
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim.core.positions import FillOutcome, apply_fill, empty_position, to_price_avg
from tradovate_sim.core.ticks import to_price, to_ticks
from tradovate_sim.model.entities import Fill, Position
from tradovate_sim.model.enums import OrderAction

BUY, SELL = OrderAction.Buy, OrderAction.Sell
GRIDS = (0.25, 0.01, 0.1, 1.0, 0.00005)


def flat() -> Position:
    return empty_position(7, 1, 4, NOW, TRADE_DATE)


def replay(fills: list[Fill], tick_size: float = 0.25) -> tuple[Position, tuple[Fill, ...], list[FillOutcome]]:
    position, open_fills, outcomes = flat(), (), []
    for fill in fills:
        outcome = apply_fill(position, open_fills, fill, tick_size, TRADE_DATE)
        position, open_fills = outcome.position, outcome.open_fills
        outcomes.append(outcome)
    return position, open_fills, outcomes


# --- examples -------------------------------------------------------------------------------------


def test_position_opens_long_when_flat_and_buying() -> None:
    position, open_fills, [outcome] = replay([make_fill(1, BUY, 3, 6789.25)])
    assert (position.net_pos, position.net_price, position.bought, position.bought_value) == (3, 6789.25, 3, 20367.75)
    assert (position.sold, position.sold_value) == (0, 0.0)
    assert [(f.id, f.finally_paired) for f in open_fills] == [(1, 0)]
    assert outcome.pairings == ()
    assert outcome.realized_ticks == 0
    assert [f.id for f in outcome.paired_fills] == [1]


def test_net_price_is_the_average_of_open_lots_when_adding_to_a_long() -> None:
    position, _, _ = replay([make_fill(1, BUY, 1, 6789.0), make_fill(2, BUY, 3, 6790.0)])
    assert position.net_pos == 4
    assert position.net_price == pytest.approx(6789.75)


def test_net_price_is_not_rounded_to_the_grid_when_the_average_is_between_ticks() -> None:
    position, _, _ = replay([make_fill(1, BUY, 1, 6789.0), make_fill(2, BUY, 2, 6789.25)])
    assert position.net_price == pytest.approx(6789.1666666667)


def test_oldest_lot_pairs_first_when_partly_closing() -> None:
    position, open_fills, outcomes = replay([
        make_fill(1, BUY, 2, 6789.0), make_fill(2, BUY, 2, 6791.0), make_fill(3, SELL, 3, 6792.0),
    ])
    closing = outcomes[-1]
    assert [(p.buy_fill_id, p.sell_fill_id, p.qty, p.buy_price, p.sell_price) for p in closing.pairings] == [
        (1, 3, 2, 6789.0, 6792.0), (2, 3, 1, 6791.0, 6792.0)]
    assert closing.realized_ticks == 2 * 12 + 1 * 4
    assert position.net_pos == 1
    assert position.net_price == 6791.0
    assert [(f.id, f.finally_paired) for f in open_fills] == [(2, 1)]
    assert {f.id: f.finally_paired for f in closing.paired_fills} == {1: 2, 2: 1, 3: 3}


def test_position_flips_to_the_remainder_of_the_fill_when_selling_more_than_held() -> None:
    position, open_fills, outcomes = replay([make_fill(1, BUY, 2, 6789.0), make_fill(2, SELL, 5, 6788.0)])
    assert position.net_pos == -3
    assert position.net_price == 6788.0
    assert [(f.id, f.qty, f.finally_paired) for f in open_fills] == [(2, 5, 2)]
    assert outcomes[-1].realized_ticks == -8


def test_net_price_is_absent_when_the_position_closes_flat() -> None:
    position, open_fills, outcomes = replay([make_fill(1, SELL, 2, 6789.0), make_fill(2, BUY, 2, 6788.5)])
    assert position.net_pos == 0
    assert position.net_price is None
    assert open_fills == ()
    assert outcomes[-1].realized_ticks == 4  # sold 2 ticks above the buy, 2 contracts
    assert (position.bought, position.sold) == (2, 2)


def test_apply_fill_raises_when_the_fill_price_is_off_the_grid() -> None:
    with pytest.raises(ValueError, match=r"off the 0\.25 grid"):
        apply_fill(flat(), (), make_fill(1, BUY, 1, 6789.1), 0.25, TRADE_DATE)


def test_apply_fill_keeps_the_position_identity_when_updating() -> None:
    start = make_position(2, 6789.0)
    outcome = apply_fill(start, (make_fill(1, BUY, 2, 6789.0),), make_fill(2, BUY, 1, 6790.0), 0.25, TRADE_DATE)
    assert (outcome.position.id, outcome.position.account_id, outcome.position.contract_id) == (7, 1, 4)
    assert outcome.position.prev_pos == 0


@pytest.mark.parametrize(("total", "qty", "tick_size", "expected"), [
    (0, 0, 0.25, None), (27_157 * 2, 2, 0.25, 6789.25), (7_237 * 3 + 1, 3, 0.01, 72.3733333333),
    (-3_763, 1, 0.01, -37.63),
])
def test_to_price_avg_answers_the_average_when_given_total_ticks(total: int, qty: int, tick_size: float,
                                                                 expected: float | None) -> None:
    assert to_price_avg(total, qty, tick_size) == (expected if expected is None else pytest.approx(expected))


# --- properties against a plain FIFO model --------------------------------------------------------


@dataclass
class Lot:
    fill_id: int
    action: OrderAction
    qty: int
    ticks: int


@dataclass
class FifoModel:
    """The simplest FIFO book: a queue of open lots, all on one side."""

    lots: list[Lot]
    realized_ticks: int = 0

    def apply(self, fill_id: int, action: OrderAction, qty: int, ticks: int) -> list[tuple[int, int, int]]:
        pairs = []
        while qty and self.lots and self.lots[0].action is not action:
            lot = self.lots[0]
            matched = min(lot.qty, qty)
            buy, sell = (lot, None) if action is SELL else (None, lot)
            buy_ticks = buy.ticks if buy else ticks
            sell_ticks = sell.ticks if sell else ticks
            self.realized_ticks += (sell_ticks - buy_ticks) * matched
            pairs.append((buy.fill_id if buy else fill_id, sell.fill_id if sell else fill_id, matched))
            lot.qty -= matched
            qty -= matched
            if lot.qty == 0:
                self.lots.pop(0)
        if qty:
            self.lots.append(Lot(fill_id, action, qty, ticks))
        return pairs

    @property
    def net_pos(self) -> int:
        return sum(lot.qty if lot.action is BUY else -lot.qty for lot in self.lots)


fill_specs = st.lists(
    st.tuples(st.sampled_from([BUY, SELL]), st.integers(min_value=1, max_value=20),
              st.integers(min_value=-40, max_value=40)),
    min_size=1, max_size=40,
)
PROPERTY = settings(max_examples=150, deadline=None)


def fills_from(specs: list[tuple[OrderAction, int, int]], tick_size: float, base: int) -> list[Fill]:
    return [make_fill(i + 1, action, qty, to_price(base + offset, tick_size))
            for i, (action, qty, offset) in enumerate(specs)]


@given(specs=fill_specs, tick_size=st.sampled_from(GRIDS), base=st.integers(min_value=1, max_value=30_000))
@PROPERTY
def test_position_matches_a_plain_fifo_model_when_replaying_any_fill_sequence(
        specs: list[tuple[OrderAction, int, int]], tick_size: float, base: int) -> None:
    fills = fills_from(specs, tick_size, base)
    model = FifoModel(lots=[])
    position, open_fills = flat(), ()
    kinds = {f.id: f.action for f in fills}
    paired_so_far: dict[int, int] = {}
    latest: dict[int, Fill] = {}
    for fill in fills:
        ticks = to_ticks(fill.price, tick_size)
        assert ticks is not None
        realized_before = model.realized_ticks
        expected_pairs = model.apply(fill.id, fill.action, fill.qty, ticks)

        outcome = apply_fill(position, open_fills, fill, tick_size, TRADE_DATE)
        position, open_fills = outcome.position, outcome.open_fills

        assert [(p.buy_fill_id, p.sell_fill_id, p.qty) for p in outcome.pairings] == expected_pairs
        assert outcome.realized_ticks == model.realized_ticks - realized_before
        for pairing in outcome.pairings:  # never a pair of same-side fills
            assert kinds[pairing.buy_fill_id] is BUY
            assert kinds[pairing.sell_fill_id] is SELL
            assert pairing.qty > 0
            paired_so_far[pairing.buy_fill_id] = paired_so_far.get(pairing.buy_fill_id, 0) + pairing.qty
            paired_so_far[pairing.sell_fill_id] = paired_so_far.get(pairing.sell_fill_id, 0) + pairing.qty
        latest.update({f.id: f for f in outcome.paired_fills})
        assert fill.id in {f.id for f in outcome.paired_fills}
        assert all(latest[i].finally_paired == q for i, q in paired_so_far.items())
        assert position.net_pos == model.net_pos
        assert [(f.id, f.qty - f.finally_paired) for f in open_fills] == [(lot.fill_id, lot.qty) for lot in model.lots]
        assert sum(f.qty - f.finally_paired for f in open_fills) == abs(position.net_pos)
        assert len({f.action for f in open_fills}) <= 1


@given(specs=fill_specs, tick_size=st.sampled_from(GRIDS), base=st.integers(min_value=1, max_value=30_000))
@PROPERTY
def test_net_pos_and_totals_add_up_when_replaying_any_fill_sequence(
        specs: list[tuple[OrderAction, int, int]], tick_size: float, base: int) -> None:
    fills = fills_from(specs, tick_size, base)

    position, open_fills, _ = replay(fills, tick_size)

    buys = [f for f in fills if f.action is BUY]
    sells = [f for f in fills if f.action is SELL]
    assert position.net_pos == sum(f.qty for f in buys) - sum(f.qty for f in sells)
    assert position.bought == sum(f.qty for f in buys)
    assert position.sold == sum(f.qty for f in sells)
    assert position.bought_value == pytest.approx(sum(f.qty * f.price for f in buys), rel=1e-12, abs=1e-9)
    assert position.sold_value == pytest.approx(sum(f.qty * f.price for f in sells), rel=1e-12, abs=1e-9)
    assert sum(f.qty - f.finally_paired for f in open_fills) == abs(position.net_pos)


@given(specs=fill_specs, tick_size=st.sampled_from(GRIDS), base=st.integers(min_value=1, max_value=30_000))
@PROPERTY
def test_realized_ticks_are_additive_when_replaying_any_fill_sequence(
        specs: list[tuple[OrderAction, int, int]], tick_size: float, base: int) -> None:
    fills = fills_from(specs, tick_size, base)
    model = FifoModel(lots=[])
    for fill in fills:
        model.apply(fill.id, fill.action, fill.qty, base + specs[fill.id - 1][2])

    _, open_fills, outcomes = replay(fills, tick_size)

    ticks_of = {f.id: base + specs[f.id - 1][2] for f in fills}
    per_pair = sum((ticks_of[p.sell_fill_id] - ticks_of[p.buy_fill_id]) * p.qty for o in outcomes for p in o.pairings)
    per_fill = sum(o.realized_ticks for o in outcomes)
    assert per_pair == per_fill == model.realized_ticks
    # Independently of pairing order: realized = cash flow of all fills + the value of what is still held.
    flow = sum(ticks_of[f.id] * (f.qty if f.action is SELL else -f.qty) for f in fills)
    held = sum(ticks_of[f.id] * (f.qty - f.finally_paired) * (1 if f.action is BUY else -1) for f in open_fills)
    assert per_fill == flow + held


@given(specs=fill_specs, tick_size=st.sampled_from(GRIDS), base=st.integers(min_value=1, max_value=30_000))
@PROPERTY
def test_net_price_is_the_average_of_open_lots_when_replaying_any_fill_sequence(
        specs: list[tuple[OrderAction, int, int]], tick_size: float, base: int) -> None:
    fills = fills_from(specs, tick_size, base)
    model = FifoModel(lots=[])
    position, open_fills = flat(), ()
    for fill, (_, _, offset) in zip(fills, specs, strict=True):
        model.apply(fill.id, fill.action, fill.qty, base + offset)
        outcome = apply_fill(position, open_fills, fill, tick_size, TRADE_DATE)
        position, open_fills = outcome.position, outcome.open_fills

        if not model.lots:
            assert position.net_price is None
        else:
            qty = sum(lot.qty for lot in model.lots)
            average = sum(lot.qty * lot.ticks for lot in model.lots) * tick_size / qty
            assert position.net_price == pytest.approx(average, rel=1e-12, abs=tick_size * 1e-6)
