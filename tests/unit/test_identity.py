"""Identity: tokens and sessions follow the wall clock passed in, never the simulated clock."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tradovate_sim.model.entities import UserSession
from tradovate_sim.model.requests import AccessTokenRequest
from tradovate_sim.server.runtime import SECRET_KEY, Runtime
from tradovate_sim.service.auth import ACCESS_TOKEN_LIFETIME
from tradovate_sim.service.errors import ApiError
from tradovate_sim.service.identity import Identity

WALL = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)
SIMULATED = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class FakeWall:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
async def runtime(make_runtime: Callable[..., Awaitable[Runtime]]) -> Runtime:
    return await make_runtime()


def make_identity(runtime: Runtime, wall: FakeWall) -> Identity:
    secret = runtime.store.get_meta(SECRET_KEY)
    assert secret is not None
    return Identity(runtime.platform, secret, runtime.hashing, wall)


async def test_token_expires_after_90_minutes_of_wall_time_when_the_simulated_clock_stands_still(
        runtime: Runtime) -> None:
    # Arrange
    runtime.platform.clock.set(SIMULATED)
    wall = FakeWall(WALL)
    identity = make_identity(runtime, wall)
    login = await identity.login(AccessTokenRequest(name="admin", password="admin-pw"))
    assert login.access_token is not None
    assert login.expiration_time == WALL + ACCESS_TOKEN_LIFETIME
    # Act
    wall.moment = WALL + ACCESS_TOKEN_LIFETIME - timedelta(milliseconds=1)
    alive = identity.caller(login.access_token)
    wall.moment = WALL + ACCESS_TOKEN_LIFETIME
    # Assert
    assert alive.organization_admin
    with pytest.raises(ApiError) as refused:
        identity.caller(login.access_token)
    assert refused.value.status == 401


async def test_token_lives_on_when_the_simulated_clock_moves_days_ahead(runtime: Runtime) -> None:
    # Arrange
    runtime.platform.clock.set(SIMULATED)
    identity = make_identity(runtime, FakeWall(WALL))
    login = await identity.login(AccessTokenRequest(name="admin", password="admin-pw"))
    assert login.access_token is not None
    # Act
    runtime.platform.clock.advance(30 * 86400)
    # Assert
    assert identity.caller(login.access_token).organization_admin
    renewed = await identity.renew(identity.caller(login.access_token))
    assert renewed.expiration_time == WALL + ACCESS_TOKEN_LIFETIME


async def test_sessions_are_dated_by_the_wall_clock_when_they_start_and_end(runtime: Runtime) -> None:
    # Arrange
    runtime.platform.clock.set(SIMULATED)
    wall = FakeWall(WALL)
    identity = make_identity(runtime, wall)
    request = AccessTokenRequest(name="admin", password="admin-pw")
    first = await identity.login(request)
    # Act
    wall.moment = WALL + timedelta(minutes=5)
    await identity.login(request)
    await identity.login(request)  # the third login ends the first session
    # Assert
    sessions = sorted((s for s in runtime.platform.entities("userSession") if isinstance(s, UserSession)),
                      key=lambda s: s.id)
    assert [s.start_time for s in sessions] == [WALL, WALL + timedelta(minutes=5), WALL + timedelta(minutes=5)]
    assert [s.end_time for s in sessions] == [WALL + timedelta(minutes=5), None, None]
    assert first.access_token is not None
    with pytest.raises(ApiError):
        identity.caller(first.access_token)


async def test_a_login_whose_commit_is_in_flight_stays_open_when_the_book_is_rebuilt_meanwhile(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: two live sessions, then a third login held inside its commit
    identity = make_identity(runtime, FakeWall(WALL))
    request = AccessTokenRequest(name="admin", password="admin-pw")
    first = await identity.login(request)
    second = await identity.login(request)
    platform = runtime.platform
    commit = platform.commit
    entered, release = asyncio.Event(), asyncio.Event()

    async def held(*args: Any, **options: Any) -> int:
        entered.set()
        await release.wait()
        return await commit(*args, **options)

    monkeypatch.setattr(platform, "commit", held)
    third = asyncio.create_task(identity.login(request))
    await entered.wait()
    # Act: the book is rebuilt from memory while the commit is in flight (what following another process's
    # session rows does), then the commit lands
    identity.restore()
    release.set()
    answer = await third
    # Assert: the third session is live and the first one is ended, in the book as in memory
    assert answer.access_token is not None and first.access_token is not None and second.access_token is not None
    assert identity.caller(answer.access_token).organization_admin
    assert identity.caller(second.access_token).organization_admin
    with pytest.raises(ApiError):
        identity.caller(first.access_token)
    identity.restore()
    assert identity.caller(answer.access_token).organization_admin
    with pytest.raises(ApiError):
        identity.caller(first.access_token)
