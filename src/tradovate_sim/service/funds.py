"""Fund transactions: `fundTransaction/adjustcash`, an organization admin's cash entry of any documented kind."""

import msgspec

from tradovate_sim.core.decision import created, updated
from tradovate_sim.core.rollover import roll_cash
from tradovate_sim.core.ticks import to_money
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Account, CashBalance, CashBalanceLog, Currency
from tradovate_sim.model.requests import AdjustCash
from tradovate_sim.model.results import CashBalanceSnapshot
from tradovate_sim.service.accounts import snapshot
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import require_admin_of


async def adjust_cash(platform: Platform, caller: Caller, req: AdjustCash) -> CashBalanceSnapshot:
    """Credit or debit the account's cash balance in its currency, logged with the given `cashChangeType`. The
    post-trade engine counts every kind but trading's own (service/flattening.TRADING) as cash moved in or out."""
    require_admin_of(platform, caller, req.account_id)
    async with platform.account(req.account_id):
        state = platform.state
        account = state.table(Account)[req.account_id]
        cash = state.table(CashBalance)[state.cash_of[req.account_id]]
        currency = state.get(Currency, req.currency_id)
        if currency is None:
            return CashBalanceSnapshot(error_text=f"currencyId: unknown currency {req.currency_id}")
        if currency.id != cash.currency_id:
            return CashBalanceSnapshot(error_text=f"currencyId: the account holds no {currency.name} balance")
        if account.closed:
            return CashBalanceSnapshot(error_text="Demo account is closed")
        now = platform.now()
        amount = to_money(cash.amount + req.cash_change)
        cash = msgspec.structs.replace(roll_cash(cash, platform.trade_date(now), now), amount=amount, timestamp=now)
        log = CashBalanceLog(id=platform.ids.next("cashBalanceLog"), account_id=account.id, timestamp=now,
                             trade_date=cash.trade_date, currency_id=cash.currency_id, amount=amount,
                             cash_change_type=req.cash_change_type, delta=to_money(req.cash_change),
                             comment=req.comment, sender_id=req.sender_id or caller.user_id)
        await platform.commit([updated(cash), created(log)])
    return snapshot(platform, req.account_id)
