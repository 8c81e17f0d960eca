"""The risk desk's account actions: `accountRiskStatus/setadminautoliqaction`, `resetautoliqstatus`,
`updatemaxnetliq`, `setaccountnotes`."""

from datetime import datetime

import msgspec

from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import AccountRiskStatus, AccountRiskStatusLog, AutoLiqState, Position
from tradovate_sim.model.enums import AdminAction, AdminActionReasonCode
from tradovate_sim.model.ids import AccountId
from tradovate_sim.model.requests import (
    LiquidatePosition,
    ResetAutoLiqStatus,
    SetAccountNotes,
    SetAdminAutoLiqAction,
    UpdateMaxNetLiq,
)
from tradovate_sim.model.results import AccountRiskStatusResponse, SimpleResponse
from tradovate_sim.service import orders
from tradovate_sim.service.autoliquidation import AutoLiquidation
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import require_admin_of

SUPPORTED = frozenset(AdminAction)
# The auto-liquidation engine's own actions: they change what the engine does, not the account's lock or mode.
ENGINE_ACTIONS = frozenset({AdminAction.PlaceAutoLiqOnHold, AdminAction.DisableAutoLiq,
                            AdminAction.AgreedOnLiqOnlyModeByAutoLiq, AdminAction.AgreedOnLiquidationByAutoLiq})
RESTRICTING = frozenset({AdminAction.LockTradingImmediately, AdminAction.LiquidateImmediately,
                         AdminAction.LiquidateOnlyModeImmediately})


def _log(platform: Platform, status: AccountRiskStatus, now: datetime, reason: str | None,
         notes: str | None = None) -> Change:
    return created(AccountRiskStatusLog(
        id=platform.ids.next("accountRiskStatusLog"), account_id=status.id, timestamp=now,
        admin_action=status.admin_action, admin_timestamp=status.admin_timestamp,
        liquidate_only=status.liquidate_only, admin_action_reason=reason, notes=notes))


async def set_admin_auto_liq_action(platform: Platform, caller: Caller, req: SetAdminAutoLiqAction,
                                    engine: AutoLiquidation) -> AccountRiskStatusResponse:
    require_admin_of(platform, caller, req.account_id)
    if req.admin_action not in SUPPORTED:
        return AccountRiskStatusResponse(error_text=f"Admin Action {req.admin_action} is not supported")
    if req.admin_action_reason_code is AdminActionReasonCode.Other and not req.admin_action_reason:
        return AccountRiskStatusResponse(error_text="Admin Action Reason should be specified")
    async with platform.account(req.account_id):
        current = platform.state.table(AccountRiskStatus)[req.account_id]
        now = platform.now()
        if req.admin_action in ENGINE_ACTIONS:
            # recorded as the last admin action unless that would lift a lock or a liquidation-only mode
            restricted = current.admin_action in RESTRICTING or current.liquidate_only is not None
            status = current if restricted else msgspec.structs.replace(current, admin_action=req.admin_action,
                                                                         admin_timestamp=now)
        else:
            liquidate_only = now if req.admin_action is AdminAction.LiquidateOnlyModeImmediately else None
            status = msgspec.structs.replace(current, admin_action=req.admin_action, admin_timestamp=now,
                                             liquidate_only=liquidate_only)
        changes = [updated(status)] if status != current else []
        changes += engine.on_admin_action(req.account_id, req.admin_action, now)
        reason = req.admin_action_reason or (req.admin_action_reason_code.value if req.admin_action_reason_code
                                             else None)
        changes.append(_log(platform, msgspec.structs.replace(status, admin_action=req.admin_action), now, reason))
        await platform.commit(changes)
    engine.touch(req.account_id)  # Normal re-arms the rules: one still breached fires again before the answer
    errors: list[str] = []
    if req.admin_action is AdminAction.LiquidateImmediately:
        # Locked first, so that no order of the trader slips in; admin liquidations pass the lock. The lock
        # holds even when a contract could not be liquidated (e.g. its session is closed): say which.
        errors = await liquidate_account(platform, caller, req.account_id)
    return AccountRiskStatusResponse(account_risk_status=status, error_text="; ".join(errors) or None)


async def reset_auto_liq_status(platform: Platform, caller: Caller, req: ResetAutoLiqStatus,
                                engine: AutoLiquidation) -> AccountRiskStatusResponse:
    """Clear what auto-liquidation set on the account: its lock and liquidation-only mode (not an admin's), its
    holds and a liquidation waiting for the open; every rule re-arms."""
    require_admin_of(platform, caller, req.account_id)
    async with platform.account(req.account_id):
        state = platform.state
        current = state.table(AccountRiskStatus)[req.account_id]
        saved = state.get(AutoLiqState, req.account_id)
        status = current
        changes: list[Change] = []
        if saved is not None:
            if saved.lock_span is not None and current.admin_action is AdminAction.LockTradingImmediately:
                status = msgspec.structs.replace(status, admin_action=AdminAction.Normal)
            if saved.liq_only_trade_date is not None:
                status = msgspec.structs.replace(status, liquidate_only=None)
            reset = engine.cleared(saved)
            if reset != saved:
                changes.append(updated(reset))
        if status != current:
            changes += [updated(status), _log(platform, status, platform.now(), "resetautoliqstatus")]
        await platform.commit(changes)
    engine.touch(req.account_id)
    return AccountRiskStatusResponse(account_risk_status=status)


async def update_max_net_liq(platform: Platform, caller: Caller, req: UpdateMaxNetLiq,
                             engine: AutoLiquidation) -> AccountRiskStatusResponse:
    """Re-base the high-water net liq (the trailing drawdown's level follows; it is evaluated again at once)."""
    require_admin_of(platform, caller, req.account_id)
    async with platform.account(req.account_id):
        current = platform.state.table(AccountRiskStatus)[req.account_id]
        status = msgspec.structs.replace(current, max_net_liq=round(req.max_net_liq, 2))
        await platform.commit([updated(status)] if status != current else [])
    engine.touch(req.account_id)
    return AccountRiskStatusResponse(account_risk_status=status)


async def set_account_notes(platform: Platform, caller: Caller, req: SetAccountNotes) -> SimpleResponse:
    """The account's notes, kept in the `accountRiskStatusLog` this writes (Tradovate's `AccountRiskStatus` has no
    field for them): the latest log with `notes` holds the current ones. The status itself is not changed."""
    require_admin_of(platform, caller, req.account_id)
    async with platform.account(req.account_id):
        status = platform.state.table(AccountRiskStatus)[req.account_id]
        await platform.commit([_log(platform, status, platform.now(), "setaccountnotes", notes=req.notes or "")])
    return SimpleResponse(ok=True)


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
