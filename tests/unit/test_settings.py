"""`--db` forms: a plain file path, `sqlite:///relative`, `sqlite:////absolute`; anything else is one clear error.
`--clock`: wall time, or frozen at a time within the calendar."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tradovate_sim.server.runtime import StartupError, start_clock
from tradovate_sim.settings import Settings, from_environment


@pytest.mark.parametrize(("db", "path"), [
    ("sqlite:///tradovate-sim.db", Path("tradovate-sim.db")),
    ("sqlite:///data/sim.db", Path("data/sim.db")),
    ("sqlite:////abs/dir/sim.db", Path("/abs/dir/sim.db")),
    ("/abs/dir/sim.db", Path("/abs/dir/sim.db")),
    ("data/sim.db", Path("data/sim.db")),
    ("sim.db", Path("sim.db")),
])
def test_sqlite_path_is_the_file_when_db_is_a_url_or_a_plain_path(db: str, path: Path) -> None:
    assert Settings(db=db).sqlite_path == path


def test_sqlite_path_expands_home_when_db_starts_with_a_tilde() -> None:
    assert Settings(db="~/sim.db").sqlite_path == Path.home() / "sim.db"


@pytest.mark.parametrize("db", ["mysql://localhost/sim", "sqlite://sim.db", "sqlite:///", "", ":memory:",
                                "sqlite:///:memory:", "data/"])
def test_settings_refuse_db_naming_it_when_it_is_no_database_file(db: str) -> None:
    with pytest.raises(ValueError, match=r"^--db: expected .*" + re.escape(repr(db))):
        from_environment({"db": db}, environ={})


def test_password_hashing_is_argon2id_unless_the_variable_says_fast() -> None:
    assert from_environment({}, environ={}).password_hashing == "argon2id"
    assert from_environment({}, environ={"TRADOVATE_SIM_PASSWORD_HASHING": "fast"}).password_hashing == "fast"
    with pytest.raises(ValueError, match=r"^password-hashing: expected argon2id or fast, got 'md5'"):
        from_environment({}, environ={"TRADOVATE_SIM_PASSWORD_HASHING": "md5"})


def test_heap_reserve_is_on_unless_the_flag_or_variable_says_off() -> None:
    assert from_environment({}, environ={}).heap_reserve == "on"
    assert from_environment({}, environ={"TRADOVATE_SIM_HEAP_RESERVE": "off"}).heap_reserve == "off"
    assert from_environment({"heap_reserve": "on"}, environ={"TRADOVATE_SIM_HEAP_RESERVE": "off"}).heap_reserve == "on"
    with pytest.raises(ValueError, match=r"^heap-reserve: expected on or off, got 'half'"):
        from_environment({}, environ={"TRADOVATE_SIM_HEAP_RESERVE": "half"})


def test_fast_password_hashing_uses_argon2id_at_its_cheapest_and_verifies_strong_hashes(tmp_path: Path) -> None:
    from tradovate_sim.server.runtime import Runtime
    from tradovate_sim.service.auth import PasswordHashing

    fast = Runtime(Settings(db=str(tmp_path / "sim.db"), password_hashing="fast")).hashing
    strong = PasswordHashing().hash("hunter2")

    assert fast.hash("hunter2").startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert fast.verify(strong, "hunter2") and not fast.verify(strong, "hunter3")


@pytest.mark.parametrize("db", ["postgresql://sim:pw@db:5432/sim", "postgres://sim@db/sim",
                                "postgresql://sim:pw@/sim?host=/run/postgresql"])
def test_settings_take_a_postgresql_url(db: str) -> None:
    settings = from_environment({"db": db}, environ={})
    assert settings.postgres and "pw" not in settings.db_label


@pytest.mark.parametrize("db", ["postgresql://u:se/cret@db/sim", "postgresql://u:se#cret@db:5432/sim",
                                "mysql://u:secret@db/sim", "postgresql://u:secret@db:99999/sim"])
def test_refused_db_urls_never_show_the_password(db: str) -> None:
    with pytest.raises(ValueError) as refused:
        from_environment({"db": db}, environ={})
    assert "cret" not in str(refused.value) and "u:***@" in str(refused.value)


def test_clock_is_wall_time_unless_given_then_frozen_there_naive_as_utc() -> None:
    # Arrange
    given = from_environment({"clock": "2027-01-16T12:00:00"}, environ={"TRADOVATE_SIM_CLOCK": "2030-01-01T00:00:00Z"})

    # Act
    real, frozen = start_clock(from_environment({}, environ={})), start_clock(given)

    # Assert: the flag over the variable; a naive time is UTC
    assert real.is_real
    assert not frozen.is_real and frozen.now() == datetime(2027, 1, 16, 12, tzinfo=UTC)


@pytest.mark.parametrize(("clock", "says"), [("yesterday", "clock"), ("2045-01-01T00:00:00Z", "--clock: must be")])
def test_clock_refuses_what_is_no_time_or_outside_the_calendar_naming_it(clock: str, says: str) -> None:
    with pytest.raises((ValueError, StartupError), match=says):
        start_clock(from_environment({"clock": clock}, environ={}))


def test_settings_refuse_a_calendar_cache_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a-file"
    path.write_text("")
    with pytest.raises(ValueError, match=r"calendar-cache: .* is not a directory"):
        from_environment({}, {"TRADOVATE_SIM_CALENDAR_CACHE": str(path)})
    assert from_environment({}, {"TRADOVATE_SIM_CALENDAR_CACHE": str(tmp_path / "new")}).calendar_cache
