"""What the core returns: a result for the caller and the changes to commit, each one a `props` event (`Change`,
declared in model/session.py beside the other socket shapes, since the client decodes it too)."""

from typing import Generic, TypeVar

import msgspec

from tradovate_sim.model.entities import Entity
from tradovate_sim.model.enums import EventType
from tradovate_sim.model.kinds import ENTITY_TYPES
from tradovate_sim.model.session import Change

__all__ = ["Change", "Decision", "created", "deleted", "updated"]  # Change: re-exported, the core makes them

R = TypeVar("R")


# Read once: an enum member read off its class goes through `EnumType.__getattr__`'s slow attribute hook (Python
# 3.11), and every change of every decision is made here.
_CREATED, _UPDATED, _DELETED = EventType.Created, EventType.Updated, EventType.Deleted


def created(entity: Entity) -> Change:
    return Change(entity_type=ENTITY_TYPES[type(entity)], event_type=_CREATED, entity=entity)


def updated(entity: Entity) -> Change:
    return Change(entity_type=ENTITY_TYPES[type(entity)], event_type=_UPDATED, entity=entity)


def deleted(entity: Entity) -> Change:
    return Change(entity_type=ENTITY_TYPES[type(entity)], event_type=_DELETED, entity=entity)


class Decision(msgspec.Struct, Generic[R], frozen=True):
    """A decision of the core: the answer and the changes that make it true, in commit order."""

    result: R
    changes: tuple[Change, ...] = ()
