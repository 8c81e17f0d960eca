"""Generic entity queries, as Tradovate defines them for every entity type: item, items, list, find, deps,
ldeps, suggest. Each answers only what the caller may see; an unknown or hidden id is a 404."""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import Contract, ContractMaturity, Entity
from tradovate_sim.model.kinds import Kind
from tradovate_sim.service.errors import bad_request, not_found
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.visibility import can_see

MAX_IDS = 1000


def parse_id(query: Mapping[str, str], key: str) -> int:
    raw = query.get(key)
    if raw is None:
        raise bad_request(f"{key}: query parameter is required")
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{key}: expected an integer id, got {raw!r}") from None
    if value <= 0:
        raise bad_request(f"{key}: ids are positive integers, got {value}")
    return value


def parse_ids(query: Mapping[str, str], key: str) -> list[int]:
    raw = query.get(key)
    if raw is None:
        raise bad_request(f"{key}: query parameter is required")
    parts = [p for p in raw.split(",") if p.strip()]
    if len(parts) > MAX_IDS:
        raise bad_request(f"{key}: at most {MAX_IDS} ids")
    return [parse_id({key: p.strip()}, key) for p in parts]


def _visible(platform: Platform, caller: Caller, kind: Kind, entities: Iterable[Entity]) -> list[Entity]:
    return [e for e in entities if can_see(platform, caller, kind, e)]


def query(platform: Platform, caller: Caller, kind: Kind, operation: str,
          params: Mapping[str, str]) -> Entity | list[Entity]:
    """Answer `<kind>/<operation>?params` for `caller`."""
    entity_type = kind.name
    table = platform.state.table(kind.struct)
    match operation:
        case "item":
            entity_id = parse_id(params, "id")
            entity = table.get(entity_id)
            if entity is None or not can_see(platform, caller, kind, entity):
                raise not_found(f"{entity_type} {entity_id} not found")
            return entity
        case "items":
            ids = parse_ids(params, "ids")
            return _visible(platform, caller, kind, (table[i] for i in ids if i in table))
        case "list":
            return _visible(platform, caller, kind, table.values())
        case "find":
            name = params.get("name")
            if not name:
                raise bad_request("name: query parameter is required")
            for entity in _by_name(platform, caller, kind, name.lower(), exact=True):
                return entity
            raise not_found(f"{entity_type} named {name!r} not found")
        case "suggest":
            text = params.get("t", "").lower()
            limit = parse_id(params, "l") if "l" in params else 10
            found = _by_name(platform, caller, kind, text, exact=False)
            if kind.struct is Contract:
                found.sort(key=lambda contract: _contract_rank(platform, contract, text))
            return found[:limit]
        case "deps":
            return _deps(platform, caller, kind, [parse_id(params, "masterid")])
        case "ldeps":
            return _deps(platform, caller, kind, parse_ids(params, "masterids"))
    raise not_found(f"{entity_type}/{operation} is not an operation")


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


def _deps(platform: Platform, caller: Caller, kind: Kind, master_ids: list[int]) -> list[Entity]:
    if kind.master is None:
        raise not_found(f"{kind.name} has no master")
    table = platform.state.table(kind.struct)
    children = platform.state.children[kind.name]
    found = [table[i] for m in master_ids for i in children.get(m, {}) if i in table]
    return _visible(platform, caller, kind, found)
