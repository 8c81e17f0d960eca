"""Who may see what: a trader sees the accounts they hold a trading permission for and what hangs off them;
an organization admin sees everything of their organization; reference data is visible to all. Each kind's owner
rule (`model.kinds`) says which of these applies."""

from collections.abc import Callable

from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Account, Entity, User
from tradovate_sim.model.ids import AccountId, OrganizationId, UserId
from tradovate_sim.model.kinds import (
    KINDS,
    Internal,
    Kind,
    OwnedByAccount,
    OwnedByOrganization,
    OwnedByUser,
    Reference,
)
from tradovate_sim.service.errors import denied, not_found
from tradovate_sim.service.platform import Platform

REFERENCE = frozenset(kind.name for kind in KINDS if isinstance(kind.owner, Reference))
ADMINS_ONLY = frozenset(kind.name for kind in KINDS
                        if isinstance(kind.owner, OwnedByAccount) and kind.owner.admins_only)


def organization_of_account(platform: Platform, account_id: AccountId) -> OrganizationId | None:
    account = platform.state.get(Account, account_id)
    if account is None:
        return None
    owner = platform.state.get(User, account.user_id)
    return owner.organization_id if owner is not None else None


def can_see_account(platform: Platform, caller: Caller, account_id: AccountId) -> bool:
    if caller.organization_admin:
        return organization_of_account(platform, account_id) == caller.organization_id
    return (caller.user_id, account_id) in platform.state.permissions


def require_admin(caller: Caller, message: str = "Access is denied") -> None:
    """A 401 unless the caller is an organization admin (the risk desk's and the provisioning operations)."""
    if not caller.organization_admin:
        raise denied(message)


def require_admin_of(platform: Platform, caller: Caller, account_id: AccountId) -> None:
    """An organization admin acting on an account of their organization: a 401 for anyone else, a 404 for an
    account they cannot see (as if it did not exist)."""
    require_admin(caller)
    if not can_see_account(platform, caller, account_id):
        raise not_found(f"account {account_id} not found")


def can_see_user(platform: Platform, caller: Caller, user_id: UserId) -> bool:
    if user_id == caller.user_id:
        return True
    user = platform.state.get(User, user_id)
    return caller.organization_admin and user is not None and user.organization_id == caller.organization_id


def can_see(platform: Platform, caller: Caller, kind: Kind, entity: Entity) -> bool:
    match kind.owner:
        case Reference():
            return True
        case Internal():
            return False
        case OwnedByUser(attribute=attribute):
            return can_see_user(platform, caller, getattr(entity, attribute))
        case OwnedByOrganization(attribute=attribute):
            return bool(getattr(entity, attribute) == caller.organization_id)
        case OwnedByAccount(admins_only=admins_only):
            if admins_only and not caller.organization_admin:
                return False
            account_id = platform.state.owner(kind.name, entity.id)
            return account_id is not None and can_see_account(platform, caller, account_id)


def seer(platform: Platform, caller: Caller, kind: Kind) -> Callable[[Entity], bool]:
    """`can_see` for many entities of one kind: the kind's rule is read once, and each account's answer once (a
    list of an organization's orders asks about the same few thousand accounts tens of thousands of times)."""
    owner = kind.owner
    if not isinstance(owner, OwnedByAccount) or (owner.admins_only and not caller.organization_admin):
        return lambda entity: can_see(platform, caller, kind, entity)
    owners = platform.state.account_of[kind.name]
    answers: dict[AccountId, bool] = {}

    def sees(entity: Entity) -> bool:
        account_id = owners.get(entity.id)
        if account_id is None:
            return False
        seen = answers.get(account_id)
        if seen is None:
            seen = answers[account_id] = can_see_account(platform, caller, account_id)
        return seen
    return sees
