"""Generic entity queries, as Tradovate defines them for every entity type: item, items, list, find, deps,
ldeps, suggest, each with its query Struct (model/queries.py). Each answers only what the caller may see; an
unknown or hidden id is a 404."""

from collections.abc import Iterable
from datetime import UTC, datetime

from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Contract, ContractMaturity, Entity
from tradovate_sim.model.kinds import Kind
from tradovate_sim.model.queries import (
    DepsQuery,
    FindQuery,
    ItemQuery,
    ItemsQuery,
    LdepsQuery,
    NoParameters,
    SuggestQuery,
)
from tradovate_sim.service import slices
from tradovate_sim.service.errors import not_found
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see, seer


def _visible(platform: Platform, caller: Caller, kind: Kind, entities: Iterable[Entity]) -> list[Entity]:
    sees = seer(platform, caller, kind)
    return [e for e in entities if sees(e)]


def item(platform: Platform, caller: Caller, kind: Kind, query: ItemQuery) -> Entity:
    entity = platform.state.table(kind.struct).get(query.id)
    if entity is None or not can_see(platform, caller, kind, entity):
        raise not_found(f"{kind.name} {query.id} not found")
    return entity


def items(platform: Platform, caller: Caller, kind: Kind, query: ItemsQuery) -> list[Entity]:
    table = platform.state.table(kind.struct)
    return _visible(platform, caller, kind, (table[i] for i in query.ids if i in table))


async def listed(platform: Platform, caller: Caller, kind: Kind, _query: NoParameters) -> list[Entity]:
    """Every entity of the kind the caller may see, as the table is at this step of the event loop (its values
    copied at once); looked through a slice at a time (`service/slices.py`)."""
    return await slices.kept(list(platform.state.table(kind.struct).values()), seer(platform, caller, kind))


def find(platform: Platform, caller: Caller, kind: Kind, query: FindQuery) -> Entity:
    for entity in _by_name(platform, caller, kind, query.name.lower(), exact=True):
        return entity
    raise not_found(f"{kind.name} named {query.name!r} not found")


def suggest(platform: Platform, caller: Caller, kind: Kind, query: SuggestQuery) -> list[Entity]:
    text = query.t.lower()
    found = _by_name(platform, caller, kind, text, exact=False)
    if kind.struct is Contract:
        found.sort(key=lambda contract: _contract_rank(platform, contract, text))
    return found[:query.l]


def deps(platform: Platform, caller: Caller, kind: Kind, query: DepsQuery) -> list[Entity]:
    return _visible(platform, caller, kind, _children(platform, kind, [query.masterid]))


async def ldeps(platform: Platform, caller: Caller, kind: Kind, query: LdepsQuery) -> list[Entity]:
    """The children of every listed master (an organization's orders of thousands of accounts at once): sliced as
    `listed` is."""
    return await slices.kept(_children(platform, kind, query.masterids), seer(platform, caller, kind))


def _by_name(platform: Platform, caller: Caller, kind: Kind, text: str, *, exact: bool) -> list[Entity]:
    found = []
    for entity in platform.state.table(kind.struct).values():
        name = getattr(entity, "name", None)
        if not isinstance(name, str):
            continue
        if (name.lower() == text) if exact else (text in name.lower()):
            found.append(entity)
    return sorted(_visible(platform, caller, kind, found), key=lambda e: e.id)


def _contract_rank(platform: Platform, contract: Entity, text: str) -> tuple[bool, bool, datetime, int]:
    """Suggested contracts: named from the text's start first (`ES` before `MES`), then those still trading, the
    nearest expiry first, so that `contract/suggest?t=ES&l=1` is the front month."""
    assert isinstance(contract, Contract)
    maturity = platform.state.get(ContractMaturity, contract.contract_maturity_id)
    expires = maturity.expiration_date if maturity is not None else datetime.max.replace(tzinfo=UTC)
    expired = expires.date() < platform.trade_date(platform.now())
    return not contract.name.lower().startswith(text), expired, expires, contract.id


def _children(platform: Platform, kind: Kind, master_ids: list[int]) -> list[Entity]:
    """Every entity of `kind` whose master is one of `master_ids`, visible or not."""
    if kind.master is None:
        raise not_found(f"{kind.name} has no master")
    table = platform.state.table(kind.struct)
    children = platform.state.children[kind.name]
    return [table[i] for m in master_ids for i in children.get(m, {}) if i in table]
