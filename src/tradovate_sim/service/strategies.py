"""Order-strategy handlers: resolve account, contract and strategy, run the core decision under the account's lock."""

from tradovate_sim.core import strategies
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import OrderStrategy
from tradovate_sim.model.enums import FailureReason
from tradovate_sim.model.requests import (
    InterruptOrderStrategy,
    ModifyOrderStrategy,
    MultiBracketParams,
    StartOrderStrategy,
)
from tradovate_sim.model.results import OrderStrategyStatusResponse, Violations
from tradovate_sim.service.orders import decide, resolve_account, resolve_contract
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account

_UNAUTHORIZED = "Access is denied"


async def start_order_strategy(platform: Platform, caller: Caller,
                               req: StartOrderStrategy) -> OrderStrategyStatusResponse | Violations:
    """Check the params completely, then create the strategy and send its entry (nothing is written on a refusal of
    the params)."""
    account = resolve_account(platform, caller, req)
    if isinstance(account, Violations):
        return account
    if account is None:
        return strategies.refused(FailureReason.Unauthorized, _UNAUTHORIZED)
    contract = resolve_contract(platform, req.symbol)
    instrument = platform.instrument(contract.id) if contract else None
    if contract is None or instrument is None:
        return strategies.refused(FailureReason.InvalidContract, f"Unknown contract {req.symbol!r}")
    params = strategies.parse(req, instrument.product.tick_size)
    if not isinstance(params, MultiBracketParams):
        return strategies.refused(params.reason, params.text)
    result = await decide(platform, caller, account.id, contract.id,
                          lambda v: strategies.start(v, req, params, platform.now(), platform.ids), margined=True)
    return result or strategies.refused(FailureReason.UnknownReason, "Account or contract vanished")


def _strategy_of(platform: Platform, caller: Caller, strategy_id: int) -> OrderStrategy | None:
    strategy = platform.state.get(OrderStrategy, strategy_id)
    if strategy is None or not can_see_account(platform, caller, strategy.account_id):
        return None
    return strategy


async def interrupt_order_strategy(platform: Platform, caller: Caller,
                                   req: InterruptOrderStrategy) -> OrderStrategyStatusResponse:
    strategy = _strategy_of(platform, caller, req.order_strategy_id)
    if strategy is None:
        return strategies.refused(FailureReason.UnknownReason, f"Unknown order strategy {req.order_strategy_id}")
    result = await decide(platform, caller, strategy.account_id, strategy.contract_id,
                          lambda v: strategies.interrupt(v, req, platform.now(), platform.ids))
    return result or strategies.refused(FailureReason.UnknownReason, "Account or contract vanished")


async def modify_order_strategy(platform: Platform, caller: Caller,
                                req: ModifyOrderStrategy) -> OrderStrategyStatusResponse:
    strategy = _strategy_of(platform, caller, req.order_strategy_id)
    if strategy is None:
        return strategies.refused(FailureReason.UnknownReason, f"Unknown order strategy {req.order_strategy_id}")
    result = await decide(platform, caller, strategy.account_id, strategy.contract_id,
                          lambda v: strategies.modify(v, req))
    return result or strategies.refused(FailureReason.UnknownReason, "Account or contract vanished")
