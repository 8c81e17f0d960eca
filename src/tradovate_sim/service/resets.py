"""`account/resetdemoaccountstate`: accounts back to their state at the start of a trade date. Every working order
cancelled, every position flat (set, not traded: core/resets.py), the cash balance back to what it was then (from
the cash log), the post-trade engine's restrictions, bases and fired rules reset; all the accounts in one commit."""

from contextlib import AsyncExitStack
from datetime import date, datetime

import msgspec

from tradovate_sim.core import resets
from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.positions import to_trade_date
from tradovate_sim.core.restrictions import week_of
from tradovate_sim.core.ticks import to_money
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import (
    Account,
    AccountRiskStatus,
    AccountRiskStatusLog,
    AutoLiqState,
    CashBalance,
    CashBalanceLog,
    Position,
)
from tradovate_sim.model.enums import AdminAction, CashChangeType
from tradovate_sim.model.ids import AccountId
from tradovate_sim.model.requests import ResetDemoAccountState
from tradovate_sim.model.results import SimpleResponse
from tradovate_sim.service.autoliquidation import AutoLiquidation
from tradovate_sim.service.errors import bad_request, not_found
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account, require_admin

MAX_ACCOUNTS = 1000  # accounts in one request


def _refused(text: str) -> SimpleResponse:
    return SimpleResponse(ok=False, error_text=text)


def _start_of_day(platform: Platform, account_id: AccountId, day: date) -> float | str:
    """The account's cash at the start of `day`, or what makes the reset impossible."""
    state = platform.state
    if state.table(Account)[account_id].closed:
        return f"account {account_id} is closed"
    table = state.table(CashBalanceLog)
    logs = state.children["cashBalanceLog"].get(account_id, {})
    # by the entry's time: its trade date as the clock saw it
    entries = [(platform.trade_date(table[i].timestamp), table[i].amount) for i in sorted(logs)]
    amount = resets.start_of_day_cash(entries, day)
    if amount is None:
        return f"resetTradeDate: account {account_id} did not exist on {day.isoformat()}"
    return amount


async def reset_demo_account_state(platform: Platform, caller: Caller, req: ResetDemoAccountState,
                                   engine: AutoLiquidation) -> SimpleResponse:
    require_admin(caller)
    if not req.account_ids:
        return _refused("Empty accountIds")
    if len(req.account_ids) > MAX_ACCOUNTS:
        return _refused(f"Only {MAX_ACCOUNTS} accounts are allowed in single operation")
    for account_id in req.account_ids:
        if not can_see_account(platform, caller, account_id):
            raise not_found(f"account {account_id} not found")
    stamp = req.reset_trade_date
    try:
        day = date(stamp.year, stamp.month, stamp.day)
    except ValueError as error:
        raise bad_request(f"resetTradeDate: {error}") from None
    now = platform.now()
    today = platform.trade_date(now)
    if day > today:
        return _refused(f"resetTradeDate: {day.isoformat()} is in the future (the trade date is {today.isoformat()})")
    account_ids = sorted(set(req.account_ids))
    async with AsyncExitStack() as stack:
        for account_id in account_ids:  # in id order: two resets never wait for each other's locks
            await stack.enter_async_context(platform.account(account_id))
        amounts: dict[AccountId, float] = {}
        for account_id in account_ids:
            found = _start_of_day(platform, account_id, day)
            if isinstance(found, str):
                return _refused(found)  # nothing applied to any account
            amounts[account_id] = found
        changes: list[Change] = []
        for account_id in account_ids:
            changes += _reset(platform, caller, account_id, amount=amounts[account_id], now=now, today=today,
                              engine=engine)
        await platform.commit(changes)
    for account_id in account_ids:
        engine.touch(account_id)
    return SimpleResponse(ok=True)


def _reset(platform: Platform, caller: Caller, account_id: AccountId, *, amount: float, now: datetime, today: date,
           engine: AutoLiquidation) -> list[Change]:
    state = platform.state
    changes: list[Change] = []
    contracts = {c for (a, c) in state.working if a == account_id}
    for contract_id, position_id in state.positions_of.get(account_id, {}).items():
        if state.table(Position)[position_id].net_pos != 0 or state.open_fills.get((account_id, contract_id)):
            contracts.add(contract_id)
    for contract_id in sorted(contracts):
        view = platform.order_view(caller, account_id, contract_id)
        if view is not None:
            changes += resets.flat_book(view, now, platform.ids, today)
    cash = state.table(CashBalance)[state.cash_of[account_id]]
    amount = to_money(amount)
    last_log_id = max(state.children["cashBalanceLog"].get(account_id, {}), default=0)
    if amount != cash.amount:
        log = CashBalanceLog(id=platform.ids.next("cashBalanceLog"), account_id=account_id, timestamp=now,
                             trade_date=to_trade_date(today), currency_id=cash.currency_id, amount=amount,
                             cash_change_type=CashChangeType.ManualAdjustment, delta=to_money(amount - cash.amount),
                             comment="Account reset", sender_id=caller.user_id)
        changes.append(created(log))
        last_log_id = log.id
    changes.append(updated(msgspec.structs.replace(cash, amount=amount, realized_pn_l=0.0, week_realized_pn_l=0.0,
                                                   amount_sod=amount,
                                                   trade_date=to_trade_date(today), timestamp=now)))
    current = state.table(AccountRiskStatus)[account_id]
    status = msgspec.structs.replace(current, max_net_liq=amount, min_net_liq=amount)
    saved = state.get(AutoLiqState, account_id)
    if saved is not None:
        if saved.lock_span is not None and current.admin_action is AdminAction.LockTradingImmediately:
            status = msgspec.structs.replace(status, admin_action=AdminAction.Normal, admin_timestamp=now)
        if saved.liq_only_trade_date is not None:
            status = msgspec.structs.replace(status, liquidate_only=None)
        reset = msgspec.structs.replace(engine.cleared(saved), trade_date=today, day_base=amount,
                                        week_start=week_of(today), week_base=amount, last_log_id=last_log_id,
                                        reason=None)
        changes.append(updated(reset))
    changes.append(updated(status))
    changes.append(created(AccountRiskStatusLog(
        id=platform.ids.next("accountRiskStatusLog"), account_id=account_id, timestamp=now,
        admin_action=status.admin_action, admin_timestamp=status.admin_timestamp,
        liquidate_only=status.liquidate_only, admin_action_reason="resetdemoaccountstate")))
    return changes

