"""Identity: tokens and sessions follow the wall clock passed in, never the simulated clock."""

import gc
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tradovate_sim.model.entities import UserSession
from tradovate_sim.model.requests import AccessTokenRequest
from tradovate_sim.server.runtime import SECRET_KEY, Runtime
from tradovate_sim.service.auth import ACCESS_TOKEN_LIFETIME, PasswordHashing
from tradovate_sim.service.errors import ApiError
from tradovate_sim.service.identity import Identity
from tradovate_sim.settings import Settings

WALL = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)
SIMULATED = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


class FakeWall:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    thresholds = gc.get_threshold()
    settings = Settings(db=f"sqlite:///{tmp_path / 'identity.db'}", quotes="manual", admin_password="admin-pw",
                        seed="none")
    made = Runtime(settings, out=io.StringIO(), hashing=PasswordHashing(time_cost=1, memory_cost=8, parallelism=1))
    await made.start()
    try:
        yield made
    finally:
        await made.stop()
        gc.unfreeze()  # Runtime.start freezes the heap and raises the thresholds
        gc.set_threshold(*thresholds)


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
