"""The entity kinds: each declared once, in an order that loads masters before what goes through them, and a
typed state built from them."""

import typing
from datetime import UTC, datetime

import pytest

from tradovate_sim.core.decision import created
from tradovate_sim.model.entities import Entity, Order, UserAccountPositionLimit, UserAccountRiskParameter
from tradovate_sim.model.enums import OrderAction, OrdStatus, TotalBy
from tradovate_sim.model.ids import AccountId, ContractId, OrderId
from tradovate_sim.model.kinds import ENTITY_TYPES, KIND_NAMED, KINDS, Kind, OwnedByAccount, Queries
from tradovate_sim.service.state import State


def test_every_entity_struct_is_declared_by_exactly_one_kind() -> None:
    structs = [kind.struct for kind in KINDS]
    assert sorted(s.__name__ for s in structs) == sorted(s.__name__ for s in typing.get_args(Entity))
    assert len(set(structs)) == len(structs)
    assert len(KIND_NAMED) == len(KINDS)
    assert {ENTITY_TYPES[kind.struct] for kind in KINDS} == set(KIND_NAMED)


def test_kinds_load_after_the_kinds_their_owner_rule_goes_through() -> None:
    position = {kind.struct: i for i, kind in enumerate(KINDS)}
    for i, kind in enumerate(KINDS):
        if isinstance(kind.owner, OwnedByAccount) and kind.owner.via is not None:
            assert position[kind.owner.via] < i, kind.name


def test_a_kind_is_refused_when_it_serves_deps_without_a_master() -> None:
    with pytest.raises(ValueError, match="master"):
        Kind(struct=Order, name="order", plural="orders", owner=OwnedByAccount("account_id"), queries=Queries.DEPS)


def test_state_answers_typed_entities_and_their_accounts_when_changes_are_applied() -> None:
    # Arrange: a risk parameter finds its account through its position limit
    now = datetime(2026, 11, 24, 15, tzinfo=UTC)
    limit = UserAccountPositionLimit(id=5, account_id=AccountId(7), active=True, total_by=TotalBy.Overall)
    parameter = UserAccountRiskParameter(id=1, user_account_position_limit_id=5)
    order = Order(id=OrderId(3), account_id=AccountId(7), contract_id=ContractId(1), timestamp=now,
                  action=OrderAction.Buy, ord_status=OrdStatus.Working, admin=False)
    state = State()
    # Act
    state.load(created(e) for e in (order, limit, parameter))
    # Assert
    assert state.get(Order, 3) is order
    assert state.get("order", 3) is order
    assert state.get(Order, 4) is None
    assert dict(state.table(UserAccountRiskParameter)) == {1: parameter}
    assert state.owner("userAccountRiskParameter", 1) == 7
