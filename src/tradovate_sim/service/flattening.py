"""Flattening an account as the risk system: every working order cancelled and every position closed, contract by
contract, through `liquidateposition`'s own decision (core/liquidation.py, `admin: true`, tagged `AutoLiq`), in
the commit that also carries the breach's lock and log. The caller holds the account's lock."""

import logging

import msgspec

from tradovate_sim.core import liquidation
from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import AutoLiqState, CashBalanceLog
from tradovate_sim.model.enums import AdminAction, CashChangeType, FailureReason
from tradovate_sim.model.ids import AccountId, ContractId, OrganizationId, UserId
from tradovate_sim.model.requests import LiquidatePosition
from tradovate_sim.service import marks
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import organization_of_account

log = logging.getLogger("tradovate_sim.autoliq")

AUTO_LIQ_TAG = "AutoLiq"  # customTag50 of the risk system's closing orders
# Cash that trading makes (P&L and its fees); every other kind is cash moved in or out: no profit, no loss
TRADING = frozenset({CashChangeType.TradePaired, CashChangeType.CancelledPairedTrade, CashChangeType.Commission,
                     CashChangeType.ExchangeFee, CashChangeType.ClearingFee, CashChangeType.NfaFee,
                     CashChangeType.BrokerageFee, CashChangeType.OrderRoutingFee, CashChangeType.OptionsTrade,
                     CashChangeType.SwapTrade, CashChangeType.FundingRate, CashChangeType.LiquidationFee,
                     CashChangeType.LiquidationFee2, CashChangeType.CashSettlement})
TRANSFERS = frozenset(CashChangeType) - TRADING
_WAIT_FOR_MARKET = frozenset({FailureReason.SessionClosed, FailureReason.NoQuote})


class Flattened(msgspec.Struct, frozen=True):
    liquidated: int  # contracts liquidated
    waiting: bool  # a contract's market is closed (or has no quote): the liquidation stays pending


def saved_change(platform: Platform, saved: AutoLiqState) -> Change:
    before = platform.state.get(AutoLiqState, saved.id)
    return created(saved) if before is None else updated(saved)


async def flatten(platform: Platform, account_id: AccountId, changes: list[Change], saved: AutoLiqState) -> Flattened:
    """Cancel every working order and close every position of the account, folded into the evaluation's commit
    (`changes`: the lock, its log, ...). A contract whose market is closed (or has no quote) waits for the next
    attempt; the pending mark is cleared in the commit that leaves nothing to do. Each contract's closing order
    changes the cash the next one is decided on: a further contract commits first what came before."""
    state = platform.state
    organization = organization_of_account(platform, account_id)
    contracts = {c for c, accounts in state.working_by_contract.items() if account_id in accounts}
    contracts |= {p.contract_id for p in marks.open_positions(platform, account_id)}
    caller = Caller(user_id=UserId(0), organization_id=OrganizationId(organization or 0), organization_admin=True)
    request = LiquidatePosition(account_id=account_id, contract_id=ContractId(0), admin=True,
                                custom_tag50=AUTO_LIQ_TAG, is_automated=True)
    waiting = decided = False
    liquidated = 0
    logged: list[CashBalanceLog] = []
    for contract_id in sorted(contracts) if organization is not None else ():
        if decided:  # the next contract is decided on the cash this one left
            await platform.commit([*changes, saved_change(platform, saved)])
            changes = []
        view = platform.order_view(caller, account_id, contract_id)
        if view is None:
            continue
        decision = liquidation.liquidate_position(
            view, msgspec.structs.replace(request, contract_id=contract_id), platform.now(), platform.ids,
            AdminAction.LiquidateImmediately)
        result = decision.result
        if result.failure_reason in _WAIT_FOR_MARKET:
            waiting = True
        elif result.failure_reason not in (None, FailureReason.AnotherCommandPending):
            log.warning("auto-liquidation of account %s contract %s: %s %s", account_id, contract_id,
                        result.failure_reason, result.failure_text)
        else:
            liquidated += 1
        changes.extend(decision.changes)
        decided = bool(decision.changes)
        logged += [c.entity for c in decision.changes if isinstance(c.entity, CashBalanceLog)]
    if organization is None:
        waiting = True
    if logged and not any(entry.cash_change_type in TRANSFERS for entry in logged):
        # its fees and P&L are no cash moved in or out: the bases need not look at them again (no second commit)
        saved = msgspec.structs.replace(saved, last_log_id=max(saved.last_log_id, *(e.id for e in logged)))
    if not waiting:
        saved = msgspec.structs.replace(saved, pending_liquidation=False)
    if saved != state.get(AutoLiqState, account_id):
        changes.append(saved_change(platform, saved))
    if changes:
        await platform.commit(changes)
    return Flattened(liquidated=liquidated, waiting=waiting)
