"""A `user/syncrequest` snapshot made in slices: it is the moment it was taken, and the commits that land while it
is made reach the socket once, after it (`Subscription.capture` / `collect`, `Hub.sync_request` / `release`)."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from tradovate_sim import wire
from tradovate_sim.core.decision import updated
from tradovate_sim.core.view import Caller
from tradovate_sim.model.entities import CashBalance, User
from tradovate_sim.model.ids import OrganizationId
from tradovate_sim.model.requests import SyncRequest
from tradovate_sim.model.simulator import LimitsConfig
from tradovate_sim.server.codec import Codec
from tradovate_sim.server.connection import HEARTBEAT_SECONDS, Connection, Pieces
from tradovate_sim.server.runtime import Runtime
from tradovate_sim.server.websocket import Hub
from tradovate_sim.service import endpoints, slices
from tradovate_sim.service.admission import Admission
from tradovate_sim.service.platform import Platform
from tradovate_sim.service.sync import Subscription


@pytest.fixture
async def runtime(make_runtime: Callable[..., Awaitable[Runtime]]) -> Runtime:
    return await make_runtime(seed="demo", demo_password="demo-pw")


def admin_of(platform: Platform) -> Caller:
    admin = next(u for u in platform.entities(User) if u.name == "admin")
    return Caller(user_id=admin.id, organization_id=admin.organization_id or OrganizationId(0),
                  organization_admin=True)


def hub_of(runtime: Runtime) -> Hub:
    assert runtime.services is not None
    table = endpoints.build_all()
    return Hub({"services": runtime.services}, table, Codec(table), 60.0, Admission(LimitsConfig(enabled=False)))


def following(runtime: Runtime) -> tuple[Hub, Connection]:
    """A hub that hears the platform's commits, and one socket of it (its socket is not used before it sends)."""
    hub = hub_of(runtime)
    connection = Connection(hub, None)  # type: ignore[arg-type]
    hub.connections.add(connection)
    runtime.platform.fanout.subscribers.append(hub)
    return hub, connection


def landing_on_first_turn(platform: Platform, monkeypatch: pytest.MonkeyPatch, change: CashBalance) -> list[int]:
    """Slices of one row, and the first turn of the loop lands `change` (its seq is then in the list returned)."""
    landed: list[int] = []

    async def turn() -> None:
        if not landed:
            landed.append(await platform.commit([updated(change)]))

    monkeypatch.setattr(slices, "turn", turn)
    monkeypatch.setattr(slices, "ROWS", 1)
    return landed


def richer(platform: Platform) -> tuple[CashBalance, CashBalance]:
    """A cash balance the admin follows, and the same one a dollar richer."""
    cash = next(iter(platform.entities(CashBalance)))
    return cash, msgspec.structs.replace(cash, amount=cash.amount + 1.0)


def amounts(document: dict[str, Any]) -> dict[int, float]:
    return {c["id"]: c["amount"] for c in document["cashBalances"]}


async def test_snapshot_is_the_moment_it_was_captured_when_commits_land_while_it_is_collected(
        runtime: Runtime) -> None:
    # Arrange
    platform = runtime.platform
    cash, more = richer(platform)
    subscription = Subscription(platform, admin_of(platform), SyncRequest())
    captured = subscription.capture()
    await platform.commit([updated(more)])  # lands after the capture
    # Act
    fields = await subscription.collect(captured)
    # Assert
    assert cash in fields["cash_balances"]
    assert more not in fields["cash_balances"]
    assert platform.state.get(CashBalance, cash.id) == more


