"""The order lifecycle: every legal change of an order's status, and what causes it, declared once.

`TRANSITIONS` maps a status (None: the order does not exist yet) and a cause to the status that follows. A status
whose row is empty is terminal. The blotter asks `next_status` for every status it emits; a pair missing from the
table is a bug in the core (an invariant violation, raised), never a business outcome, and is never emitted.
A new status or cause (`Expired` by time in force, strategy states) is one more row or entry here.
"""

from collections.abc import Mapping
from enum import StrEnum

from tradovate_sim.model.enums import OrdStatus


class Cause(StrEnum):
    """What moves an order from one status to the next."""

    Accepted = "Accepted"  # a new order is accepted and works
    Held = "Held"  # a new bracket leg is accepted and held until its entry fills
    Released = "Released"  # its entry filled: the held leg goes to the market
    Triggered = "Triggered"  # a stop's level was reached: it now works as a market or limit order
    PartlyFilled = "PartlyFilled"  # some of the order executed, some is left
    Filled = "Filled"  # the last of the order executed
    Replaced = "Replaced"  # modified: a new version (quantity, prices) of the order
    Canceled = "Canceled"  # by its owner, a liquidation, its OCO sibling or parent, FOK / IOC
    Rejected = "Rejected"  # refused by pre-trade risk when placed
    Expired = "Expired"  # its time in force ran out (Day at the session close, GTD at expireTime)


TRANSITIONS: Mapping[OrdStatus | None, Mapping[Cause, OrdStatus]] = {
    None: {
        Cause.Accepted: OrdStatus.Working,
        Cause.Held: OrdStatus.Suspended,
        Cause.Rejected: OrdStatus.Rejected,
    },
    OrdStatus.Suspended: {
        Cause.Released: OrdStatus.Working,
        Cause.Replaced: OrdStatus.Suspended,
        Cause.Canceled: OrdStatus.Canceled,
        Cause.Expired: OrdStatus.Expired,
    },
    OrdStatus.Working: {
        Cause.Triggered: OrdStatus.Working,
        Cause.PartlyFilled: OrdStatus.Working,
        Cause.Filled: OrdStatus.Filled,
        Cause.Replaced: OrdStatus.Working,
        Cause.Canceled: OrdStatus.Canceled,
        Cause.Expired: OrdStatus.Expired,
    },
    OrdStatus.Filled: {},
    OrdStatus.Canceled: {},
    OrdStatus.Rejected: {},
    OrdStatus.Expired: {},
    OrdStatus.Completed: {},
}

NO_MOVES: Mapping[Cause, OrdStatus] = {}  # the row of a status the table does not list

TERMINAL = frozenset(status for status, row in TRANSITIONS.items() if status is not None and not row)


class IllegalTransition(Exception):  # noqa: N818 -- a bug, named for what happened, like KeyError
    """The core tried to move an order along a transition the table does not declare."""


def next_status(status: OrdStatus | None, cause: Cause) -> OrdStatus:
    """The status an order in `status` takes when `cause` happens; raises `IllegalTransition` if it cannot."""
    following = TRANSITIONS.get(status, NO_MOVES).get(cause)
    if following is None:
        raise IllegalTransition(f"an order {'not yet placed' if status is None else status} cannot be {cause}")
    return following
