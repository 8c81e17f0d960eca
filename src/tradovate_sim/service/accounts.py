"""Users and accounts: creating them (seed and partner provisioning), demo balances, admin risk actions,
trading permissions, cash snapshots."""

import asyncio
import re
from datetime import datetime
from typing import TypeVar

import msgspec

from tradovate_sim.core import margins
from tradovate_sim.core.autoliq import Mark, evaluate
from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.positions import to_trade_date
from tradovate_sim.core.rollover import roll_cash
from tradovate_sim.core.ticks import to_money
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import (
    Account,
    AccountRiskStatus,
    AutoLiqState,
    CashBalance,
    CashBalanceLog,
    Credential,
    MarginSnapshot,
    PermissionedAccountAutoLiq,
    PostTradeRisk,
    TradingPermission,
    User,
    UserAccountAutoLiq,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.enums import (
    AccountType,
    AdminAction,
    CashChangeType,
    LegalStatus,
    MarginAccountType,
    TradingPermissionStatus,
    UserStatus,
)
from tradovate_sim.model.ids import AccountId, OrganizationId, UserId
from tradovate_sim.model.requests import (
    BatchItem,
    ChangeDemoBalance,
    CreateEvaluationAccounts,
    CreateEvaluationUsers,
    EvaluationAccount,
    EvaluationUser,
    GetCashBalanceSnapshot,
    PreTradeRisk,
    RevokeTradingPermission,
)
from tradovate_sim.model.results import (
    CashBalanceSnapshot,
    CreateEvaluationAccountsResponse,
    CreateEvaluationUsersResponse,
    EvaluationAccountResult,
    EvaluationUserResult,
    TradingPermissionResponse,
)
from tradovate_sim.service import marks
from tradovate_sim.service.auth import PasswordHashing
from tradovate_sim.service.errors import field_message, not_found
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account, can_see_user, require_admin, require_admin_of

USD = 1
S = TypeVar("S", bound=msgspec.Struct)


def new_user(platform: Platform, password_hash: str, *, name: str, email: str,
             organization_id: OrganizationId, admin: bool, now: datetime) -> tuple[User, list[Change]]:
    user = User(id=UserId(platform.ids.next("user")), name=name, timestamp=now, email=email, status=UserStatus.Active,
                professional=False, organization_id=organization_id)
    credential = Credential(id=user.id, password_hash=password_hash, organization_admin=admin)
    return user, [created(user), created(credential)]


def new_account(platform: Platform, *, user: User, name: str, balance: float, now: datetime,
                evaluation_size: float | None = None) -> tuple[Account, list[Change]]:
    """An account with its trading permission for `user`, a Normal risk status and its cash balance."""
    ids = platform.ids
    account = Account(
        id=AccountId(ids.next("account")), name=name, user_id=user.id, account_type=AccountType.Customer,
        restricted=False, closed=False, active=True, archived=False, clearing_house_id=1, risk_category_id=1,
        auto_liq_profile_id=1, margin_account_type=MarginAccountType.Speculator, legal_status=LegalStatus.Individual,
        timestamp=now, evaluation_size=evaluation_size,
    )
    trade_date = to_trade_date(platform.trade_date(now))
    permission = TradingPermission(
        id=ids.next("tradingPermission"), user_id=user.id, account_id=account.id, account_holder_contact=user.name,
        account_holder_email=user.email, cta_contact=user.name, cta_email=user.email,
        status=TradingPermissionStatus.Approved, updated=now,
    )
    cash = CashBalance(id=ids.next("cashBalance"), account_id=account.id, timestamp=now, trade_date=trade_date,
                       currency_id=USD, amount=to_money(balance), realized_pn_l=0.0, amount_sod=to_money(balance))
    log = CashBalanceLog(id=ids.next("cashBalanceLog"), account_id=account.id, timestamp=now, trade_date=trade_date,
                         currency_id=USD, amount=cash.amount, cash_change_type=CashChangeType.FundTransaction,
                         delta=cash.amount, comment="Initial balance")
    risk = AccountRiskStatus(id=account.id, admin_action=AdminAction.Normal, admin_timestamp=now,
                             max_net_liq=cash.amount, min_net_liq=cash.amount)
    margin = margins.snapshot(account.id, (), now)
    return account, [created(account), created(permission), created(risk), created(cash), created(log),
                     created(margin)]


def _pre_trade(platform: Platform, account_id: AccountId, risks: list[PreTradeRisk]) -> list[Change]:
    changes: list[Change] = []
    for risk in risks:
        fields = msgspec.structs.asdict(risk)
        params = fields.pop("parameters")
        limit = UserAccountPositionLimit(id=platform.ids.next("userAccountPositionLimit"), account_id=account_id,
                                         **fields)
        changes.append(created(limit))
        for param in params:
            changes.append(created(UserAccountRiskParameter(
                id=platform.ids.next("userAccountRiskParameter"), user_account_position_limit_id=limit.id,
                **msgspec.structs.asdict(param))))
    return changes


def _post_trade(account_id: AccountId, risk: PostTradeRisk) -> list[Change]:
    rules = UserAccountAutoLiq(id=account_id, **msgspec.structs.asdict(risk))
    return [created(rules), created(PermissionedAccountAutoLiq.copy_of(rules))]


MAX_FULL_NAME = 60  # firstName and lastName together, as Tradovate checks
_MISSING = re.compile(r"Object missing required field `(\w+)`")


def convert_items(items: list[BatchItem], shape: type[S]) -> list[S | str]:
    """Each item of a batch as `shape`, or the text of what is wrong with it (`email: Expected ...`)."""
    converted: list[S | str] = []
    for item in items:
        try:
            converted.append(msgspec.convert(item, shape))
        except msgspec.ValidationError as error:
            converted.append(item_message(str(error)))
    return converted


def item_message(message: str) -> str:
    """What is wrong with a batch item, led by the field: `email: Expected ...`, `firstName: required`."""
    text, _, where = message.rpartition(" - at `") if " - at `" in message else (message, "", "")
    missing = _MISSING.fullmatch(text)
    if missing is None:
        return field_message(message) if where else message
    path = where.rstrip("`").removeprefix("$.").removeprefix("$")
    return f"{path + '.' if path else ''}{missing.group(1)}: required"


def _checked_user(item: EvaluationUser | str) -> EvaluationUser | str:
    if isinstance(item, EvaluationUser) and len(item.first_name) + len(item.last_name) > MAX_FULL_NAME:
        return f"firstName, lastName: more than {MAX_FULL_NAME} characters together"
    return item


async def create_evaluation_users(platform: Platform, caller: Caller, hashing: PasswordHashing,
                                  req: CreateEvaluationUsers) -> CreateEvaluationUsersResponse:
    """Create the valid users of the batch in one commit; every item gets its result, in order (an `errorText` for
    an invalid or duplicate one)."""
    require_admin(caller)
    items = [_checked_user(item) for item in convert_items(req.users, EvaluationUser)]
    valid = [item for item in items if isinstance(item, EvaluationUser)]
    hashes = iter(await asyncio.to_thread(lambda: [hashing.hash(u.password) for u in valid]))
    results: list[EvaluationUserResult] = []
    changes: list[Change] = []
    seen: set[str] = set()
    now = platform.now()
    for item in items:
        if isinstance(item, str):
            results.append(EvaluationUserResult(error_text=item))
            continue
        password_hash = next(hashes)
        key = item.name.lower()
        if platform.state.find(User, item.name) is not None or key in seen:
            results.append(EvaluationUserResult(error_text=f"User {item.name} already exists"))
            continue
        seen.add(key)
        user, made = new_user(platform, password_hash, name=item.name, email=item.email,
                              organization_id=caller.organization_id, admin=False, now=now)
        changes.extend(made)
        results.append(EvaluationUserResult(user_id=user.id))
    await platform.commit(changes)
    return CreateEvaluationUsersResponse(results=results)


def _evaluation_account(platform: Platform, caller: Caller, item: EvaluationAccount,
                        names: set[str]) -> tuple[EvaluationAccountResult, list[Change]]:
    user = platform.state.get(User, item.user_id)
    if user is None or not can_see_user(platform, caller, user.id):
        return EvaluationAccountResult(error_text=f"userId: unknown user {item.user_id}"), []
    template = platform.state.get(Account, item.template_account_id)
    if template is None or not can_see_account(platform, caller, template.id):
        return EvaluationAccountResult(error_text=f"templateAccountId: unknown account {item.template_account_id}"), []
    if platform.state.find(Account, item.name) is not None or item.name.lower() in names:
        return EvaluationAccountResult(error_text=f"name: account {item.name} already exists"), []
    names.add(item.name.lower())
    account, changes = new_account(platform, user=user, name=item.name, balance=item.initial_balance,
                                   now=platform.now(), evaluation_size=item.initial_balance)
    changes += _pre_trade(platform, account.id, item.pre_trade_risk or [])
    if item.post_trade_risk is not None:
        changes.extend(_post_trade(account.id, item.post_trade_risk))
    permission = changes[1].entity
    return EvaluationAccountResult(account_id=account.id, trading_permission_id=permission.id), changes


async def create_evaluation_accounts(platform: Platform, caller: Caller,
                                     req: CreateEvaluationAccounts) -> CreateEvaluationAccountsResponse:
    """Create the valid accounts of the batch in one commit; every item gets its result, in order."""
    require_admin(caller)
    results: list[EvaluationAccountResult] = []
    changes: list[Change] = []
    names: set[str] = set()
    for item in convert_items(req.accounts, EvaluationAccount):
        if isinstance(item, str):
            results.append(EvaluationAccountResult(error_text=item))
            continue
        result, made = _evaluation_account(platform, caller, item, names)
        results.append(result)
        changes.extend(made)
    await platform.commit(changes)
    return CreateEvaluationAccountsResponse(results=results)


def snapshot(platform: Platform, account_id: AccountId) -> CashBalanceSnapshot:
    """Cash, realized and open P&L and net liquidation value of an account (positions marked as the risk engine
    marks them: last trade, else mid, else the one side), the day's base and the auto-liquidation level."""
    state = platform.state
    cash = state.get(CashBalance, state.cash_of.get(account_id, 0))
    if cash is None:
        return CashBalanceSnapshot(error_text="No cash balance")
    now = platform.now()
    cash = roll_cash(cash, platform.trade_date(now), now)  # as of today's trade date, rolled or not yet
    open_pnl = to_money(marks.account_open_pnl(platform, account_id))
    net_liq = to_money(cash.amount + open_pnl)
    saved = state.get(AutoLiqState, account_id)
    rules = state.get(UserAccountAutoLiq, account_id)
    status = state.get(AccountRiskStatus, account_id)
    margin = state.get(MarginSnapshot, account_id)
    day_base = saved.day_base if saved is not None else cash.amount_sod
    level = None
    if rules is not None:
        level = evaluate(rules, Mark(
            net_liq=net_liq, day_base=day_base if day_base is not None else net_liq,
            week_base=saved.week_base if saved is not None else net_liq, now=platform.now(),
            margin_used=margin.initial_margin if margin else 0.0,
            high_water=status.max_net_liq if status else None, low_water=status.min_net_liq if status else None,
        )).auto_liq_level
    realized = cash.realized_pn_l or 0.0
    return CashBalanceSnapshot(
        total_cash_value=cash.amount, total_pn_l=to_money(realized + open_pnl),
        net_liq=net_liq, open_pn_l=open_pnl, realized_pn_l=realized,
        week_realized_pn_l=cash.week_realized_pn_l if cash.week_realized_pn_l is not None else realized,
        cash_usd=cash.amount, total_cash_value_sod=cash.amount_sod,
        net_liq_sod=day_base, initial_margin=margin.initial_margin if margin else 0.0,
        maintenance_margin=margin.maintenance_margin if margin else 0.0,
        full_initial_margin=margin.full_initial_margin if margin else 0.0, auto_liq_level=level,
    )


async def get_cash_balance_snapshot(platform: Platform, caller: Caller,
                                    req: GetCashBalanceSnapshot) -> CashBalanceSnapshot:
    if not can_see_account(platform, caller, req.account_id):
        raise not_found(f"account {req.account_id} not found")
    return snapshot(platform, req.account_id)


async def change_demo_balance(platform: Platform, caller: Caller, req: ChangeDemoBalance) -> CashBalanceSnapshot:
    require_admin_of(platform, caller, req.account_id)
    async with platform.account(req.account_id):
        state = platform.state
        account = state.table(Account)[req.account_id]
        cash = state.table(CashBalance)[state.cash_of[req.account_id]]
        if account.closed:
            return CashBalanceSnapshot(error_text="Demo account is closed")
        now = platform.now()
        amount = to_money(cash.amount + req.cash_change)
        cash = msgspec.structs.replace(roll_cash(cash, platform.trade_date(now), now), amount=amount, timestamp=now)
        log = CashBalanceLog(id=platform.ids.next("cashBalanceLog"), account_id=account.id, timestamp=now,
                             trade_date=cash.trade_date, currency_id=cash.currency_id, amount=amount,
                             cash_change_type=CashChangeType.ManualAdjustment, delta=to_money(req.cash_change),
                             comment=req.comment or "Demo Change", sender_id=caller.user_id)
        await platform.commit([updated(cash), created(log)])
    return snapshot(platform, req.account_id)


async def revoke_trading_permission(platform: Platform, caller: Caller,
                                    req: RevokeTradingPermission) -> TradingPermissionResponse:
    require_admin(caller)
    permission = platform.state.get(TradingPermission, req.trading_permission_id)
    if permission is None or not can_see_account(platform, caller,
                                                                             permission.account_id):
        raise not_found(f"tradingPermission {req.trading_permission_id} not found")
    revoked = msgspec.structs.replace(permission, status=TradingPermissionStatus.Revoked,
                                      updated=platform.now(), approved_by_id=caller.user_id)
    await platform.commit([updated(revoked)])
    return TradingPermissionResponse(trading_permission=revoked)