async def test_commits_landing_while_the_snapshot_is_made_reach_the_socket_once_after_it(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: every table looked through a row at a time; the first turn of the loop lands a commit
    platform = runtime.platform
    hub, connection = following(runtime)
    cash, more = richer(platform)
    landed = landing_on_first_turn(platform, monkeypatch, more)
    # Act
    snapshot = await hub.sync_request(connection, admin_of(platform), SyncRequest())
    held = list(connection.held or [])
    pushed_before_reply = list(connection.frames)
    connection.reply(7, 200, snapshot)
    # Assert: the commit landed while the snapshot was made; it was held, then sent after the reply
    assert landed and len(held) == 1
    assert pushed_before_reply == []
    reply, event = connection.frames
    assert isinstance(reply, Pieces) and isinstance(event, str)
    frame = json.loads(b"".join(reply.parts)[1:])
    assert frame[0]["s"] == 200 and frame[0]["i"] == 7
    assert amounts(frame[0]["d"])[cash.id] == cash.amount
    props = json.loads(event[1:])
    assert [(p["e"], p["d"]["entityType"], p["d"]["entity"]["amount"]) for p in props] == \
        [("props", "cashBalance", more.amount)]
    assert connection.held is None
    # ... and the next commit goes straight out
    await platform.commit([updated(msgspec.structs.replace(more, amount=more.amount + 1.0))])
    assert len(connection.frames) == 3


async def test_a_failed_snapshot_leaves_the_socket_without_a_subscription(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    platform = runtime.platform
    hub = hub_of(runtime)
    connection = Connection(hub, None)  # type: ignore[arg-type]

    async def broken() -> None:
        raise RuntimeError("a bug while the snapshot is made")

    monkeypatch.setattr(slices, "turn", broken)
    monkeypatch.setattr(slices, "ROWS", 1)
    # Act
    with pytest.raises(RuntimeError):
        await hub.sync_request(connection, admin_of(platform), SyncRequest())
    # Assert: a later syncrequest on the socket is allowed, and nothing is held for it
    assert connection.subscription is None
    assert connection.held is None


async def test_a_long_list_asked_on_a_following_socket_comes_before_the_commits_that_land_while_it_is_made(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: a socket that follows the organization asks `cashBalance/list`, looked through a row at a time; the
    # first turn of the loop lands a commit
    platform = runtime.platform
    hub, connection = following(runtime)
    caller = admin_of(platform)
    connection.reply(1, 200, await hub.sync_request(connection, caller, SyncRequest()))
    connection.frames.clear()
    cash, more = richer(platform)
    landed = landing_on_first_turn(platform, monkeypatch, more)
    request = wire.Request(endpoint="cashBalance/list", id=8, query="", body="")
    # Act
    answer = await hub.call(connection, caller, hub.table.get("cashbalance/list"), request)
    connection.reply(8, 200, answer)
    # Assert: the list is the moment it was asked, and the commit's event follows it
    assert landed
    reply, event = connection.frames
    assert isinstance(reply, str) and isinstance(event, str)
    listed = json.loads(reply[1:])[0]["d"]
    assert {c["id"]: c["amount"] for c in listed}[cash.id] == cash.amount
    assert [p["d"]["entity"]["amount"] for p in json.loads(event[1:])] == [more.amount]
    assert connection.held is None


async def test_a_socket_whose_request_is_being_answered_is_not_closed_for_silence(runtime: Runtime) -> None:
    # Arrange: a socket silent for longer than the timeout (its frames are not read while its request is answered)
    hub = hub_of(runtime)
    hub.timeout = 0.1
    connection = Connection(hub, None)  # type: ignore[arg-type]
    connection.caller = admin_of(runtime.platform)
    connection.last_received -= 10.0
    connection.handling = True
    watching = asyncio.create_task(hub.watch(connection))
    # Act
    await asyncio.sleep(HEARTBEAT_SECONDS)  # two looks of the watch
    kept = connection.closing
    connection.handling = False
    await asyncio.sleep(HEARTBEAT_SECONDS)
    # Assert
    watching.cancel()
    if connection.deadline is not None:  # (the forced close that would follow: this socket has nothing to close)
        connection.deadline.cancel()
    assert kept is None
    assert connection.closing is not None and connection.closing[0] == 4002
