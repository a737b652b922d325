"""claw.config: settings from CLAW_* environment variables (and .env), in one place."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from claw.config import Settings, get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No CLAW_* or ANTHROPIC_API_KEY from the caller's shell, and no stray .env file."""
    for name in list(os.environ):
        if name.startswith("CLAW_") or name == "ANTHROPIC_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults_without_any_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = Settings()

    # the per-user data folder, wherever the command runs; the workspace inside it
    assert settings.home == tmp_path / "data" / "claw"
    assert settings.workspace == tmp_path / "data" / "claw" / "workspace"
    assert settings.shards == 3
    assert settings.poll_interval == 2.0
    assert settings.scheduler_interval == 60.0
    assert settings.tz == "UTC"
    assert settings.resolved_redis_url == "redis://127.0.0.1:6390/0"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'claw' / 'claw.db'}"


def test_claw_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given CLAW_* variables
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("CLAW_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("CLAW_DATABASE_URL", "postgresql://db/claw")
    monkeypatch.setenv("CLAW_REDIS_URL", "redis://redis:6379/2")
    monkeypatch.setenv("CLAW_SHARDS", "8")
    monkeypatch.setenv("CLAW_POLL_INTERVAL", "0.5")
    monkeypatch.setenv("CLAW_SCHEDULER_INTERVAL", "30")
    monkeypatch.setenv("CLAW_COOLDOWN", "0")
    monkeypatch.setenv("CLAW_MODEL", "claude-test")
    monkeypatch.setenv("CLAW_SANDBOX", "subprocess")
    monkeypatch.setenv("CLAW_TZ", "Europe/Paris")
    monkeypatch.setenv("CLAW_WHATSAPP_BRIDGE_URL", "http://bridge:3000")
    monkeypatch.setenv("CLAW_WHATSAPP_ALLOWLIST", " 123@g.us, ,456@g.us ")

    # When settings are loaded
    settings = Settings()

    # Then each one is taken, typed
    assert settings.home == tmp_path / "state"
    assert settings.workspace == tmp_path / "ws"
    assert settings.resolved_database_url == "postgresql://db/claw"
    assert settings.resolved_redis_url == "redis://redis:6379/2"
    assert settings.shards == 8
    assert settings.poll_interval == 0.5
    assert settings.scheduler_interval == 30.0
    assert settings.cooldown == 0.0
    assert settings.model == "claude-test"
    assert settings.sandbox == "subprocess"
    assert settings.tz == "Europe/Paris"
    assert settings.whatsapp_bridge_url == "http://bridge:3000"
    assert settings.whatsapp_allowed_chats == {"123@g.us", "456@g.us"}


def test_database_url_defaults_to_sqlite_under_home(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "state"))

    assert Settings().resolved_database_url == f"sqlite:///{tmp_path / 'state' / 'claw.db'}"


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_LLM", "gpt-banana")
    with pytest.raises(ValueError):
        Settings()


def test_a_dot_env_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CLAW_SHARDS=5\nCLAW_TZ=Asia/Tokyo\n")

    settings = Settings()

    assert (settings.shards, settings.tz) == (5, "Asia/Tokyo")


def test_the_environment_wins_over_dot_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CLAW_SHARDS=5\n")
    monkeypatch.setenv("CLAW_SHARDS", "7")

    assert Settings().shards == 7


def test_get_settings_is_read_once_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_SHARDS", "4")
    first = get_settings()
    monkeypatch.setenv("CLAW_SHARDS", "9")

    assert get_settings() is first
    assert get_settings().shards == 4


# ---- which model --------------------------------------------------------------------------


def test_llm_is_offline_without_an_anthropic_key() -> None:
    assert Settings().resolved_llm == "offline"


def test_llm_is_anthropic_with_an_anthropic_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")

    settings = Settings()

    assert settings.resolved_llm == "anthropic"
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-test"
    assert "sk-ant-test" not in repr(settings)  # the key never shows in logs


def test_claw_llm_overrides_the_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("CLAW_LLM", "offline")

    assert Settings().resolved_llm == "offline"


# ---- the API token ------------------------------------------------------------------------


