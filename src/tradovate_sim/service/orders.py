"""Order handlers: resolve account and contract, run the core decision under the account's lock, commit."""

import asyncio
from collections.abc import Callable
from typing import TypeVar

from tradovate_sim.core import liquidation, orders
from tradovate_sim.core.decision import Decision
from tradovate_sim.core.view import Caller, OrderView
from tradovate_sim.model.entities import Account, Contract, Order, Position
from tradovate_sim.model.enums import AdminAction, FailureReason
from tradovate_sim.model.ids import AccountId, ContractId, OrderId, PositionId
from tradovate_sim.model.requests import (
    CancelOrder,
    LiquidatePosition,
    LiquidatePositions,
    ModifyOrder,
    PlaceOCO,
    PlaceOrder,
    PlaceOSO,
    StartOrderStrategy,
)
from tradovate_sim.model.results import (
    CommandResult,
    PlaceOcoResult,
    PlaceOrderResult,
    PlaceOsoResult,
    SimpleResponse,
    Violation,
    Violations,
)
from tradovate_sim.service import margins
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account

R = TypeVar("R")


def resolve_account(platform: Platform, caller: Caller,
                    req: PlaceOrder | StartOrderStrategy) -> Account | Violations | None:
    """The order's account from `accountId` or `accountSpec` (account name); None when not visible."""
    state = platform.state
    if req.account_id is None and not req.account_spec:
        return Violations(violations=[Violation(constraint="accountId", value="",
                                                description="accountId or accountSpec should be specified")])
    account_id = req.account_id or state.find(Account, req.account_spec or "")
    account = state.get(Account, account_id or 0)
    if account is None or not can_see_account(platform, caller, account.id):
        return None
    if req.account_id is not None and req.account_spec and account.name.lower() != req.account_spec.lower():
        return None
    return account


def resolve_contract(platform: Platform, symbol: str | ContractId) -> Contract | None:
    state = platform.state
    contract_id = symbol if isinstance(symbol, int) else state.find(Contract, symbol)
    if contract_id is None and isinstance(symbol, str) and symbol.isdigit():
        contract_id = int(symbol)
    return state.get(Contract, contract_id or 0)


async def decide(platform: Platform, caller: Caller, account_id: AccountId, contract_id: ContractId,
                 decision: Callable[[OrderView], Decision[R]], *, margined: bool = False) -> R | None:
    """Run one core decision on (account, contract) under the account's lock and commit it. `margined`: the view
    carries the account's margin standing (orders that may open a position are margin-checked)."""
    async with platform.account(account_id):
        view = platform.order_view(caller, account_id, contract_id)
        if view is None:
            return None
        if margined:
            view = margins.with_margin(platform, view)
        outcome = decision(view)
        await platform.commit(outcome.changes)
        return outcome.result


_UNAUTHORIZED = "Access is denied"


async def _place(platform: Platform, caller: Caller, req: PlaceOrder,
                 decision: Callable[[OrderView], Decision[R]], refuse: Callable[[FailureReason, str], R],
                 ) -> R | Violations:
    account = resolve_account(platform, caller, req)
    if isinstance(account, Violations):
        return account
    if account is None:
        return refuse(FailureReason.Unauthorized, _UNAUTHORIZED)
    contract = resolve_contract(platform, req.symbol)
    if contract is None:
        return refuse(FailureReason.InvalidContract, f"Unknown contract {req.symbol!r}")
    result = await decide(platform, caller, account.id, contract.id, decision, margined=True)
    return result if result is not None else refuse(FailureReason.UnknownReason, "Account or contract vanished")


async def place_order(platform: Platform, caller: Caller, req: PlaceOrder) -> PlaceOrderResult | Violations:
    return await _place(platform, caller, req, lambda v: orders.place(v, req, platform.now(), platform.ids),
                        lambda r, t: PlaceOrderResult(failure_reason=r, failure_text=t))


