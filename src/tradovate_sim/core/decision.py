"""What the core returns: a result for the caller and the changes to commit, each one a `props` event."""

from typing import Generic, TypeVar

import msgspec

from tradovate_sim.model.entities import Entity, Wire
from tradovate_sim.model.enums import EventType
from tradovate_sim.model.kinds import ENTITY_TYPES

R = TypeVar("R")


class Change(Wire, frozen=True):
    """One entity change; encoded, it is exactly the `d` of a WebSocket `props` event."""

    entity_type: str
    event_type: EventType
    entity: Entity


def created(entity: Entity) -> Change:
    return Change(entity_type=ENTITY_TYPES[type(entity)], event_type=EventType.Created, entity=entity)


def updated(entity: Entity) -> Change:
    return Change(entity_type=ENTITY_TYPES[type(entity)], event_type=EventType.Updated, entity=entity)


def deleted(entity: Entity) -> Change:
    return Change(entity_type=ENTITY_TYPES[type(entity)], event_type=EventType.Deleted, entity=entity)


class Decision(msgspec.Struct, Generic[R], frozen=True):
    """A decision of the core: the answer and the changes that make it true, in commit order."""

    result: R
    changes: tuple[Change, ...] = ()
