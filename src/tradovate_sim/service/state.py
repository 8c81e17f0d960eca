"""The current state in memory: every entity by type and id, with the indexes the handlers read.

The store is the durable copy; this is what requests read. Changes reach it only after they are committed.
"""

from collections import defaultdict
from collections.abc import Iterable

from tradovate_sim.core.blotter import DONE
from tradovate_sim.core.decision import Change
from tradovate_sim.model.entities import (
    Account,
    AccountRiskStatus,
    AutoLiqTransaction,
    CashBalance,
    CashBalanceLog,
    Command,
    CommandReport,
    Contract,
    ContractMaturity,
    Entity,
    ExecutionReport,
    Fill,
    FillFee,
    FillPair,
    Order,
    OrderVersion,
    Position,
    Product,
    ProductSession,
    TradingPermission,
    User,
    UserAccountAutoLiq,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.enums import EventType, TradingPermissionStatus

# The master of each entity type for `deps`/`ldeps`: the attribute holding the master's id.
MASTERS: dict[str, str] = {
    "account": "user_id",
    "tradingPermission": "user_id",
    "cashBalance": "account_id",
    "cashBalanceLog": "account_id",
    "accountRiskStatus": "id",
    "userAccountAutoLiq": "id",
    "userAccountPositionLimit": "account_id",
    "order": "account_id",
    "position": "account_id",
    "autoLiqTransaction": "account_id",
    "userAccountRiskParameter": "user_account_position_limit_id",
    "command": "order_id",
    "fill": "order_id",
    "orderVersion": "order_id",
    "commandReport": "command_id",
    "executionReport": "command_id",
    "fillFee": "id",
    "fillPair": "position_id",
    "contract": "contract_maturity_id",
    "contractMaturity": "product_id",
    "productSession": "id",
    "product": "exchange_id",
}

# How to find an entity's account: (attribute, None) holds the account id; (attribute, type) names a master of
# that type whose account is already known.
OWNERS: dict[type, tuple[str, str | None]] = {
    Account: ("id", None),
    AccountRiskStatus: ("id", None),
    UserAccountAutoLiq: ("id", None),
    Order: ("account_id", None),
    Position: ("account_id", None),
    CashBalance: ("account_id", None),
    CashBalanceLog: ("account_id", None),
    ExecutionReport: ("account_id", None),
    TradingPermission: ("account_id", None),
    UserAccountPositionLimit: ("account_id", None),
    AutoLiqTransaction: ("account_id", None),
    OrderVersion: ("order_id", "order"),
    Command: ("order_id", "order"),
    Fill: ("order_id", "order"),
    CommandReport: ("command_id", "command"),
    FillFee: ("id", "fill"),
    FillPair: ("position_id", "position"),
    UserAccountRiskParameter: ("user_account_position_limit_id", "userAccountPositionLimit"),
}
INDEXED = frozenset({Order, OrderVersion, Command, Fill, Position, CashBalance, TradingPermission,
                     UserAccountPositionLimit, UserAccountRiskParameter, AutoLiqTransaction, Contract, Product, User,
                     Account})

ACTIVE_PERMISSIONS = frozenset({TradingPermissionStatus.Accepted, TradingPermissionStatus.Approved})


class State:
    """Entities by type and id, plus indexes by master, account, contract and name."""

    def __init__(self) -> None:
        self.entities: dict[str, dict[int, Entity]] = defaultdict(dict)
        self.children: dict[tuple[str, int], dict[int, None]] = defaultdict(dict)
        self.account_of: dict[tuple[str, int], int] = {}
        self.working: dict[tuple[int, int], dict[int, None]] = defaultdict(dict)  # (account, contract) -> orders
        self.working_by_contract: dict[int, dict[int, None]] = defaultdict(dict)  # contract -> account ids
        self.positions: dict[tuple[int, int], int] = {}  # (account, contract) -> position id
        self.positions_of: dict[int, dict[int, int]] = defaultdict(dict)  # account -> contract -> position id
        self.open_fills: dict[tuple[int, int], dict[int, None]] = defaultdict(dict)
        self.fills_of_order: dict[int, list[int]] = defaultdict(list)
        self.new_command_of: dict[int, int] = {}
        self.latest_version: dict[int, int] = {}
        self.by_name: dict[tuple[str, str], int] = {}
        self.permissions: dict[tuple[int, int], int] = {}  # (user, account) -> active permission id
        self.cash_of: dict[int, int] = {}  # account -> cash balance id
        self.limits_of: dict[int, dict[int, None]] = defaultdict(dict)  # account -> position limit ids
        self.params_of: dict[int, dict[int, None]] = defaultdict(dict)  # limit -> risk parameter ids
        self.max_ids: dict[str, int] = defaultdict(int)
        self.closing_orders: set[int] = set()  # orders sent by liquidations

    def get(self, entity_type: str, entity_id: int) -> Entity | None:
        return self.entities[entity_type].get(entity_id)

    def load(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self.apply(change)

    def apply(self, change: Change) -> None:
        kind, entity = change.entity_type, change.entity
        table = self.entities[kind]
        entity_id: int = entity.id
        self.max_ids[kind] = max(self.max_ids[kind], entity_id)
        if change.event_type is EventType.Deleted:
            table.pop(entity_id, None)
            master = MASTERS.get(kind)
            if master is not None:
                self.children[(kind, getattr(entity, master))].pop(entity_id, None)
            return
        is_new = entity_id not in table
        table[entity_id] = entity
        if is_new:  # masters and owners never change over an entity's life
            master = MASTERS.get(kind)
            if master is not None:
                self.children[(kind, getattr(entity, master))][entity_id] = None
            account_id = self._owning_account(entity)
            if account_id is not None:
                self.account_of[(kind, entity_id)] = account_id
        if type(entity) in INDEXED:
            self._index(entity)

    def _owning_account(self, entity: Entity) -> int | None:
        rule = OWNERS.get(type(entity))
        if rule is None:
            return None
        attribute, via = rule
        value: int = getattr(entity, attribute)
        return value if via is None else self.account_of.get((via, value))

    def _index(self, entity: Entity) -> None:
        match entity:
            case Order():
                key = (entity.account_id, entity.contract_id)
                if entity.ord_status in DONE:
                    self.working[key].pop(entity.id, None)
                    if not self.working[key]:
                        del self.working[key]
                        self.working_by_contract[entity.contract_id].pop(entity.account_id, None)
                else:
                    self.working[key][entity.id] = None
                    self.working_by_contract[entity.contract_id][entity.account_id] = None
            case OrderVersion():
                self.latest_version[entity.order_id] = entity.id
            case Command():
                if entity.order_id not in self.new_command_of:
                    self.new_command_of[entity.order_id] = entity.id
            case Fill():
                if entity.id not in self.fills_of_order[entity.order_id]:
                    self.fills_of_order[entity.order_id].append(entity.id)
                account_id = self.account_of.get(("order", entity.order_id))
                if account_id is not None:
                    lots = self.open_fills[(account_id, entity.contract_id)]
                    if entity.finally_paired < entity.qty and entity.active:
                        lots[entity.id] = None
                    else:
                        lots.pop(entity.id, None)
            case Position():
                self.positions[(entity.account_id, entity.contract_id)] = entity.id
                self.positions_of[entity.account_id][entity.contract_id] = entity.id
            case CashBalance():
                self.cash_of[entity.account_id] = entity.id
            case TradingPermission():
                key = (entity.user_id, entity.account_id)
                if entity.status in ACTIVE_PERMISSIONS:
                    self.permissions[key] = entity.id
                else:
                    self.permissions.pop(key, None)
            case AutoLiqTransaction():
                if entity.order_id is not None:
                    self.closing_orders.add(entity.order_id)
            case UserAccountPositionLimit():
                self.limits_of[entity.account_id][entity.id] = None
            case UserAccountRiskParameter():
                self.params_of[entity.user_account_position_limit_id][entity.id] = None
            case Contract() | Product() | User() | Account():
                self.by_name[(type(entity).__name__, entity.name.lower())] = entity.id
            case ContractMaturity() | ProductSession():
                pass

    def find(self, kind: type[Contract | Product | User | Account], name: str) -> int | None:
        return self.by_name.get((kind.__name__, name.lower()))
