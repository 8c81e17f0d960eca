"""Long answers made in slices (`service/slices.py`, `Codec.encode_slices`, `codec.joined`, `wire.response_head`,
`connection.Pieces`): the same bytes as the answer made whole, and the event loop turning between slices."""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradovate_sim import wire
from tradovate_sim.model.entities import Position, TradeDate, User
from tradovate_sim.model.enums import UserStatus
from tradovate_sim.model.ids import AccountId, ContractId, PositionId, UserId
from tradovate_sim.model.session import SyncSnapshot
from tradovate_sim.server.codec import Codec, joined
from tradovate_sim.server.connection import FRAGMENT_BYTES, Pieces
from tradovate_sim.service import endpoints, slices

CODEC = Codec(endpoints.build_all())
START = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


@pytest.fixture
async def turns() -> AsyncIterator[list[int]]:
    """Counts the turns the slices give the event loop: a callback that reschedules itself every iteration."""
    counted = [0]
    loop = asyncio.get_running_loop()
    running = [True]

    def tick() -> None:
        counted[0] += 1
        if running[0]:
            loop.call_soon(tick)

    loop.call_soon(tick)
    yield counted
    running[0] = False


def positions(count: int, micros: int) -> list[Position]:
    return [Position(id=PositionId(n), account_id=AccountId(n), contract_id=ContractId(1),
                     timestamp=START + timedelta(seconds=n, microseconds=micros * (n % 2)),
                     trade_date=TradeDate(year=2026, month=11, day=24), net_pos=n % 3 - 1, bought=1,
                     bought_value=6800.25, sold=0, sold_value=0.0, prev_pos=0) for n in range(count)]


@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 40), slice_items=st.integers(1, 9), micros=st.sampled_from([0, 452_000, 1, 999_999]))
def test_encode_slices_gives_the_bytes_of_encode_whatever_the_slice(count: int, slice_items: int,
                                                                   micros: int) -> None:
    # Arrange
    items = positions(count, micros)
    # Act
    pieces = asyncio.run(CODEC.encode_slices(items, slice_items))
    # Assert
    assert b"".join(pieces) == CODEC.encode(items)


async def test_encode_slices_lets_the_loop_turn_between_slices(turns: list[int]) -> None:
    # Arrange
    items = positions(10, 452_000)
    before = turns[0]
    # Act
    await CODEC.encode_slices(items, 3)  # 4 slices: 3 turns between them
    # Assert
    assert turns[0] - before >= 3


async def test_encode_slices_of_a_short_list_is_one_piece_without_a_turn(turns: list[int]) -> None:
    # Arrange
    items = positions(3, 0)
    before = turns[0]
    # Act
    pieces = await CODEC.encode_slices(items, 3)
    # Assert
    assert pieces == [CODEC.encode(items)]
    assert turns[0] == before


@settings(max_examples=40, deadline=None)
@given(count=st.integers(0, 30), rows=st.integers(1, 7))
def test_kept_keeps_what_a_comprehension_keeps(count: int, rows: int) -> None:
    # Arrange
    items = list(range(count))
    # Act
    found = asyncio.run(slices.kept(items, lambda n: n % 3 != 1, rows))
    # Assert
    assert found == [n for n in items if n % 3 != 1]


async def test_kept_lets_the_loop_turn_between_slices(turns: list[int]) -> None:
    # Arrange
    before = turns[0]
    # Act
    await slices.kept(list(range(10)), lambda n: True, 2)  # 5 slices
    # Assert
    assert turns[0] - before >= 4


@pytest.mark.parametrize("fields", [
    {"users": [], "contract_groups": []},
    {"users": ["u"], "contract_groups": [], "positions": 7, "accounts": 0},
    {"users": ["u"], "contract_groups": [], "admin_alert_signals": 3, "orders": 0},
])
def test_joined_gives_msgspecs_bytes_of_the_struct(fields: dict[str, object]) -> None:
    # Arrange: the snapshot's lists, some empty, the types not followed left out (None)
    user = User(id=UserId(1), name="u", timestamp=START, email="u@x", status=UserStatus.Active, professional=False)
    values = {name: ([user] if value == ["u"] else positions(value, 452_000) if isinstance(value, int) else value)
              for name, value in fields.items()}
    whole = SyncSnapshot(**values)  # type: ignore[arg-type]
    # Act
    pieces = joined(SyncSnapshot, {name: [CODEC.encode(rows)] for name, rows in values.items()})
    # Assert
    assert b"".join(pieces) == CODEC.encode(whole)


@given(request_id=st.none() | st.integers(0, 2**63 - 1), status=st.integers(100, 599))
def test_response_head_and_end_frame_data_as_response_frame_does(request_id: int | None, status: int) -> None:
    # Arrange
    data = {"orders": [1, 2], "text": "é\"x"}
    # Act
    frame = wire.response_head(request_id, status) + msgspec.json.encode(data) + wire.RESPONSE_END
    # Assert
    assert frame.decode() == wire.response_frame(request_id, status, data)


@given(sizes=st.lists(st.integers(0, FRAGMENT_BYTES + 10), max_size=12))
def test_pieces_fragments_cover_every_piece_in_order_each_of_at_least_the_fragment_size_but_the_last(
        sizes: list[int]) -> None:
    # Arrange
    parts = [bytes([65 + n % 26]) * size for n, size in enumerate(sizes)]
    pieces = Pieces(parts)
    # Act
    bounds = pieces.fragments()
    # Assert
    assert bounds[0][0] == 0 and bounds[-1][1] == len(parts)
    assert all(end == begin for (_, end), (begin, _) in itertools.pairwise(bounds))
    assert all(sum(map(len, parts[b:e])) >= FRAGMENT_BYTES for b, e in bounds[:-1])
    assert b"".join(b"".join(parts[b:e]) for b, e in bounds) == b"".join(parts)
    assert len(pieces) == sum(sizes)


def test_a_snapshot_in_pieces_is_valid_json() -> None:
    # Arrange
    values = {"users": [], "contract_groups": [], "positions": positions(5, 0)}
    # Act
    pieces = asyncio.run(CODEC.encode_slices(values["positions"], 2))
    document = json.loads(b"".join(joined(SyncSnapshot, {"users": [b"[]"], "contract_groups": [b"[]"],
                                                         "positions": pieces})))
    # Assert
    assert [p["id"] for p in document["positions"]] == [0, 1, 2, 3, 4]
    assert document["positions"][0]["timestamp"] == "2026-11-24T15:00:00.000Z"