def test_api_token_is_created_once_with_mode_0600(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    # Given a fresh home and no CLAW_API_TOKEN
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))
    settings = Settings()

    # When `claw up` asks for the token
    token = settings.api_token_value(create=True)

    # Then a random token is written to $CLAW_HOME/api_token, readable by the owner only
    token_file = tmp_path / "home" / "api_token"
    assert settings.token_file == token_file
    assert len(token) >= 32
    assert token_file.read_text().strip() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    # And later calls (and other processes) reuse it rather than make a new one
    assert settings.api_token_value(create=True) == token
    assert Settings().api_token_value() == token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_two_homes_get_different_tokens(tmp_path: Path) -> None:
    a = Settings(home=tmp_path / "a").api_token_value(create=True)
    b = Settings(home=tmp_path / "b").api_token_value(create=True)

    assert a != b


def test_without_a_token_and_without_create_it_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))

    with pytest.raises(RuntimeError, match="CLAW_API_TOKEN"):
        Settings().api_token_value()
    assert not (tmp_path / "home" / "api_token").exists()


def test_claw_api_token_wins_over_the_token_file(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    # Given a token file from an earlier run
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))
    Settings().api_token_value(create=True)

    # When CLAW_API_TOKEN is set
    monkeypatch.setenv("CLAW_API_TOKEN", "from-the-environment")

    # Then it is the token, and the file is left as it was
    assert Settings().api_token_value(create=True) == "from-the-environment"
    assert (tmp_path / "home" / "api_token").read_text().strip() != "from-the-environment"


def test_claw_api_token_creates_no_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLAW_API_TOKEN", "given")

    assert Settings().api_token_value(create=True) == "given"
    assert not (tmp_path / "home" / "api_token").exists()


def test_an_empty_token_file_never_yields_an_empty_token(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    # Given a token file left empty by an interrupted first start
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "api_token").touch(mode=0o600)

    # When `claw up` asks for the token, it gets a real one (not the empty string)
    assert Settings().api_token_value(create=True).strip() != ""


# ---- time limits fit together --------------------------------------------------------------


def test_the_default_time_limits_fit_inside_each_other() -> None:
    # A model call with all its retries and a sandbox run end before the turn's soft limit,
    # which comes before the hard limit, which is well inside the broker's visibility timeout.
    settings = Settings(llm="anthropic")

    assert settings.turn_soft_time_limit == 570
    assert settings.llm_call_budget <= settings.turn_soft_time_limit
    assert settings.sandbox_wall_seconds < settings.turn_soft_time_limit
    assert settings.turn_soft_time_limit < settings.turn_time_limit < settings.visibility_timeout


def test_the_soft_limit_leaves_time_to_apologise_even_for_short_turns() -> None:
    assert Settings(turn_time_limit=10, sandbox_wall_seconds=5).turn_soft_time_limit == 8
    assert Settings(turn_time_limit=100).turn_soft_time_limit == 80
    assert Settings(turn_time_limit=3000, visibility_timeout=7200).turn_soft_time_limit == 2970