async def place_oco(platform: Platform, caller: Caller, req: PlaceOCO) -> PlaceOcoResult | Violations:
    return await _place(platform, caller, req, lambda v: orders.place_oco(v, req, platform.now(), platform.ids),
                        lambda r, t: PlaceOcoResult(failure_reason=r, failure_text=t))


async def place_oso(platform: Platform, caller: Caller, req: PlaceOSO) -> PlaceOsoResult | Violations:
    return await _place(platform, caller, req, lambda v: orders.place_oso(v, req, platform.now(), platform.ids),
                        lambda r, t: PlaceOsoResult(failure_reason=r, failure_text=t))


def _order_of(platform: Platform, caller: Caller, order_id: OrderId) -> Order | None:
    order = platform.state.get(Order, order_id)
    if order is None or not can_see_account(platform, caller, order.account_id):
        return None
    return order


async def cancel_order(platform: Platform, caller: Caller, req: CancelOrder) -> CommandResult:
    order = _order_of(platform, caller, req.order_id)
    if order is None:
        return CommandResult(failure_reason=FailureReason.UnknownReason, failure_text=f"Unknown order {req.order_id}")
    result = await decide(platform, caller, order.account_id, order.contract_id,
                          lambda v: orders.cancel(v, req, req.order_id, platform.now(), platform.ids))
    return result or CommandResult(failure_reason=FailureReason.UnknownReason, failure_text="Order vanished")


async def modify_order(platform: Platform, caller: Caller, req: ModifyOrder) -> CommandResult:
    order = _order_of(platform, caller, req.order_id)
    if order is None:
        return CommandResult(failure_reason=FailureReason.UnknownReason, failure_text=f"Unknown order {req.order_id}")
    result = await decide(platform, caller, order.account_id, order.contract_id,
                          lambda v: orders.modify(v, req, platform.now(), platform.ids), margined=True)
    return result or CommandResult(failure_reason=FailureReason.UnknownReason, failure_text="Order vanished")


async def liquidate_position(platform: Platform, caller: Caller, req: LiquidatePosition,
                             admin_action: AdminAction = AdminAction.Normal) -> PlaceOrderResult:
    """Cancel every working order of the account on the contract, then close the position (see core)."""
    if not can_see_account(platform, caller, req.account_id):
        return PlaceOrderResult(failure_reason=FailureReason.Unauthorized, failure_text=_UNAUTHORIZED)
    if platform.state.get(Contract, req.contract_id) is None:
        return PlaceOrderResult(failure_reason=FailureReason.InvalidContract,
                                failure_text=f"Unknown contract id {req.contract_id}")
    result = await decide(
        platform, caller, req.account_id, req.contract_id,
        lambda v: liquidation.liquidate_position(v, req, platform.now(), platform.ids, admin_action))
    return result or PlaceOrderResult(failure_reason=FailureReason.UnknownReason, failure_text="Account vanished")


async def liquidate_positions(platform: Platform, caller: Caller, req: LiquidatePositions) -> SimpleResponse:
    """Liquidate each listed position as `liquidateposition` would; one failure does not stop the others."""
    if len(set(req.positions)) != len(req.positions):
        return SimpleResponse(ok=False, error_text="positions: ids must be unique")
    errors: list[str] = []

    async def one(position_id: PositionId) -> None:
        position = platform.state.get(Position, position_id)
        if position is None or not can_see_account(platform, caller, position.account_id):
            errors.append(f"position {position_id}: Unauthorized: unknown position")
            return
        result = await liquidate_position(platform, caller, LiquidatePosition(
            account_id=position.account_id, contract_id=position.contract_id, admin=req.admin,
            custom_tag50=req.custom_tag50, is_automated=req.is_automated))
        if result.failure_reason is not None:
            errors.append(f"position {position_id}: {result.failure_reason}: {result.failure_text}")

    await asyncio.gather(*(one(p) for p in req.positions))
    return SimpleResponse(ok=not errors, error_text="; ".join(sorted(errors)) if errors else None)
