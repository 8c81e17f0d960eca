"""Risk categories: `accountRiskStatus/switchriskcategory` moves accounts between them, `setDemoHalt` halts (or
resumes) trading of every account in one. A halted category's accounts are refused new orders, modifications and
their own liquidations (`TradingLocked`), as a locked account is; an admin's liquidation still passes."""

import msgspec

from tradovate_sim.core.decision import updated
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Account, RiskCategory
from tradovate_sim.model.requests import SetDemoHalt, SwitchRiskCategory
from tradovate_sim.model.results import SimpleResponse
from tradovate_sim.service.errors import not_found
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account, require_admin

MAX_ACCOUNTS = 10_000


def _category(platform: Platform, caller: Caller, category_id: int) -> RiskCategory:
    require_admin(caller)
    category = platform.state.get(RiskCategory, category_id)
    if category is None:
        raise not_found(f"riskCategoryId: risk category {category_id} not found")
    return category


async def switch_risk_category(platform: Platform, caller: Caller, req: SwitchRiskCategory) -> SimpleResponse:
    """Every listed account into the category, in one commit; accounts already in it are skipped. Nothing changes
    when a listed account is unknown or not the caller's (404 naming it)."""
    category = _category(platform, caller, req.risk_category_id)
    if not req.account_ids:
        return SimpleResponse(ok=False, error_text="Empty accountIds")
    if len(req.account_ids) > MAX_ACCOUNTS:
        return SimpleResponse(ok=False, error_text=f"Only {MAX_ACCOUNTS} accounts are allowed in single operation")
    for account_id in req.account_ids:
        if not can_see_account(platform, caller, account_id):
            raise not_found(f"accountIds: account {account_id} not found")
    table = platform.state.table(Account)
    changes = [updated(msgspec.structs.replace(table[a], risk_category_id=category.id))
               for a in dict.fromkeys(req.account_ids) if table[a].risk_category_id != category.id]
    await platform.commit(changes)
    return SimpleResponse(ok=True)


async def set_demo_halt(platform: Platform, caller: Caller, req: SetDemoHalt) -> SimpleResponse:
    """Halt (`halt: true`) or resume trading of every account in the category, until cleared."""
    category = _category(platform, caller, req.risk_category_id)
    halted = msgspec.structs.replace(category, demo_halt=True if req.halt else None)
    if halted != category:
        await platform.commit([updated(halted)])
    return SimpleResponse(ok=True)
