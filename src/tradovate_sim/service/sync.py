"""`user/syncrequest`: which accounts and entity types a socket follows, its snapshot, and which committed
changes it receives afterwards as `props` events.

Contracts, their maturities, products and exchanges reach a socket only once it knows them: the snapshot holds
those of the orders and positions it follows, and so does the stream. A change of one of them goes only to the
sockets whose snapshot or earlier events held it; an order or position in a contract the socket does not know yet
is preceded by that contract's (and its maturity's, product's, exchange's) `Created` events.
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

import msgspec

from tradovate_sim.core.decision import Change, created
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import (
    Account,
    Contract,
    ContractMaturity,
    Entity,
    Exchange,
    Order,
    Position,
    Product,
    TradingPermission,
    User,
)
from tradovate_sim.model.ids import AccountId, ContractId, UserId
from tradovate_sim.model.kinds import KIND_NAMED, KINDS
from tradovate_sim.model.requests import SyncRequest
from tradovate_sim.model.session import SyncSnapshot
from tradovate_sim.service import slices
from tradovate_sim.service.errors import bad_request
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import ADMINS_ONLY, REFERENCE, can_see_account, organization_of_account

DEFAULT_TYPES = tuple(kind.name for kind in KINDS if kind.synced)
ACCESS_TYPES = frozenset({"tradingPermission"})  # the changes that can end a caller's sight of an account
INSTRUMENT_TYPES = ("exchange", "product", "contractMaturity", "contract")  # sent only to sockets that know them
IN_CONTRACT = frozenset({"order", "position"})  # kinds whose contract a socket must know before them
_FIELD_OF_PLURAL = {field.encode_name: field.name for field in msgspec.structs.fields(SyncSnapshot)}


def _id(entity: Entity) -> int:
    return entity.id


def _owned_by(owners: dict[int, AccountId], accounts: set[AccountId]) -> Callable[[Entity], bool]:
    return lambda entity: owners.get(entity.id) in accounts


class Captured(NamedTuple):
    """What a snapshot is made from (`Subscription.capture`)."""

    tables: dict[str, dict[int, Entity]]  # each followed kind's (instruments and users aside)
    accounts: list[Account]
    users: dict[int, Entity]


def plural(entity_type: str) -> str:
    return KIND_NAMED[entity_type].plural


class Subscription:
    """What one socket follows: a set of accounts and users, and entity types."""

    def __init__(self, platform: Platform, caller: Caller, req: SyncRequest) -> None:
        self.platform = platform
        self.caller = caller
        self.types = frozenset(req.entity_types) if req.entity_types else frozenset(DEFAULT_TYPES)
        unknown = self.types - frozenset(DEFAULT_TYPES)
        if unknown:
            raise bad_request(f"entityTypes: unknown entity types {sorted(unknown)}")
        if not caller.organization_admin:  # the risk desk's alerts are not the trader's to see
            self.types -= ADMINS_ONLY
        shard = req.sharding_expression
        if shard is not None:
            if shard.expression_type not in ("modAccountId", "modUserId"):
                raise bad_request("shardingExpression.expressionType: expected modAccountId or modUserId")
            if shard.divisor <= 0 or not 0 <= shard.remainder < shard.divisor:
                raise bad_request("shardingExpression: divisor > 0 and 0 <= remainder < divisor required")
        self.shard = shard
        self.wanted_accounts = frozenset(req.accounts) if req.accounts else None
        self.wanted_users = frozenset(req.users) if req.users else None
        # the accounts and users followed: found by `collect` among those `capture` took; those created later join
        # as their changes are selected (`admits`)
        self.accounts: set[AccountId] = set()
        self.users: set[UserId] = {caller.user_id}
        # the instruments this socket was sent (snapshot or events), by kind: only their changes reach it
        self.known: dict[str, set[int]] = {kind: set() for kind in INSTRUMENT_TYPES}

    def follows_account(self, account: Account) -> bool:
        if not can_see_account(self.platform, self.caller, account.id):
            return False
        if self.wanted_accounts is not None and account.id not in self.wanted_accounts:
            return False
        if self.wanted_users is not None and account.user_id not in self.wanted_users:
            return False
        if self.shard is not None:
            key = account.id if self.shard.expression_type == "modAccountId" else account.user_id
            return key % self.shard.divisor == self.shard.remainder
        return True

    def capture(self) -> "Captured":
        """What the snapshot is made of, taken at one step of the event loop: the accounts, the users and each
        followed kind's table as they are (copies, one C-level pass each; the instruments aside, read when the
        snapshot is done). Commits that land while `collect` looks through it change the live tables, not these: the
        snapshot is this moment's, and those commits reach the socket after it."""
        state = self.platform.state
        tables = {t: state.entities[t].copy() for t in self.types if t not in INSTRUMENT_TYPES and t != "user"}
        return Captured(tables, list(self.platform.state.table(Account).values()), state.tables[User].copy())

    async def collect(self, captured: "Captured") -> dict[str, list[Entity]]:
        """The accounts and users followed among `captured`'s, then everything followed in it, keyed by
        `SyncSnapshot`'s field names; each table looked through a slice at a time (`service/slices.py`). Then the
        contracts (and their maturities, products and exchanges) of the orders and positions in it, which the
        socket knows from then on."""
        followed = await slices.kept(captured.accounts, self.follows_account)
        self.accounts = {a.id for a in followed}
        self.users = {self.caller.user_id} | {a.user_id for a in followed}
        owners_of = self.platform.state.account_of
        out: dict[str, list[Entity]] = {plural(t): [] for t in self.types}
        out.setdefault("users", [])
        out.setdefault("contractGroups", [])
        for entity_type, table in captured.tables.items():
            if entity_type in REFERENCE:  # currencies, order strategy types: all of them
                out[plural(entity_type)] = list(table.values())
                continue
            rows = await slices.kept(list(table.values()), _owned_by(owners_of[entity_type], self.accounts))
            rows.sort(key=_id)
            out[plural(entity_type)] = rows
            await slices.turn()  # (many short tables are as long as one long one)
        if "user" in self.types:
            out["users"] = [captured.users[i] for i in sorted(self.users) if i in captured.users]
        self._reference(out)
        return {_FIELD_OF_PLURAL[plural]: rows for plural, rows in out.items()}

    def _reference(self, out: dict[str, list[Entity]]) -> None:
        """Contracts (and their maturities, products, exchanges) of the orders and positions followed."""
        state = self.platform.state
        contract_ids = {e.contract_id for e in (*out.get("orders", []), *out.get("positions", []))
                        if isinstance(e, Order | Position)}
        contracts = [c for c in (state.get(Contract, i) for i in sorted(contract_ids)) if c is not None]
        maturities = [m for m in (state.get(ContractMaturity, c.contract_maturity_id) for c in contracts)
                      if m is not None]
        products = [p for p in (state.get(Product, i) for i in sorted({m.product_id for m in maturities}))
                    if p is not None]
        exchanges = [e for e in (state.get(Exchange, i) for i in sorted({p.exchange_id for p in products}))
                     if e is not None]
        rows: Sequence[Sequence[Entity]] = (contracts, maturities, products, exchanges)
        for kind, found in zip(("contract", "contractMaturity", "product", "exchange"), rows, strict=True):
            self.known[kind].update(e.id for e in found)
            if kind in self.types:
                out[plural(kind)] = list(found)

    def admits(self, change: Change) -> bool:
        """Whether a committed change goes to this socket."""
        kind = change.entity_type
        if kind not in self.types:
            return False
        if kind == "account":
            account = change.entity
            assert isinstance(account, Account)
            if account.id not in self.accounts and self.follows_account(account):
                self.accounts.add(account.id)  # a new account joins a socket that follows its owner or org
            return account.id in self.accounts
        if kind == "user":
            return change.entity.id in self.users
        if kind in REFERENCE:
            known = self.known.get(kind)
            return known is None or change.entity.id in known
        account_id = self.platform.state.owner(kind, change.entity.id)
        if account_id is not None and account_id not in self.accounts and self.wanted_accounts is None and \
                organization_of_account(self.platform, account_id) is not None:
            owner = self.platform.state.get(Account, account_id)
            if owner is not None and self.follows_account(owner):
                self.accounts.add(account_id)
        return account_id in self.accounts

    def select(self, changes: Sequence[Change], recheck: bool = False,
               contracts: frozenset[int] | None = None) -> list[Change]:
        """The changes this socket receives. `recheck` (the batch may change who sees what, see `changes_access`)
        first drops the accounts the caller may no longer see; the revocation of the caller's own permission is the
        last thing it receives about such an account. `contracts`: `contracts_in(changes)`, computed once for every
        socket."""
        lost = self.drop_unseen() if recheck else frozenset()
        if lost:
            selected = [c for c in changes if self.admits(c) or self.is_own_revocation(c, lost)]
        else:
            selected = [c for c in changes if self.admits(c)]
        if contracts is None:
            contracts = contracts_in(changes)
        if selected and contracts and not contracts <= self.known["contract"]:
            return self._introducing(selected)
        return selected

    def _introducing(self, selected: list[Change]) -> list[Change]:
        """`selected` with the contracts its orders and positions are in introduced before them where unknown."""
        contracts = self.known["contract"]
        introduced: list[Change] = []
        for change in selected:
            entity = change.entity
            if isinstance(entity, Order | Position) and entity.contract_id not in contracts:
                introduced += self.introduce(entity.contract_id)
            introduced.append(change)
        return introduced

    def introduce(self, contract_id: ContractId) -> list[Change]:
        """`Created` events of a contract the socket does not know yet and of its maturity, product and exchange
        (those it does not know either), masters first; from now on it receives their changes."""
        state = self.platform.state
        contract = state.get(Contract, contract_id)
        maturity = None if contract is None else state.get(ContractMaturity, contract.contract_maturity_id)
        product = None if maturity is None else state.get(Product, maturity.product_id)
        exchange = None if product is None else state.get(Exchange, product.exchange_id)
        introduced: list[Change] = []
        for kind, entity in zip(INSTRUMENT_TYPES, (exchange, product, maturity, contract), strict=True):
            if entity is not None and entity.id not in self.known[kind]:
                self.known[kind].add(entity.id)
                if kind in self.types:
                    introduced.append(created(entity))
        return introduced

    def drop_unseen(self) -> frozenset[AccountId]:
        """Stop following the accounts the caller may no longer see (a revoked trading permission); those accounts."""
        lost = frozenset(a for a in self.accounts if not can_see_account(self.platform, self.caller, a))
        if lost:
            self.accounts -= lost
            owners = (self.platform.state.get("account", a) for a in self.accounts)
            self.users = {self.caller.user_id} | {a.user_id for a in owners if isinstance(a, Account)}
        return lost

    def is_own_revocation(self, change: Change, lost: frozenset[AccountId]) -> bool:
        permission = change.entity
        return change.entity_type in self.types and isinstance(permission, TradingPermission) and \
            permission.account_id in lost and permission.user_id == self.caller.user_id


def contracts_in(changes: Sequence[Change]) -> frozenset[int]:
    """The contracts of a committed batch's orders and positions (a socket must know them before those)."""
    return frozenset(entity.contract_id for c in changes
                     if c.entity_type in IN_CONTRACT and isinstance(entity := c.entity, Order | Position))


def changes_access(changes: Sequence[Change]) -> bool:
    """Whether a committed batch may take an account away from someone who saw it (then `select` rechecks)."""
    return any(c.entity_type in ACCESS_TYPES for c in changes)
