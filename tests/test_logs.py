"""The log filters: steady-state task lines dropped below debug, the console's selection."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from claw.logs import ConsoleFilter, SteadyStateFilter, quiet_steady_state
from tests.support.fake_telegram import TOKEN, FakeTelegram


def record(name: str, level: int, msg: str, args: object = ()) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("line", [
    ("Task %(name)s[%(id)s] received", {"name": "claw.poll", "id": "1"}),
    ("Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
     {"name": "claw.sweep", "id": "2", "runtime": 0.01, "return_value": None}),
    ("Scheduler: Sending due task %s (%s)", ("scheduler-tick", "claw.scheduler.tick")),
])
def test_steady_state_task_lines_are_dropped_at_info_but_not_their_warnings(line: tuple[str, object]) -> None:
    msg, args = line
    steady = SteadyStateFilter()
    assert not steady.filter(record("celery.app.trace", logging.INFO, msg, args))
    assert steady.filter(record("celery.app.trace", logging.WARNING, msg, args))


def test_other_task_lines_stay() -> None:
    line = record("celery.app.trace", logging.INFO, "Task %(name)s[%(id)s] received", {"name": "claw.turn", "id": "3"})
    assert SteadyStateFilter().filter(line)


def test_debug_keeps_everything() -> None:
    logger = logging.getLogger("celery.worker.strategy")
    before = list(logger.filters)
    try:
        quiet_steady_state("debug")
        assert logger.filters == before
        quiet_steady_state("info")
        quiet_steady_state("info")
        assert sum(isinstance(f, SteadyStateFilter) for f in logger.filters) == 1
    finally:
        logger.filters = before


def test_the_console_gets_turn_lines_and_warnings_only() -> None:
    console = ConsoleFilter()
    assert console.filter(record("claw.pipeline.turns", logging.INFO, "turn_replied group=http:a"))
    assert console.filter(record("celery.worker", logging.ERROR, "lost connection"))
    assert not console.filter(record("celery.app.trace", logging.INFO, "Task claw.turn[1] succeeded"))
    assert not console.filter(record("claw.agent.tools.registry", logging.INFO, "tool_called tool=web_fetch"))


SCRIPT = """
import logging, sys
from claw.celery_app import app
from claw.channels.telegram import TelegramBot
app.log.setup(loglevel=logging.DEBUG, logfile=sys.argv[2])  # what `celery worker -l DEBUG --logfile` does
bot = TelegramBot(sys.argv[3], api_url=sys.argv[1])
bot.fetch("")
logging.getLogger("claw.test").error("failed", exc_info=RuntimeError("url /bot" + sys.argv[3] + "/x"))
"""


def test_a_worker_at_debug_never_writes_the_bot_token_to_its_log(tmp_path: Path) -> None:
    # urllib3 logs every request line at debug: "GET /bot<token>/getUpdates HTTP/1.1" 200
    telegram = FakeTelegram().start()
    log_file = tmp_path / "io.log"
    env = {**os.environ, "CLAW_TELEGRAM_BOT_TOKEN": TOKEN, "CLAW_HOME": str(tmp_path / "home"),
           "CLAW_LOG_LEVEL": "debug"}
    env.pop("CLAW_LOG_FILE", None)
    try:
        done = subprocess.run([sys.executable, "-c", SCRIPT, telegram.url, str(log_file), TOKEN], env=env,
                              capture_output=True, text=True, timeout=60)
    finally:
        telegram.stop()
    assert done.returncode == 0, done.stderr
    written = log_file.read_text() + done.stdout + done.stderr
    assert "getUpdates" in written and "[secret]" in written  # the lines are there, the token is not
    assert TOKEN not in written


def test_every_configured_secret_is_redacted_from_log_lines(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    # Given each kind of secret claw knows of, configured the way an operator does
    from claw.config import get_settings
    from claw.logs import REDACTED, SecretFilter, configured_secrets

    secrets = {
        "ANTHROPIC_API_KEY": "sk-ant-redteam-0123456789abcdef",
        "CLAW_OPENAI_API_KEY": "sk-openai-redteam-0123456789",
        "CLAW_SEARCH_API_KEY": "search-redteam-0123456789",
        "CLAW_TELEGRAM_BOT_TOKEN": TOKEN,
        "CLAW_API_TOKEN": "api-token-redteam-0123456789",
    }
    monkeypatch.setenv("CLAW_HOME", str(tmp_path))
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        found = configured_secrets()
    finally:
        get_settings.cache_clear()
    # When a line carries all of them (a library's debug line, an error's text)
    line = record("urllib3", logging.DEBUG, "sent %s", (" ".join(secrets.values()),))
    SecretFilter(found).filter(line)
    # Then none is written
    assert set(secrets.values()) <= set(found)
    assert all(value not in line.getMessage() for value in secrets.values())
    assert line.getMessage().count(REDACTED) == len(secrets)
