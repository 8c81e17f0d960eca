"""Margin arithmetic (core/margins.py) against an independent model: every way the working orders could fill,
enumerated, and amounts in whole cents."""

from datetime import UTC, datetime
from itertools import product

from hypothesis import given
from hypothesis import strategies as st

from tradovate_sim.core import margins
from tradovate_sim.core.risk import is_reducing
from tradovate_sim.core.view import Holding, Margin, MarginTerms
from tradovate_sim.model.enums import OrderAction
from tradovate_sim.model.ids import AccountId

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
ES = MarginTerms(initial=500.0, maintenance=500.0, full_initial=24_750.0)

terms = st.builds(lambda i, m, f: MarginTerms(initial=i / 100, maintenance=min(i, m) / 100,
                                              full_initial=max(i, f) / 100),
                  st.integers(0, 3_000_000), st.integers(0, 3_000_000), st.integers(0, 3_000_000))
holding_lists = st.lists(st.builds(Holding, contract_id=st.integers(1, 5), net_pos=st.integers(-6, 6), terms=terms,
                                   working_buys=st.integers(0, 4), working_sells=st.integers(0, 4)),
                         max_size=4, unique_by=lambda h: h.contract_id)
actions = st.sampled_from([OrderAction.Buy, OrderAction.Sell])


def worst_cents(holding: Holding, *, full: bool = False) -> int:
    """The model: the largest margin (in cents) of any position the working orders could leave, filling any part
    of the buys and any part of the sells."""
    per_contract = round((holding.terms.full_initial if full else holding.terms.initial) * 100)
    reachable = (abs(holding.net_pos + bought - sold)
                 for bought, sold in product(range(holding.working_buys + 1), range(holding.working_sells + 1)))
    return max(reachable) * per_contract


def cents(amount: float) -> int:
    return round(amount * 100)


@given(holding_lists)
def test_required_margin_is_the_worst_position_the_working_orders_could_leave(holdings: list[Holding]) -> None:
    assert cents(margins.required(holdings)) == sum(worst_cents(h) for h in holdings)
    assert cents(margins.required(holdings, full=True)) == sum(worst_cents(h, full=True) for h in holdings)


@given(others=holding_lists, own_terms=terms, action=actions, qty=st.integers(1, 5), net_pos=st.integers(-6, 6),
       buys=st.integers(0, 3), sells=st.integers(0, 3), cash_cents=st.integers(-5_000_000, 10_000_000),
       pnl_cents=st.integers(-1_000_000, 1_000_000))
def test_an_order_is_refused_exactly_when_it_needs_more_than_the_available_funds(
        *, others: list[Holding], own_terms: MarginTerms, action: OrderAction, qty: int, net_pos: int, buys: int,
        sells: int, cash_cents: int, pnl_cents: int) -> None:
    # Arrange
    others = [h for h in others if h.contract_id != 9]
    margin = Margin(cash=cash_cents / 100, open_pnl=pnl_cents / 100, terms=own_terms, holdings=tuple(others))
    own = Holding(contract_id=9, net_pos=net_pos, terms=own_terms, working_buys=buys, working_sells=sells)
    with_order = Holding(contract_id=9, net_pos=net_pos, terms=own_terms,
                         working_buys=buys + (qty if action is OrderAction.Buy else 0),
                         working_sells=sells + (qty if action is OrderAction.Sell else 0))
    before = sum(worst_cents(h) for h in others) + worst_cents(own)
    after = sum(worst_cents(h) for h in others) + worst_cents(with_order)
    available = cash_cents + pnl_cents - before
    # Act
    refusal = margins.check(margin, 9, action, qty, net_pos=net_pos, working_buys=buys, working_sells=sells)
    # Assert
    should_refuse = not is_reducing(net_pos, action, qty) and after - before > max(available, 0) and after > before
    assert (refusal is not None) == should_refuse
    if refusal is None and not is_reducing(net_pos, action, qty):  # accepted: every way it fills is covered
        assert after <= max(cash_cents + pnl_cents, before)


def test_a_cent_decides_both_ways() -> None:
    assert margins.check(Margin(cash=500.0, open_pnl=0.0, terms=ES), 1, OrderAction.Buy, 1, net_pos=0,
                         working_buys=0, working_sells=0) is None
    refusal = margins.check(Margin(cash=499.99, open_pnl=0.0, terms=ES), 1, OrderAction.Buy, 1, net_pos=0,
                            working_buys=0, working_sells=0)
    assert refusal is not None and refusal.reason is margins.REFUSAL


def test_a_reducing_order_passes_whatever_the_funds() -> None:
    broke = Margin(cash=-10_000.0, open_pnl=0.0, terms=ES, holdings=(Holding(contract_id=1, net_pos=3, terms=ES),))
    assert margins.check(broke, 1, OrderAction.Sell, 3, net_pos=3, working_buys=0, working_sells=0) is None
    # a flip to short 1 needs less than the long 3 held; a flip to short 4 needs more
    assert margins.check(broke, 1, OrderAction.Sell, 4, net_pos=3, working_buys=0, working_sells=0) is None
    assert margins.check(broke, 1, OrderAction.Sell, 7, net_pos=3, working_buys=0, working_sells=0) is not None


@given(holding_lists)
def test_the_snapshot_counts_open_positions_only(holdings: list[Holding]) -> None:
    snapshot = margins.snapshot(AccountId(7), holdings, NOW)
    lots = [(h.terms, abs(h.net_pos)) for h in holdings]
    assert cents(snapshot.initial_margin) == sum(round(t.initial * 100) * n for t, n in lots)
    assert cents(snapshot.maintenance_margin) == sum(round(t.maintenance * 100) * n for t, n in lots)
    assert cents(snapshot.full_initial_margin) == sum(round(t.full_initial * 100) * n for t, n in lots)
    assert snapshot.initial_margin == snapshot.position_margin == snapshot.total_used_margin
    assert snapshot.initial_margin == margins.position_margin(holdings)


@given(holding_lists, st.lists(st.tuples(st.integers(1, 5), actions, st.integers(1, 4)), min_size=1, max_size=4))
def test_dry_run_details_add_the_orders_to_the_working_ones(holdings: list[Holding],
                                                            orders: list[tuple[int, OrderAction, int]]) -> None:
    asks = [margins.Ask(contract_id=c, terms=ES, action=a, qty=q) for c, a, q in orders]
    details = margins.evaluate(holdings, asks, cash=1_000.0, open_pnl=-25.5, fees=3.0)
    after = margins.with_orders(holdings, asks)
    assert cents(details.before_initial_margin_req) == sum(worst_cents(h) for h in holdings)
    assert cents(details.initial_margin_req) == sum(worst_cents(h) for h in after)
    assert details.net_liq_value == 974.5
    assert details.excess == round(974.5 - details.initial_margin_req, 2)
