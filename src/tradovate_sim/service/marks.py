"""Marks: what an account is worth now. Net liquidation value = cash + the open P&L of every open position, each
marked at `core.autoliq.mark_ticks` of its contract's quote (last trade, else mid, else the one side shown)."""

from tradovate_sim.core.autoliq import mark_ticks, open_pnl
from tradovate_sim.model.entities import CashBalance, Contract, ContractMaturity, MarginSnapshot, Position, Product
from tradovate_sim.model.ids import AccountId, ContractId
from tradovate_sim.service.platform import Platform


def contract_terms(platform: Platform, contract_id: ContractId) -> tuple[float, float] | None:
    """(tick size, value per point) of a contract."""
    state = platform.state
    contract = state.get(Contract, contract_id)
    if contract is None:
        return None
    maturity = state.get(ContractMaturity, contract.contract_maturity_id)
    product = state.get(Product, maturity.product_id) if maturity is not None else None
    return None if product is None else (product.tick_size, product.value_per_point)


def open_positions(platform: Platform, account_id: AccountId) -> list[Position]:
    positions = platform.state.table(Position)
    return [p for p in (positions[i] for i in platform.state.positions_of.get(account_id, {}).values())
            if p.net_pos != 0]


def cash_of(platform: Platform, account_id: AccountId) -> float | None:
    cash = platform.state.get(CashBalance, platform.state.cash_of.get(account_id, 0))
    return None if cash is None else cash.amount


def position_pnl(platform: Platform, position: Position) -> float:
    """Open P&L of one position at its contract's mark (0 without a mark)."""
    terms = contract_terms(platform, position.contract_id)
    mark = mark_ticks(platform.market.quotes.get(position.contract_id))
    if terms is None or mark is None or position.net_price is None or position.net_pos == 0:
        return 0.0
    return open_pnl(position.net_pos, position.net_price, mark, *terms)


def account_open_pnl(platform: Platform, account_id: AccountId) -> float:
    return sum((position_pnl(platform, p) for p in open_positions(platform, account_id)), 0.0)


def margin_used(platform: Platform, account_id: AccountId) -> float:
    """Initial margin of the account's open positions, for the `marginPercentage*` rules: its `marginSnapshot`,
    which is committed with every position change and every switch between day and exchange margins."""
    snapshot = platform.state.get(MarginSnapshot, account_id)
    return snapshot.initial_margin if snapshot is not None else 0.0
