"""What the core returns: a result for the caller and the changes to commit, each one a `props` event (`Change`,
declared in model/session.py beside the other socket shapes, since the client decodes it too)."""

from collections.abc import Iterator, Sequence
from itertools import compress
from operator import attrgetter
from typing import Generic, TypeVar

import msgspec

from tradovate_sim.model.entities import Entity
from tradovate_sim.model.enums import EventType
from tradovate_sim.model.kinds import ENTITY_TYPES
from tradovate_sim.model.session import Change

# Change: re-exported, the core makes them
__all__ = ["Change", "Decision", "created", "deleted", "of_kinds", "updated"]

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


_KIND = attrgetter("entity_type")


def of_kinds(changes: Sequence[Change], kinds: frozenset[str]) -> Iterator[Change]:
    """The changes whose entity type is one of `kinds`, in order. Filtered in C (`compress` over the types' membership):
    a subscriber that reads a few kinds of a commit's changes takes no Python step for each of the others."""
    return compress(changes, map(kinds.__contains__, map(_KIND, changes)))


class Decision(msgspec.Struct, Generic[R], frozen=True):
    """A decision of the core: the answer and the changes that make it true, in commit order."""

    result: R
    changes: tuple[Change, ...] = ()
