"""Settings for every claw process, read once from CLAW_* environment variables and `.env`.

All configuration lives here so that no other module reads ``os.environ``; processes that
`claw up` starts inherit the same environment and therefore the same settings.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLAW_", env_file=".env", extra="ignore")

    #: state (database, Redis data, token, run.json): per user, so that every `claw` command
    #: finds the same stack from any folder (~/.local/share/claw, or $XDG_DATA_HOME/claw)
    home: Path = Field(default_factory=lambda: default_home())
    #: personality and group folders; $CLAW_HOME/workspace unless set
    workspace: Path = Path("workspace")
    database_url: str | None = None
    redis_url: str | None = None
    redis_port: int = Field(default=6390, ge=1, le=65535)  #: port of the private redis-server that `claw up` starts

    llm: Literal["anthropic", "openai", "offline"] | None = None
    model: str = "claude-sonnet-4-5"
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY", "CLAW_ANTHROPIC_API_KEY")
    )
    offline_latency_ms: int = 0  #: simulated LLM latency of the offline model, for benchmarks
    openai_base_url: str = "http://127.0.0.1:11434/v1"  #: any OpenAI-compatible server (Ollama)
    openai_api_key: SecretStr | None = None
    llm_max_retries: int = 4  #: the SDKs' own retries with backoff on 429/529/5xx/timeouts
    #: seconds per model request; with the retries it must fit in the turn's soft time limit
    llm_timeout: float = 90.0
    max_iterations: int = 10  #: model calls per turn before the loop gives up
    llm_retry_delay: float = 30.0  #: first wait before retrying a failed turn; doubles each time
    #: first wait after a turn whose process was killed (SIGKILL, OOM, hard time limit): usually
    #: the worker's fate, not the batch's, so the group is answered again within seconds
    #: (DESIGN: "within about half a minute"); doubles like the other
    interrupted_retry_delay: float = 2.0
    #: a batch whose turn failed this many times (a model outage aside) is set aside
    turn_max_attempts: int = Field(default=5, ge=1)
    #: … or that has kept failing this many seconds since its first failure
    turn_give_up_after: float = Field(default=3600.0, gt=0)
    #: most pending messages one turn shows the model; older ones are trimmed with a marker
    pending_max_messages: int = Field(default=100, ge=1)
    #: characters of pending messages one turn shows the model; the longest are cut first
    pending_char_budget: int = Field(default=40_000, ge=1_000)
    history_messages: int = 40
    history_token_budget: int = 8000  #: rough (chars / 4) cap on history sent to the model
    prices: str | None = None  #: JSON {"model": [in, out, cache_read, cache_write]} USD per MTok

    api_token: SecretStr | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_max_text: int = Field(default=16_000, ge=1)  #: longest message text the API accepts, in characters (a 422 beyond)
    poll_max_text: int = Field(default=16_000, ge=1)  #: longest text kept of a polled message (Telegram, WhatsApp); cut beyond
    flower_port: int = Field(default=5555, ge=1, le=65535)
    flower_user: str = "claw"
    task_events: bool = False  #: Celery task events, for Flower (`claw up` sets it with Flower)

    shards: int = Field(default=3, ge=1)  #: a stack without a shard worker answers nothing
    #: seconds `claw up` waits for every process and /healthz before it gives up on starting
    startup_timeout: float = Field(default=180.0, gt=0)
    #: the first shard number this host runs (`claw up` runs shard_base .. shard_base+shards-1):
    #: hosts sharing one Redis give themselves disjoint shard numbers (docs/scaling.md)
    shard_base: int = Field(default=0, ge=0)
    poll_interval: float = Field(default=2.0, gt=0)
    sweep_interval: float = Field(default=5.0, gt=0)
    #: a reply claimed this long ago by a sender that never finished (killed) is handed out again
    stuck_send_seconds: float = Field(default=60.0, gt=0)
    scheduler_interval: float = Field(default=60.0, gt=0)
    scheduler_batch: int = 500  #: most due runs one tick claims; the rest wait for the next tick
    max_schedules_per_group: int = 100  #: active schedules a group may have
    #: the least time between two runs of a repeating schedule, for every schedule made from now
    #: on (API, CLI, the model's tools, sandboxed code); so one chat member cannot set up a
    #: flood of runs on the owner's model bill. Seconds, or "5m", "1h"; 0 turns it off.
    #: Schedules already stored keep running as they are (see claw/scheduler/service.py).
    schedule_min_interval: timedelta = timedelta(minutes=5)
    memory_prompt_chars: int = 8000  #: most of MEMORY.md (global + group) put in the system prompt
    cooldown: float = 1.5  #: seconds of quiet after a group's latest message before its turn
    stale_after: float = 300.0  #: a turn whose oldest message waited longer apologises
    lease_seconds: float = 15.0  #: per-group lease; renewed while a turn runs
    #: hard limit of a turn in seconds (the worker process is killed); the soft limit, at which
    #: the turn stops and apologises, is `turn_soft_time_limit`, a little earlier
    turn_time_limit: int = Field(default=600, ge=5)
    visibility_timeout: int = 3600  #: must stay well above turn_time_limit
    fault_points: str | None = None  #: tests only: "name:action,..." (claw/faults.py)
    send_retry_delay: float = 2.0  #: seconds before retrying a failed send; doubles each time
    send_retry_max_delay: float = 300.0  #: the longest wait between two attempts of one send
    send_give_up_after: float = 24.0  #: hours a reply is retried before it is marked failed

    whatsapp_bridge_url: str | None = None
    whatsapp_allowlist: str | None = None  #: comma-separated chat ids; empty means all
    telegram_bot_token: SecretStr | None = None  #: part of every Bot API URL: never log it
    telegram_api_url: str = "https://api.telegram.org"
    telegram_allowlist: str | None = None  #: comma-separated chat ids; empty means all

    #: the word that addresses claw in a group chat (case-insensitive, a whole word)
    trigger: str = Field(default="@claw", min_length=1, max_length=64)
    #: how a new Telegram/WhatsApp group chat is answered: only when addressed ("mention"), or
    #: every message ("always"); private chats and the HTTP/terminal/web channels are "always"
    group_respond: Literal["mention", "always"] = "mention"
    #: a Telegram/WhatsApp chat claw has never seen gets a pairing code and waits for the
    #: owner's approval (`claw groups approve CODE`); off: every chat is approved at once
    pairing: bool = True
    pairing_code_ttl: float = Field(default=3600.0, gt=0)  #: seconds a pairing code is valid

    tz: str = "UTC"
    sandbox: Literal["bwrap", "docker", "subprocess"] | None = None
    # Sandbox limits; a group's settings["sandbox"] may override each (see claw/sandbox/limits.py).
    sandbox_memory_mb: int = 1024  #: memory of the whole run (cgroup, /tmp included) and per process
    sandbox_cpu_seconds: int = 30  #: CPU time per process (RLIMIT_CPU)
    sandbox_processes: int = 64  #: processes and threads of the whole run (cgroup pids; RLIMIT_NPROC)
    sandbox_file_size_mb: int = 64  #: largest file the code may write (RLIMIT_FSIZE)
    sandbox_open_files: int = 256  #: RLIMIT_NOFILE
    sandbox_wall_seconds: float = 60.0  #: wall clock per run; then the whole sandbox is killed
    sandbox_tmp_mb: int = 64  #: size of the private /tmp (memory-backed)
    sandbox_output_kb: int = 16  #: output kept per run; the rest is cut with a visible marker
    sandbox_heartbeat_timeout: float = 10.0  #: a sandbox whose heartbeat is older is killed
    sandbox_ipc_rate: int = 30  #: file-IPC requests per minute per group
    sandbox_turn_seconds: float = 120.0  #: sandbox time of all run_code calls of one turn
    sandbox_disk_mb: int = 1024  #: a group's workspace size (claw/sandbox/quota.py)
    sandbox_files: int = 100_000  #: files and folders in a group's workspace
    #: how the disk quota is kept: auto (loop image where root can mount one, else measure),
    #: loop (a per-group ext4 image; writes stop at the limit), measure (checked after each run)
    sandbox_quota: Literal["auto", "loop", "measure"] = "auto"
    sandbox_cgroup: str | None = None  #: a delegated cgroup v2 directory for per-run cgroups
    #: schedules made by sandboxed code repeat at most this often (and a turn it schedules once
    #: is at least this far ahead); a group's settings["sandbox"]["schedule_min_minutes"] overrides
    sandbox_schedule_min_minutes: int = 60
    sandbox_python: str | None = None  #: interpreter inside the sandbox; default /usr/bin/python3
    sandbox_uid: int = 65534  #: host uid sandboxed code runs as when claw runs as root
    sandbox_gid: int = 65534
    sandbox_docker_image: str = "python:3.11-slim"

    @field_validator("home", mode="before")
    @classmethod
    def _home_not_empty(cls, value: object) -> object:
        """An empty CLAW_HOME is unset, not the current folder (state must not follow the cwd)."""
        return default_home() if isinstance(value, str) and not value.strip() else value

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        """A zone that does not exist fails here, as one line, not in every turn and command."""
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value

    @field_validator("prices")
    @classmethod
    def _price_table(cls, value: str | None) -> str | None:
        """A malformed CLAW_PRICES fails here, as one line, not at every turn's commit."""
        from claw.agent.pricing import PriceTableError, price_table  # claw.agent imports this module

        try:
            price_table(value)
        except PriceTableError as exc:
            raise ValueError(str(exc).removeprefix("CLAW_PRICES ")) from None
        return value

    @field_validator("schedule_min_interval", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """"5m", "90s", "1h", "300" (seconds), or what pydantic reads as a timedelta."""
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr)?\s*", value.lower())
            if match:
                size = {"m": 60, "min": 60, "h": 3600, "hr": 3600}.get(match[2] or "s", 1)
                return timedelta(seconds=float(match[1]) * size)
        return value

    @field_validator("schedule_min_interval")
    @classmethod
    def _whole_minutes(cls, value: timedelta) -> timedelta:
        # schedules step in minutes: 5 (read as seconds) would silently allow every minute
        if value < timedelta(0) or timedelta(0) < value < timedelta(minutes=1):
            raise ValueError(
                f"CLAW_SCHEDULE_MIN_INTERVAL is {value.total_seconds():g} seconds; schedules step in "
                "minutes: give at least 60 (or '1m', '5m'), or 0 to turn the limit off"
            )
        return value

    @property
    def schedule_min_gap(self) -> timedelta | None:
        """The minimum interval as the scheduler takes it: None when turned off."""
        return self.schedule_min_interval or None

    @model_validator(mode="before")
    @classmethod
    def _workspace_in_home(cls, data: object) -> object:
        """The workspace lives in the home unless CLAW_WORKSPACE says otherwise."""
        if isinstance(data, dict) and not data.get("workspace"):
            home = data.get("home")
            home = home if not isinstance(home, str) or home.strip() else None
            data = {**data, "workspace": Path(home or default_home()) / "workspace"}
        return data

    #: web_fetch (claw/webtools): comma-separated hosts allowed even on private addresses
    web_allow_hosts: str | None = None
    web_max_bytes: int = Field(default=2_000_000, ge=1_000)  #: most of a page's body read
    web_timeout: float = Field(default=15.0, gt=0, le=120)  #: seconds per fetch (redirects too) or search
    web_max_chars: int = Field(default=12_000, ge=500)  #: most text of a page given to the model
    #: web_search: brave, tavily or a SearXNG URL; unset: the tool is not offered
    search_provider: str | None = None
    search_api_key: SecretStr | None = None
    search_url: str | None = None  #: another base URL for brave/tavily (a proxy; the tests' fakes)

    #: debug, info, warning or error; at info, steady-state polls and sweeps are silent
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: set by `claw up` for each Celery process it starts (claw/logs.py): the file its banner and
    #: log lines go to (unset: the console), and the name its console lines carry
    log_file: Path | None = None
    process_name: str = "claw"

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_log_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    # ---- derived values -------------------------------------------------------------------

    @property
    def turn_soft_time_limit(self) -> int:
        """When a turn is interrupted (SoftTimeLimitExceeded) to apologise: early enough before
        the hard kill to write the apology, late enough to leave the turn most of its time."""
        return self.turn_time_limit - min(30, max(2, self.turn_time_limit // 5))

    @property
    def llm_call_budget(self) -> float:
        """Longest one model call can take with the SDK's retries: every attempt timing out,
        plus the SDK's backoff between them (0.5 s doubling, at most 8 s)."""
        backoff = sum(min(0.5 * 2**attempt, 8.0) for attempt in range(self.llm_max_retries))
        return self.llm_timeout * (self.llm_max_retries + 1) + backoff

    @model_validator(mode="after")
    def _time_limits_fit(self) -> Settings:
        """A model call's retries and a sandbox run must end on their own before the turn's
        soft limit; otherwise the limit, not the real failure, is what the user hears about."""
        soft = self.turn_soft_time_limit
        if self.resolved_llm != "offline" and self.llm_call_budget > soft:
            raise ValueError(
                f"one model call may take {self.llm_call_budget:g} s (CLAW_LLM_TIMEOUT "
                f"{self.llm_timeout:g} x (1 + CLAW_LLM_MAX_RETRIES {self.llm_max_retries}) plus "
                f"backoff), more than the turn's soft time limit of {soft} s: lower them or raise "
                "CLAW_TURN_TIME_LIMIT"
            )
        if self.sandbox_wall_seconds >= soft:
            raise ValueError(
                f"CLAW_SANDBOX_WALL_SECONDS ({self.sandbox_wall_seconds:g}) must be below the "
                f"turn's soft time limit of {soft} s: lower it or raise CLAW_TURN_TIME_LIMIT"
            )
        if self.visibility_timeout <= self.turn_time_limit:
            raise ValueError(
                f"CLAW_VISIBILITY_TIMEOUT ({self.visibility_timeout}) must be above "
                f"CLAW_TURN_TIME_LIMIT ({self.turn_time_limit}), or running turns are redelivered"
            )
        return self

    @property
    def resolved_llm(self) -> str:
        if self.llm:
            return self.llm
        return "anthropic" if self.anthropic_api_key else "offline"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'claw.db').resolve()}"

    @property
    def resolved_redis_url(self) -> str:
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def memory_index_dir(self) -> Path:
        """Where the memory search indexes live: a cache of the workspace's memory files."""
        return self.home / "memory-index"

    @property
    def token_file(self) -> Path:
        return self.home / "api_token"

    def api_token_value(self, *, create: bool = False) -> str:
        """The API bearer token: CLAW_API_TOKEN, else the one kept in $CLAW_HOME/api_token.

        An empty value never counts as a token: it would let a request without one through.
        """
        if self.api_token and self.api_token.get_secret_value().strip():
            return self.api_token.get_secret_value().strip()
        try:
            stored = self.token_file.read_text().strip()
        except FileNotFoundError:
            stored = ""
        if stored:
            return stored
        if not create:
            raise RuntimeError(
                f"no API token: set CLAW_API_TOKEN or start `claw up` to create {self.token_file}"
            )
        return self._create_token_file()

    def _create_token_file(self) -> str:
        # Written to a private temporary file and renamed, so a crash never leaves an empty token.
        self.home.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        temporary = self.token_file.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
        os.replace(temporary, self.token_file)
        return token

    @property
    def whatsapp_allowed_chats(self) -> set[str]:
        return {c.strip() for c in (self.whatsapp_allowlist or "").split(",") if c.strip()}

    @property
    def telegram_allowed_chats(self) -> set[str]:
        return {c.strip() for c in (self.telegram_allowlist or "").split(",") if c.strip()}


def default_home() -> Path:
    """Where claw keeps its state when CLAW_HOME is not set: the user's data folder, as other
    tools do, rather than ./var, which made every command depend on the folder it ran in."""
    return platformdirs.user_data_path("claw")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
