"""Margin arithmetic: what an account's positions and orders require, and whether an order fits its funds.

Pure. The shell passes each contract's margins in force (`MarginTerms`: day-trade margins while the product's
session is open, the exchange's while it is closed) and the account's holdings; every amount is in the account
currency, kept to the cent.

Definitions (docs/behaviour.md, "Margins"):
- a position's margin is abs(netPos) x the contract's margin (initial, maintenance or full initial);
- a contract's exposure is the larger of the long position if every working buy filled and the short position if
  every working sell filled: max(|netPos + buys|, |netPos - sells|). Working orders reserve margin by it;
- margin required = sum over contracts of exposure x initial margin; available funds = net liquidation value
  (cash + open P&L) - margin required;
- an order is refused when it raises the margin required above the net liquidation value (it needs more than the
  available funds), unless it only reduces the position.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime

import msgspec

from tradovate_sim.core.risk import Refusal, is_reducing
from tradovate_sim.core.ticks import to_money
from tradovate_sim.core.view import Holding, Margin, MarginTerms, Value
from tradovate_sim.model.entities import MarginSnapshot
from tradovate_sim.model.enums import FailureReason, OrderAction
from tradovate_sim.model.ids import AccountId
from tradovate_sim.model.results import RiskEvaluationDetails

REFUSAL = FailureReason.OtherExecutionRelated  # Tradovate's enum has no margin reason; this one names no other check


class Ask(Value, frozen=True):
    """One order whose margin is asked about: its contract (with that contract's margins), side and quantity."""

    contract_id: int
    terms: MarginTerms
    action: OrderAction
    qty: int


def exposure(holding: Holding) -> int:
    """Contracts the holding may come to hold on either side if its working orders fill."""
    net = holding.net_pos
    return max(abs(net + holding.working_buys), abs(net - holding.working_sells))


def position_margin(holdings: Iterable[Holding]) -> float:
    """Initial margin of the open positions: the margin an account uses (what `marginPercentage*` rules read)."""
    return to_money(sum(abs(h.net_pos) * h.terms.initial for h in holdings))


def maintenance_margin(holdings: Iterable[Holding]) -> float:
    return to_money(sum(abs(h.net_pos) * h.terms.maintenance for h in holdings))


def full_margin(holdings: Iterable[Holding]) -> float:
    """The exchange's initial margin of the open positions, whatever the session."""
    return to_money(sum(abs(h.net_pos) * h.terms.full_initial for h in holdings))


def required(holdings: Iterable[Holding], *, full: bool = False) -> float:
    """Initial margin the positions and working orders require: each contract's exposure x its margin."""
    return to_money(sum(exposure(h) * (h.terms.full_initial if full else h.terms.initial) for h in holdings))


def with_orders(holdings: Sequence[Holding], asks: Iterable[Ask]) -> tuple[Holding, ...]:
    """The holdings once `asks` are working orders too."""
    by_contract = {h.contract_id: h for h in holdings}
    for ask in asks:
        held = by_contract.get(ask.contract_id) or Holding(contract_id=ask.contract_id, net_pos=0, terms=ask.terms)
        if ask.action is OrderAction.Buy:
            held = msgspec.structs.replace(held, working_buys=held.working_buys + ask.qty)
        else:
            held = msgspec.structs.replace(held, working_sells=held.working_sells + ask.qty)
        by_contract[ask.contract_id] = held
    return tuple(by_contract.values())


def check(margin: Margin, contract_id: int, action: OrderAction, qty: int, *, net_pos: int, working_buys: int,
          working_sells: int) -> Refusal | None:
    """Whether an order of `qty` on `contract_id` fits the account's funds. `net_pos` and the working quantities
    are the order's contract's as the decision sees them (they replace that contract's holding)."""
    if is_reducing(net_pos, action, qty):
        return None
    own = Holding(contract_id=contract_id, net_pos=net_pos, terms=margin.terms, working_buys=working_buys,
                  working_sells=working_sells)
    before = (*(h for h in margin.holdings if h.contract_id != contract_id), own)
    after = with_orders(before, [Ask(contract_id=contract_id, terms=margin.terms, action=action, qty=qty)])
    need_before, need_after = required(before), required(after)
    net_liq = to_money(margin.cash + margin.open_pnl)
    if need_after <= need_before or need_after <= net_liq:
        return None
    available = to_money(net_liq - need_before)
    return Refusal(REFUSAL, f"Insufficient margin: the order needs {to_money(need_after - need_before):.2f} of "
                            f"initial margin, available funds are {available:.2f}")


def is_exit(holdings: Sequence[Holding], asks: Iterable[Ask]) -> bool:
    """Whether the orders, filled one after the other, only reduce positions (never open or flip one)."""
    net = {h.contract_id: h.net_pos for h in holdings}
    for ask in asks:
        position = net.get(ask.contract_id, 0)
        if not is_reducing(position, ask.action, ask.qty):
            return False
        net[ask.contract_id] = position + (ask.qty if ask.action is OrderAction.Buy else -ask.qty)
    return True


def evaluate(margin_holdings: Sequence[Holding], asks: Sequence[Ask], *, cash: float, open_pnl: float,
             fees: float) -> RiskEvaluationDetails:
    """`order/dryrun`'s details: the account's margin before and after the orders were working, and its funds.
    Positions are counted over the contracts the orders name: the net position before, the longest long and
    shortest short they could reach."""
    after = with_orders(margin_holdings, asks)
    named = {ask.contract_id for ask in asks}
    before_net = sum(h.net_pos for h in margin_holdings if h.contract_id in named)
    long = sum(max(0, h.net_pos + h.working_buys) for h in after if h.contract_id in named)
    short = sum(max(0, h.working_sells - h.net_pos) for h in after if h.contract_id in named)
    net_liq = to_money(cash + open_pnl)
    need = required(after)
    return RiskEvaluationDetails(
        before_initial_margin_req=required(margin_holdings), before_initial_full_margin_req=required(
            margin_holdings, full=True), before_open_collateral_req=0.0, before_net_pos=before_net,
        is_exit_order=is_exit(margin_holdings, asks), initial_margin_req=need,
        initial_full_margin_req=required(after, full=True), open_collateral_req=0.0, total_cash=to_money(cash),
        futures_open_pn_l=to_money(open_pnl), options_open_pn_l=0.0, risk_credit=0.0, net_liq_value=net_liq,
        future_comm_and_fees=to_money(fees), total_cash_required=need, excess=to_money(net_liq - need),
        hypo_long_pos=long, hypo_short_pos=short,
    )


def snapshot(account_id: AccountId, holdings: Sequence[Holding], now: datetime, *,
             auto_liq_level: float | None = None, liq_only_level: float | None = None) -> MarginSnapshot:
    """The account's `MarginSnapshot`: margins of its open positions (working orders are not in it)."""
    initial, full = position_margin(holdings), full_margin(holdings)
    return MarginSnapshot(
        id=account_id, timestamp=now, risk_time_period_id=0, initial_margin=initial,
        maintenance_margin=maintenance_margin(holdings), total_used_margin=initial, full_initial_margin=full,
        position_margin=initial, total_used_full_margin=full, auto_liq_level=auto_liq_level,
        liq_only_level=liq_only_level,
    )


def is_same(old: MarginSnapshot, new: MarginSnapshot) -> bool:
    """Whether two snapshots differ only in their timestamps (then no event is sent)."""
    return msgspec.structs.replace(old, timestamp=new.timestamp) == new
