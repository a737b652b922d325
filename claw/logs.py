"""Logs a person can read: what `claw up` shows on the console and what goes to a file.

At the default level (CLAW_LOG_LEVEL=info) the console of `claw up` shows claw's own lines
that matter: one line per turn (claw.pipeline.turns), and every warning and error. Celery's
banners and its per-task lines go to ``$CLAW_HOME/logs/<process>.log`` instead. ``claw up
--verbose`` (or CLAW_LOG_LEVEL=debug) keeps everything on the console, as before.

Whatever the destination, the steady state is silent at info: the poll, sweep and
scheduler-tick tasks run every few seconds, and their "received"/"succeeded"/"sending due
task" lines show only at debug.

In the Celery processes `claw up` starts, CLAW_LOG_FILE names their file: their standard
output (the banner) is pointed at it as the app is imported (``route_stdout``), Celery's
``--logfile`` sends its logging there, and ``after_setup_logger`` adds the console handler.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from claw.config import get_settings

#: the tasks that run all the time whatever happens; their per-run lines are debug-only
STEADY_STATE_TASKS = ("claw.poll", "claw.sweep", "claw.scheduler.tick")
#: Celery's loggers of per-task lines: received (strategy), succeeded (trace), sent (beat)
TASK_LINE_LOGGERS = ("celery.worker.strategy", "celery.app.trace", "celery.beat")
#: claw's loggers whose info lines belong on the console: the one line per turn, and a turn
#: redone after its process died (rare, and worth seeing)
CONSOLE_LOGGERS = ("claw.pipeline.turns", "claw.pipeline.attempts")
#: the settings `claw up` passes each Celery process (Settings.log_file, Settings.process_name)
LOG_FILE_ENV = "CLAW_LOG_FILE"
PROCESS_ENV = "CLAW_PROCESS_NAME"


def log_dir(home: Path) -> Path:
    return home / "logs"


class SteadyStateFilter(logging.Filter):
    """Drops info lines about the poll, sweep and tick tasks (warnings about them stay)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        try:
            text = record.getMessage()
        except Exception:
            return True
        return not any(f"{name}[" in text or f"({name})" in text for name in STEADY_STATE_TASKS)


class ConsoleFilter(logging.Filter):
    """What a process whose logs go to a file still shows on the console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.startswith(CONSOLE_LOGGERS)


#: what a secret becomes in a log line
REDACTED = "[secret]"


def configured_secrets() -> list[str]:
    """The secret values claw is configured with: the Telegram bot token (part of every Bot API
    URL), the model and search API keys, and the API's bearer token."""
    settings = get_settings()
    values = [settings.telegram_bot_token, settings.anthropic_api_key, settings.openai_api_key,
              settings.search_api_key, settings.api_token]
    found = [v.get_secret_value().strip() for v in values if v is not None]
    try:
        found.append(settings.api_token_value())  # CLAW_API_TOKEN, else the generated one
    except (RuntimeError, OSError):
        pass
    # a short value would blank out ordinary words; real tokens and keys are long
    return sorted({v for v in found if len(v) >= 8}, key=len, reverse=True)


class SecretFilter(logging.Filter):
    """Replaces every configured secret in a line (and its traceback) before a handler writes it.

    claw's own lines never carry one, but libraries log at debug what they send: urllib3 writes
    ``"GET /bot<token>/getUpdates HTTP/1.1" 200`` for every Telegram poll, so
    CLAW_LOG_LEVEL=debug would put the bot token on the console and in $CLAW_HOME/logs.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            text = record.getMessage()
        except Exception:
            return True
        if any(secret in text for secret in self.secrets):
            record.msg, record.args = self.redact(text), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


def redact_handlers(logger: logging.Logger) -> None:
    """Put a SecretFilter on each of ``logger``'s handlers (once)."""
    secrets = configured_secrets()
    for handler in logger.handlers:
        if not any(isinstance(f, SecretFilter) for f in handler.filters):
            handler.addFilter(SecretFilter(secrets))


def quiet_steady_state(level: str) -> None:
    """Below debug, the steady-state tasks' per-run lines are dropped."""
    if level.lower() == "debug":
        return
    for name in TASK_LINE_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SteadyStateFilter) for f in logger.filters):
            logger.addFilter(SteadyStateFilter())


#: libraries whose info lines are start-up chatter (alembic: "Context impl SQLiteImpl", each
#: migration on an up-to-date database's first start)
CHATTY_LIBRARIES = ("alembic",)


def quiet_libraries(level: str) -> None:
    """Below debug, the chatty libraries say only warnings and errors."""
    if level.lower() != "debug":
        for name in CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)


def route_stdout() -> None:
    """Point this process's standard output at its log file (CLAW_LOG_FILE), if it has one:
    Celery prints its banner there, not through logging. Standard error stays the console."""
    path = get_settings().log_file
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(descriptor, 1)
    os.close(descriptor)


def add_console_handler(root: logging.Logger) -> None:
    """In a process logging to a file: the turn lines and warnings on the console too."""
    if get_settings().log_file is None:
        return
    if any(getattr(h, "claw_console", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.__stderr__)
    handler.claw_console = True  # type: ignore[attr-defined]
    handler.addFilter(ConsoleFilter())
    handler.setFormatter(ConsoleFormatter(get_settings().process_name))
    root.addHandler(handler)


class ConsoleFormatter(logging.Formatter):
    """``shard0 | turn_replied group=…``; warnings and errors say so."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname}: "
        text = f"{self.process:<6} | {level}{record.getMessage()}"
        if record.exc_text:  # set (with secrets removed) by SecretFilter
            text += "\n" + record.exc_text
        elif record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def install_celery_hooks() -> None:
    """Connect to Celery's logging signals (claw/celery_app.py calls this once)."""
    from celery.signals import after_setup_logger, after_setup_task_logger

    @after_setup_logger.connect(weak=False)
    def _after_setup(logger: logging.Logger, loglevel: int, **_: object) -> None:
        quiet_steady_state(logging.getLevelName(loglevel))
        add_console_handler(logger)
        redact_handlers(logger)

    @after_setup_task_logger.connect(weak=False)
    def _after_setup_task(logger: logging.Logger, **_: object) -> None:
        redact_handlers(logger)