def test_celery_takes_its_time_limits_from_the_settings() -> None:
    import importlib

    import celeryconfig

    os.environ["CLAW_TURN_TIME_LIMIT"] = "100"
    try:
        get_settings.cache_clear()
        config = importlib.reload(celeryconfig)
        assert (config.task_soft_time_limit, config.task_time_limit) == (80, 100)
    finally:
        del os.environ["CLAW_TURN_TIME_LIMIT"]
        get_settings.cache_clear()
        importlib.reload(celeryconfig)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"llm": "anthropic", "llm_timeout": 120, "llm_max_retries": 4},
         "one model call may take 607.5 s"),
        ({"llm": "openai", "turn_time_limit": 60, "sandbox_wall_seconds": 10},
         "more than the turn's soft time limit of 48 s"),
        ({"turn_time_limit": 60}, "CLAW_SANDBOX_WALL_SECONDS (60) must be below"),
        ({"turn_time_limit": 4000}, "CLAW_VISIBILITY_TIMEOUT (3600) must be above"),
    ],
)
def test_time_limits_that_do_not_fit_are_refused_with_what_to_change(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings(**values)  # type: ignore[arg-type]


def test_the_offline_model_has_no_model_call_budget_to_fit() -> None:
    assert Settings(llm="offline", turn_time_limit=10, sandbox_wall_seconds=5, llm_timeout=120)


def test_the_claw_command_refuses_settings_that_do_not_fit_with_one_clear_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"PATH": os.environ["PATH"], "CLAW_HOME": str(tmp_path), "CLAW_TURN_TIME_LIMIT": "20"}
    done = subprocess.run([sys.executable, "-m", "claw.cli", "doctor"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "claw: bad settings: CLAW_SANDBOX_WALL_SECONDS (60) must be below the turn's soft time "
        "limit of 16 s: lower it or raise CLAW_TURN_TIME_LIMIT")


@pytest.mark.parametrize(
    ("value", "minutes"),
    [("5m", 5), ("300", 5), ("1h", 60), ("90 min", 90), ("0", 0), ("PT10M", 10), ("00:07:00", 7)],
)
def test_the_schedule_minimum_interval_reads_as_people_write_it(
    monkeypatch: pytest.MonkeyPatch, value: str, minutes: int
) -> None:
    monkeypatch.setenv("CLAW_SCHEDULE_MIN_INTERVAL", value)
    settings = Settings()
    assert settings.schedule_min_interval == timedelta(minutes=minutes)
    assert settings.schedule_min_gap == (timedelta(minutes=minutes) if minutes else None)


def test_the_schedule_minimum_interval_defaults_to_5_minutes() -> None:
    assert Settings().schedule_min_interval == timedelta(minutes=5)


@pytest.mark.parametrize("value", ["5", "-1", "soon"])
def test_a_schedule_minimum_that_cannot_be_meant_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    # "5" is 5 seconds: schedules step in minutes, so it would silently allow every minute
    monkeypatch.setenv("CLAW_SCHEDULE_MIN_INTERVAL", value)
    with pytest.raises(ValidationError, match="schedule_min_interval"):
        Settings()


def test_the_workspace_follows_claw_home_unless_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CLAW_HOME", str(tmp_path / "state"))

    assert Settings().workspace == tmp_path / "state" / "workspace"
    assert Settings(workspace=tmp_path / "ws").workspace == tmp_path / "ws"


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("CLAW_API_PORT", "99999", "CLAW_API_PORT: Input should be less than or equal to 65535"),
        ("CLAW_REDIS_PORT", "0", "CLAW_REDIS_PORT: Input should be greater than or equal to 1"),
        ("CLAW_FLOWER_PORT", "-1", "CLAW_FLOWER_PORT: Input should be greater than or equal to 1"),
        ("CLAW_SHARDS", "0", "CLAW_SHARDS: Input should be greater than or equal to 1"),
        ("CLAW_SWEEP_INTERVAL", "0", "CLAW_SWEEP_INTERVAL: Input should be greater than 0"),
        ("CLAW_API_MAX_TEXT", "-5", "CLAW_API_MAX_TEXT: Input should be greater than or equal to 1"),
        ("CLAW_TZ", "Mars/Base", "CLAW_TZ: unknown time zone 'Mars/Base' (an IANA name such as Europe/Berlin)"),
    ],
)
def test_a_bad_claw_value_is_one_line_and_exit_2_in_every_command(
    tmp_path: Path, variable: str, value: str, complaint: str
) -> None:
    """Before, CLAW_TZ=Mars/Base was a traceback in `claw memory list`, CLAW_API_PORT=99999 one in
    `claw up`, and CLAW_SHARDS=0 a stack that said "claw is up" and answered nothing."""
    import subprocess
    import sys

    env = {"PATH": os.environ["PATH"], "CLAW_HOME": str(tmp_path / "home"), variable: value}
    for command in (["memory", "list", "main"], ["up"]):
        done = subprocess.run([sys.executable, "-m", "claw.cli", *command], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stderr.strip()) == (2, f"claw: bad settings: {complaint}"), command
    assert list(tmp_path.iterdir()) == []


def test_an_empty_claw_home_is_the_default_home_not_the_current_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CLAW_HOME", "")
    settings = Settings()
    assert settings.home == tmp_path / "data" / "claw"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'claw' / 'claw.db'}"
    assert settings.workspace == tmp_path / "data" / "claw" / "workspace"
