"""An account's auto-liquidation rules (`userAccountAutoLiq`, id = account id) and the trader's copy of them
(`permissionedAccountAutoLiq`): `create`, `update`, `updateuserautoliq` and the batch `updateuserautoliqs`.

Who may change them: an organization admin always; the account's trader (an active trading permission) while
`changesLocked` is not set, and never `changesLocked` itself. Nobody else sees them (404). A refusal that needs the
account's state is an `errorText` with nothing changed; a malformed body is a 400 naming the field. Every change
writes both entities in one commit; the auto-liquidation engine re-evaluates the account when it lands.
"""

from contextlib import AsyncExitStack
from typing import Any

import msgspec

from tradovate_sim.core.decision import Change, created, updated
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import (
    Account,
    AccountRiskStatus,
    CashBalance,
    PermissionedAccountAutoLiq,
    PostTradeRisk,
    UserAccountAutoLiq,
)
from tradovate_sim.model.ids import AccountId
from tradovate_sim.model.requests import UpdateUserAutoLiq, UpdateUserAutoLiqs
from tradovate_sim.model.results import SimpleResponse, UpdateUserAutoLiqResponse, UpdateUserAutoLiqsResponse
from tradovate_sim.service.accounts import convert_items
from tradovate_sim.service.errors import not_found
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see_account

# Each rule's Python name, by its name on the wire.
RULE_OF_FIELD: dict[str, str] = {f.encode_name: f.name for f in msgspec.structs.fields(PostTradeRisk)}


def _current(platform: Platform, account_id: AccountId) -> UserAccountAutoLiq | None:
    return platform.state.get(UserAccountAutoLiq, account_id)


def _refusal(platform: Platform, caller: Caller, current: UserAccountAutoLiq | None,
             rules: UserAccountAutoLiq) -> str | None:
    """Why `caller` may not make `rules` the account's rules, or None."""
    name = platform.state.table(Account)[rules.id].name
    if not caller.organization_admin:
        if current is not None and current.changes_locked:
            return f"Changes to the risk rules of account {name} are locked"
        if rules.changes_locked:
            return "changesLocked: only an organization admin can lock changes"
    return _trailing_refusal(platform, rules)


def _trailing_refusal(platform: Platform, rules: UserAccountAutoLiq) -> str | None:
    drawdown, limit = rules.trailing_max_drawdown, rules.trailing_max_drawdown_limit
    if drawdown is None:
        if limit is not None:
            return "trailingMaxDrawdownLimit: needs trailingMaxDrawdown"
        if rules.trailing_max_drawdown_mode is not None:
            return "trailingMaxDrawdownMode: needs trailingMaxDrawdown"
        return None
    if limit is None:
        return None
    state = platform.state
    status = state.table(AccountRiskStatus)[rules.id]
    high_water = status.max_net_liq
    if high_water is None:
        high_water = state.table(CashBalance)[state.cash_of[rules.id]].amount
    level = high_water - drawdown
    if limit < level:
        return (f"trailingMaxDrawdownLimit: {limit:g} is below the current liquidation level {level:g} "
                f"(high-water net liquidation value {high_water:g} - trailingMaxDrawdown {drawdown:g})")
    return None


def _changes(platform: Platform, rules: UserAccountAutoLiq) -> list[Change]:
    state = platform.state
    copy = PermissionedAccountAutoLiq.copy_of(rules)
    return [updated(rules) if state.get(UserAccountAutoLiq, rules.id) is not None else created(rules),
            updated(copy) if state.get(PermissionedAccountAutoLiq, rules.id) is not None else created(copy)]


def _visible(platform: Platform, caller: Caller, account_id: AccountId) -> bool:
    return platform.state.get(Account, account_id) is not None and can_see_account(platform, caller, account_id)


