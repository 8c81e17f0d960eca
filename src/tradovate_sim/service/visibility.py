"""Who may see what: a trader sees the accounts they hold a trading permission for and what hangs off them;
an organization admin sees everything of their organization; reference data is visible to all."""

from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Account, User
from tradovate_sim.model.ids import AccountId, OrganizationId, UserId
from tradovate_sim.service.platform import Platform

REFERENCE = frozenset({"exchange", "product", "productSession", "contractMaturity", "contract", "currency"})


def organization_of_account(platform: Platform, account_id: AccountId) -> OrganizationId | None:
    account = platform.state.get("account", account_id)
    if not isinstance(account, Account):
        return None
    owner = platform.state.get("user", account.user_id)
    return owner.organization_id if isinstance(owner, User) else None


def can_see_account(platform: Platform, caller: Caller, account_id: AccountId) -> bool:
    if caller.organization_admin:
        return organization_of_account(platform, account_id) == caller.organization_id
    return (caller.user_id, account_id) in platform.state.permissions


def can_see_user(platform: Platform, caller: Caller, user_id: UserId) -> bool:
    if user_id == caller.user_id:
        return True
    user = platform.state.get("user", user_id)
    return caller.organization_admin and isinstance(user, User) and user.organization_id == caller.organization_id


def can_see(platform: Platform, caller: Caller, entity_type: str, entity_id: int) -> bool:
    if entity_type in REFERENCE:
        return True
    if entity_type == "user":
        return can_see_user(platform, caller, UserId(entity_id))
    if entity_type in ("credential", "userSession"):
        return False
    account_id = platform.state.owner(entity_type, entity_id)
    return account_id is not None and can_see_account(platform, caller, account_id)
