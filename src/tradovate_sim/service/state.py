"""The current state in memory: every entity by type and id, with the indexes the handlers read.

The store is the durable copy; this is what requests read. Changes reach it only after they are committed.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

from tradovate_sim.core.blotter import DONE
from tradovate_sim.core.decision import Change
from tradovate_sim.model.entities import (
    Account,
    AutoLiqTransaction,
    CashBalance,
    Command,
    Contract,
    Entity,
    Fill,
    Order,
    OrderStrategy,
    OrderVersion,
    Position,
    Product,
    TradingPermission,
    User,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.enums import EventType, OrderStrategyStatus, TimeInForce, TradingPermissionStatus
from tradovate_sim.model.ids import AccountId, CommandId, ContractId, FillId, OrderId, PositionId, UserId
from tradovate_sim.model.kinds import ENTITY_TYPES, KINDS, OwnedByAccount

# Derived from the kinds: the attribute holding each kind's master (deps/ldeps), and how to find its account: the
# attribute holding the account's id and, when that is the id of a master, that master's kind.
_MASTERS: dict[str, str] = {kind.name: kind.master for kind in KINDS if kind.master is not None}
_ACCOUNT_RULES: dict[str, tuple[str, str | None]] = {
    kind.name: (kind.owner.attribute, None if kind.owner.via is None else ENTITY_TYPES[kind.owner.via])
    for kind in KINDS if isinstance(kind.owner, OwnedByAccount)
}

E = TypeVar("E", bound=Entity)

EXPIRING = frozenset({TimeInForce.Day, TimeInForce.GTD})  # times in force that end by themselves
ACTIVE_PERMISSIONS = frozenset({TradingPermissionStatus.Accepted, TradingPermissionStatus.Approved})


class State:
    """Entities by type and id, plus indexes by master, account, contract and name."""

    def __init__(self) -> None:
        # Every kind's table, by Tradovate's name and by Struct (the same dicts).
        self.entities: dict[str, dict[int, Entity]] = defaultdict(dict)
        self.tables: dict[type, dict[int, Entity]] = {}  # keyed by the Struct
        for kind in KINDS:
            self.tables[kind.struct] = self.entities[kind.name]
        # Nested by type, then id (no tuple keys: fewer objects for the garbage collector to scan).
        self.children: dict[str, defaultdict[int, dict[int, None]]] = defaultdict(lambda: defaultdict(dict))
        self.account_of: dict[str, dict[int, AccountId]] = defaultdict(dict)  # type -> id -> owning account
        # (account, contract) -> orders
        self.working: dict[tuple[AccountId, ContractId], dict[OrderId, None]] = defaultdict(dict)
        self.working_by_contract: dict[ContractId, dict[AccountId, None]] = defaultdict(dict)  # contract -> accounts
        self.positions: dict[tuple[AccountId, ContractId], PositionId] = {}  # (account, contract) -> position
        self.positions_of: dict[AccountId, dict[ContractId, PositionId]] = defaultdict(dict)
        self.open_fills: dict[tuple[AccountId, ContractId], dict[FillId, None]] = defaultdict(dict)
        self.fills_of_order: dict[OrderId, tuple[FillId, ...]] = {}  # tuples of ints: untracked by the GC
        self.new_command_of: dict[OrderId, CommandId] = {}
        self.latest_version: dict[OrderId, int] = {}  # order -> its latest orderVersion id
        self.by_name: dict[tuple[str, str], int] = {}
        self.permissions: dict[tuple[UserId, AccountId], int] = {}  # (user, account) -> active permission id
        self.cash_of: dict[AccountId, int] = {}  # account -> cash balance id
        self.limits_of: dict[AccountId, dict[int, None]] = defaultdict(dict)  # account -> position limit ids
        self.params_of: dict[int, dict[int, None]] = defaultdict(dict)  # limit -> risk parameter ids
        self.max_ids: dict[str, int] = defaultdict(int)
        self.closing_orders: set[OrderId] = set()  # orders sent by liquidations
        self.expiring: dict[OrderId, None] = {}  # orders not done whose latest version is Day or GTD
        # (account, contract) -> active order strategies
        self.strategies: dict[tuple[AccountId, ContractId], dict[int, None]] = defaultdict(dict)
        # Per kind, the dicts a change of it touches, bound once (`apply_all`)
        self._plans: dict[str, _Bound] = {kind.name: self._bind(kind.name) for kind in KINDS}

    def owner(self, entity_type: str, entity_id: int) -> AccountId | None:
        """The account an entity belongs to, if it belongs to one."""
        return self.account_of[entity_type].get(entity_id)

    @overload
    def get(self, kind: type[E], entity_id: int) -> E | None: ...

    @overload
    def get(self, kind: str, entity_id: int) -> Entity | None: ...

    def get(self, kind: type | str, entity_id: int) -> Entity | None:
        """The entity of that kind (a Struct, typed; or Tradovate's name for it) and id, if there is one."""
        return (self.entities[kind] if isinstance(kind, str) else self.tables[kind]).get(entity_id)

    def table(self, kind: type[E]) -> Mapping[int, E]:
        """Every entity of one kind, by id."""
        return self.tables[kind]  # type: ignore[return-value]  # (not `cast`: a function call, on every read)

    def load(self, changes: Iterable[Change]) -> None:
        self.apply_all(changes)

    def apply(self, change: Change) -> None:
        self.apply_all((change,))

    def apply_all(self, changes: Iterable[Change]) -> None:
        """Apply changes in order. One loop over a commit's changes (a liquidation applies about 32), each change
        reading its kind's bound plan: the kind's table and index dicts themselves, not looked up by name again."""
        plans, max_ids, deleted = self._plans, self.max_ids, _DELETED
        for change in changes:
            kind, entity = change.entity_type, change.entity
            plan = plans.get(kind)
            if plan is None:  # a kind the registry does not declare
                plan = plans[kind] = self._bind(kind)
            table, master, children, owner, owners_of_master, owners, index = plan
            entity_id: int = entity.id
            if change.event_type is deleted:
                if entity_id > max_ids[kind]:  # noqa: PLR1730 (a comparison costs less than a call to max)
                    max_ids[kind] = entity_id
                table.pop(entity_id, None)
                if children is not None:
                    children[getattr(entity, master)].pop(entity_id, None)  # type: ignore[arg-type]
                if isinstance(entity, UserAccountPositionLimit):
                    self.limits_of[entity.account_id].pop(entity_id, None)
                elif isinstance(entity, UserAccountRiskParameter):
                    self.params_of[entity.user_account_position_limit_id].pop(entity_id, None)
                continue
            if entity_id not in table:  # masters and owners never change over an entity's life
                # (an id already in the table is at most the kind's largest: `max_ids` only grows)
                if entity_id > max_ids[kind]:  # noqa: PLR1730
                    max_ids[kind] = entity_id
                if children is not None:
                    children[getattr(entity, master)][entity_id] = None  # type: ignore[arg-type]
                if owners is not None:
                    value = getattr(entity, owner)  # type: ignore[arg-type]  # the account's id, or its master's
                    account_id: AccountId | None = value if owners_of_master is None else owners_of_master.get(value)
                    if account_id is not None:
                        owners[entity_id] = account_id
            table[entity_id] = entity
            if index is not None:
                index(self, entity)

    def _bind(self, kind: str) -> "_Bound":
        """What applying a change of `kind` touches: its table; its master's attribute and the children index; its
        owner's attribute, the owners of its master's kind (when the owner is found through a master) and its own
        owner index; its index function."""
        master, owner, via, index = _PLANS.get(kind, _NO_PLAN)
        return (self.entities[kind], master, self.children[kind] if master is not None else None, owner,
                self.account_of[via] if via is not None else None,
                self.account_of[kind] if owner is not None else None, index)

    def _index_order(self, entity: Order) -> None:
        key = (entity.account_id, entity.contract_id)
        if entity.ord_status in DONE:
            self.expiring.pop(entity.id, None)
            working = self.working.get(key)
            if working is not None:
                working.pop(entity.id, None)
                if not working:
                    del self.working[key]
                    self.working_by_contract[entity.contract_id].pop(entity.account_id, None)
        else:
            self.working[key][entity.id] = None
            self.working_by_contract[entity.contract_id][entity.account_id] = None

    def _index_version(self, entity: OrderVersion) -> None:
        self.latest_version[entity.order_id] = entity.id
        order = self.get(Order, entity.order_id)
        if entity.time_in_force in EXPIRING and not (order is not None and order.ord_status in DONE):
            self.expiring[entity.order_id] = None
        else:
            self.expiring.pop(entity.order_id, None)

    def _index_command(self, entity: Command) -> None:
        if entity.order_id not in self.new_command_of:
            self.new_command_of[entity.order_id] = entity.id

    def _index_fill(self, entity: Fill) -> None:
        fills = self.fills_of_order.get(entity.order_id, ())
        if entity.id not in fills:
            self.fills_of_order[entity.order_id] = (*fills, entity.id)
        account_id = self.account_of["order"].get(entity.order_id)
        if account_id is not None:
            lots = self.open_fills[(account_id, entity.contract_id)]
            if entity.finally_paired < entity.qty and entity.active:
                lots[entity.id] = None
            else:
                lots.pop(entity.id, None)

    def _index_position(self, entity: Position) -> None:
        self.positions[(entity.account_id, entity.contract_id)] = entity.id
        self.positions_of[entity.account_id][entity.contract_id] = entity.id

    def _index_cash(self, entity: CashBalance) -> None:
        self.cash_of[entity.account_id] = entity.id

    def _index_permission(self, entity: TradingPermission) -> None:
        key = (entity.user_id, entity.account_id)
        if entity.status in ACTIVE_PERMISSIONS:
            self.permissions[key] = entity.id
        else:
            self.permissions.pop(key, None)

    def _index_auto_liq(self, entity: AutoLiqTransaction) -> None:
        if entity.order_id is not None:
            self.closing_orders.add(entity.order_id)

    def _index_strategy(self, entity: OrderStrategy) -> None:
        key = (entity.account_id, entity.contract_id)
        if entity.status is OrderStrategyStatus.ActiveStrategy:
            self.strategies[key][entity.id] = None
        elif key in self.strategies:
            self.strategies[key].pop(entity.id, None)
            if not self.strategies[key]:
                del self.strategies[key]

    def _index_limit(self, entity: UserAccountPositionLimit) -> None:
        self.limits_of[entity.account_id][entity.id] = None

    def _index_parameter(self, entity: UserAccountRiskParameter) -> None:
        self.params_of[entity.user_account_position_limit_id][entity.id] = None

    def _index_name(self, entity: Contract | Product | User | Account) -> None:
        self.by_name[(type(entity).__name__, entity.name.lower())] = entity.id

    def find(self, kind: type[Contract | Product | User | Account], name: str) -> int | None:
        return self.by_name.get((kind.__name__, name.lower()))


# The index each entity type keeps up to date, by type.
_INDEXES: dict[type, Callable[[State, Any], None]] = {
    Order: State._index_order,
    OrderVersion: State._index_version,
    Command: State._index_command,
    Fill: State._index_fill,
    Position: State._index_position,
    CashBalance: State._index_cash,
    TradingPermission: State._index_permission,
    AutoLiqTransaction: State._index_auto_liq,
    OrderStrategy: State._index_strategy,
    UserAccountPositionLimit: State._index_limit,
    UserAccountRiskParameter: State._index_parameter,
    Contract: State._index_name,
    Product: State._index_name,
    User: State._index_name,
    Account: State._index_name,
}

# Per kind (Tradovate's name), what applying one of its changes involves: the attribute holding its master, the
# attribute holding its account (or its master's id) and that master's kind, and the index it keeps up to date.
# Every change of a kind carries that kind's Struct (`core.decision` names a change by its entity's type).
_Plan = tuple[str | None, str | None, str | None, Callable[[State, Any], None] | None]
_PLANS: dict[str, _Plan] = {
    kind.name: (_MASTERS.get(kind.name), *_ACCOUNT_RULES.get(kind.name, (None, None)), _INDEXES.get(kind.struct))
    for kind in KINDS
}
_NO_PLAN: _Plan = (None, None, None, None)
# A plan bound to one state's dicts: table, master attribute, children index, owner attribute, owners of the
# master's kind, owner index, index function
_Bound = tuple[dict[int, Entity], str | None, "defaultdict[int, dict[int, None]] | None", str | None,
               dict[int, AccountId] | None, dict[int, AccountId] | None, Callable[["State", Any], None] | None]
_DELETED = EventType.Deleted