async def _write(platform: Platform, caller: Caller, rules: UserAccountAutoLiq, *,
                 exists: bool | None) -> UserAccountAutoLiq | SimpleResponse:
    """Make `rules` the account's rules (`exists`: True for update, False for create, None for either)."""
    if not _visible(platform, caller, rules.id):
        raise not_found(f"account {rules.id} not found")
    async with platform.account(rules.id):
        current = _current(platform, rules.id)
        if exists is False and current is not None:
            return SimpleResponse(ok=False, error_text=f"userAccountAutoLiq {rules.id} already exists: use update")
        if exists is True and current is None:
            return SimpleResponse(ok=False, error_text=f"userAccountAutoLiq {rules.id} does not exist: use create")
        refusal = _refusal(platform, caller, current, rules)
        if refusal is not None:
            return SimpleResponse(ok=False, error_text=refusal)
        await platform.commit(_changes(platform, rules))
    return rules


async def create(platform: Platform, caller: Caller, rules: UserAccountAutoLiq) -> UserAccountAutoLiq | SimpleResponse:
    return await _write(platform, caller, rules, exists=False)


async def update(platform: Platform, caller: Caller, rules: UserAccountAutoLiq) -> UserAccountAutoLiq | SimpleResponse:
    """Replace the account's whole rule set: a rule the body omits is off."""
    return await _write(platform, caller, rules, exists=True)


def merged(current: UserAccountAutoLiq | None, request: UpdateUserAutoLiq) -> UserAccountAutoLiq:
    """The rules after `updateuserautoliq`: the fields present in the body (null: off), the others as they were."""
    fields: dict[str, Any] = msgspec.structs.asdict(current) if current is not None else {}
    fields.pop("id", None)
    for name in RULE_OF_FIELD.values():
        value = getattr(request, name)
        if value is not msgspec.UNSET:
            fields[name] = value
    return UserAccountAutoLiq(id=request.account_id, **fields)


async def update_user_auto_liq(platform: Platform, caller: Caller,
                               request: UpdateUserAutoLiq) -> UpdateUserAutoLiqResponse:
    if not _visible(platform, caller, request.account_id):
        raise not_found(f"account {request.account_id} not found")
    async with platform.account(request.account_id):
        current = _current(platform, request.account_id)
        rules = merged(current, request)
        refusal = _refusal(platform, caller, current, rules)
        if refusal is not None:
            return UpdateUserAutoLiqResponse(error_text=refusal)
        await platform.commit(_changes(platform, rules))
    return UpdateUserAutoLiqResponse(user_account_auto_liq=rules,
                                     permissioned_account_auto_liq=PermissionedAccountAutoLiq.copy_of(rules))


async def update_user_auto_liqs(platform: Platform, caller: Caller,
                                req: UpdateUserAutoLiqs) -> UpdateUserAutoLiqsResponse:
    """Each item as `updateuserautoliq`; every item gets its answer, in order (an `errorText` for one that is not
    applied: malformed, an account the caller cannot see, a refusal, an account named twice); the valid items are
    applied in one commit."""
    items = convert_items(req.items, UpdateUserAutoLiq)
    accounts = sorted({item.account_id for item in items if isinstance(item, UpdateUserAutoLiq)
                       and _visible(platform, caller, item.account_id)})
    results: list[UpdateUserAutoLiqResponse] = []
    changes: list[Change] = []
    seen: set[AccountId] = set()
    async with AsyncExitStack() as stack:
        for account_id in accounts:  # in id order: two batches never wait for each other crosswise
            await stack.enter_async_context(platform.account(account_id))
        for item in items:
            if isinstance(item, str):
                results.append(UpdateUserAutoLiqResponse(error_text=item))
                continue
            if not _visible(platform, caller, item.account_id):
                results.append(UpdateUserAutoLiqResponse(error_text=f"accountId: unknown account {item.account_id}"))
                continue
            if item.account_id in seen:
                results.append(UpdateUserAutoLiqResponse(
                    error_text=f"accountId: account {item.account_id} appears more than once in the batch"))
                continue
            seen.add(item.account_id)
            current = _current(platform, item.account_id)
            rules = merged(current, item)
            refusal = _refusal(platform, caller, current, rules)
            if refusal is not None:
                results.append(UpdateUserAutoLiqResponse(error_text=refusal))
                continue
            changes.extend(_changes(platform, rules))
            results.append(UpdateUserAutoLiqResponse(
                user_account_auto_liq=rules, permissioned_account_auto_liq=PermissionedAccountAutoLiq.copy_of(rules)))
        await platform.commit(changes)
    return UpdateUserAutoLiqsResponse(user_auto_liqs=results)
