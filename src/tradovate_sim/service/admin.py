"""The risk desk's account actions: `accountRiskStatus/setadminautoliqaction`."""

import msgspec

from tradovate_sim.core.decision import updated
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import AccountRiskStatus, Position
from tradovate_sim.model.enums import AdminAction, AdminActionReasonCode
from tradovate_sim.model.ids import AccountId
from tradovate_sim.model.requests import LiquidatePosition, SetAdminAutoLiqAction
from tradovate_sim.model.results import AccountRiskStatusResponse
from tradovate_sim.service import orders
from tradovate_sim.service.errors import denied, not_found
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account

SUPPORTED = frozenset({AdminAction.Normal, AdminAction.LockTradingImmediately,
                       AdminAction.LiquidateOnlyModeImmediately, AdminAction.LiquidateImmediately})


async def set_admin_auto_liq_action(platform: Platform, caller: Caller,
                                    req: SetAdminAutoLiqAction) -> AccountRiskStatusResponse:
    if not caller.organization_admin:
        raise denied()
    if not can_see_account(platform, caller, req.account_id):
        raise not_found(f"account {req.account_id} not found")
    if req.admin_action not in SUPPORTED:
        return AccountRiskStatusResponse(error_text=f"Admin Action {req.admin_action} is not supported")
    if req.admin_action_reason_code is AdminActionReasonCode.Other and not req.admin_action_reason:
        return AccountRiskStatusResponse(error_text="Admin Action Reason should be specified")
    async with platform.account(req.account_id):
        current = platform.state.table(AccountRiskStatus)[req.account_id]
        now = platform.now()
        liquidate_only = now if req.admin_action is AdminAction.LiquidateOnlyModeImmediately else None
        status = msgspec.structs.replace(current, admin_action=req.admin_action, admin_timestamp=now,
                                         liquidate_only=liquidate_only)
        await platform.commit([updated(status)])
    errors: list[str] = []
    if req.admin_action is AdminAction.LiquidateImmediately:
        # Locked first, so that no order of the trader slips in; admin liquidations pass the lock. The lock
        # holds even when a contract could not be liquidated (e.g. its session is closed): say which.
        errors = await liquidate_account(platform, caller, req.account_id)
    return AccountRiskStatusResponse(account_risk_status=status, error_text="; ".join(errors) or None)


async def liquidate_account(platform: Platform, caller: Caller, account_id: AccountId) -> list[str]:
    """Liquidate, as admin, every contract of the account that has a position or working orders."""
    state = platform.state
    contracts = {c for (a, c) in state.working if a == account_id}
    for contract_id, position_id in state.positions_of.get(account_id, {}).items():
        if state.table(Position)[position_id].net_pos != 0:
            contracts.add(contract_id)
    errors = []
    for contract_id in sorted(contracts):
        result = await orders.liquidate_position(
            platform, caller, LiquidatePosition(account_id=account_id, contract_id=contract_id, admin=True),
            admin_action=AdminAction.LiquidateImmediately)
        if result.failure_reason is not None:
            errors.append(f"contract {contract_id}: {result.failure_reason}: {result.failure_text}")
    return errors
