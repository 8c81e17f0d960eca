"""The command line's settings (flag > variable > config profile > default) and its token cache."""

import argparse
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tradovate_sim.cli.connection import Profile, TokenCache, resolve
from tradovate_sim.cli.failure import CliError, Exit
from tradovate_sim.client.environments import environment
from tradovate_sim.client.session import Session

CONFIG = '''
[profiles.default]
url = "http://127.0.0.1:9001"
user = "from-profile"
password = "profile-secret"
account = "DEMO2"

[profiles.other]
user = "other"
'''


def args(**flags: str) -> argparse.Namespace:
    names = ("url", "user", "password", "account", "profile", "config")
    return argparse.Namespace(**{name: flags.get(name) for name in names})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def test_a_flag_wins_over_a_variable_which_wins_over_the_profile(config: Path) -> None:
    environ = {"TRADOVATE_CONFIG": str(config), "TRADOVATE_USER": "from-variable"}
    resolved = resolve(args(account="DEMO1"), environ)
    assert (resolved.url, resolved.user, resolved.password, resolved.account) == (
        "http://127.0.0.1:9001", "from-variable", "profile-secret", "DEMO1")
    assert resolve(args(user="from-flag"), environ).user == "from-flag"


def test_the_profile_is_chosen_by_flag_or_variable(config: Path) -> None:
    assert resolve(args(config=str(config), profile="other"), {}).user == "other"
    assert resolve(args(config=str(config)), {"TRADOVATE_PROFILE": "other"}).user == "other"


def test_no_config_file_means_defaults_unless_one_was_asked_for(tmp_path: Path) -> None:
    assert resolve(args(), {"XDG_CONFIG_HOME": str(tmp_path)}) == Profile()
    with pytest.raises(CliError) as missing:
        resolve(args(config=str(tmp_path / "absent.toml")), {})
    assert missing.value.code is Exit.USAGE


@pytest.mark.parametrize("text", ['[profiles.default]\nusr = "typo"\n', "not toml [", '[profiles.default]\ncid = []\n'])
def test_a_bad_config_file_is_a_usage_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(CliError) as bad:
        resolve(args(config=str(path)), {})
    assert bad.value.code is Exit.USAGE and str(path) in bad.value.message


def test_a_profile_never_shows_its_password() -> None:
    assert "secret" not in repr(Profile(user="u", password="secret", sec="secret"))


def session(token: str, expires: datetime) -> Session:
    made = Session(None, token)
    made.expires = expires
    return made


def test_the_cache_keeps_a_token_per_server_and_user_in_a_0600_file(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "cache" / "tokens.json")
    here, there = environment("http://127.0.0.1:9001"), environment("demo")
    cache.put(here, "demo", session("t-1", datetime.now(UTC) + timedelta(hours=1)))
    found = cache.get(here, "demo")
    assert found is not None and found.access_token == "t-1"
    assert cache.get(there, "demo") is None and cache.get(here, "admin") is None
    assert stat.S_IMODE((tmp_path / "cache" / "tokens.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700
    assert cache.drop(here, "demo") and cache.get(here, "demo") is None


def test_the_cache_ignores_expired_tokens_and_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    cache = TokenCache(path)
    here = environment("local")
    cache.put(here, "demo", session("old", datetime.now(UTC) + timedelta(seconds=30)))
    assert cache.get(here, "demo") is None  # within a minute of its expiry: not used
    path.write_text("{not json")
    assert cache.get(here, "demo") is None
    cache.put(here, "demo", session("new", datetime.now(UTC) + timedelta(hours=1)))
    assert cache.get(here, "demo") is not None


def test_no_cache_reads_and_writes_nothing(tmp_path: Path) -> None:
    cache = TokenCache(None)
    cache.put(environment("local"), "demo", session("t", datetime.now(UTC) + timedelta(hours=1)))
    assert cache.get(environment("local"), "demo") is None and not list(tmp_path.iterdir())
