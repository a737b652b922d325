"""Helpers for sandbox tests: settings with small limits, and one call to run code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claw.config import Settings
from claw.sandbox import Identity, SandboxRun, run_code

#: small limits so that every bomb and loop in the suite ends quickly
FAST = {"wall_seconds": 10, "cpu_seconds": 10, "memory_mb": 512, "processes": 32,
        "heartbeat_timeout": 5, "output_kb": 16, "ipc_rate": 30}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": tmp_path / "home",
        "workspace": tmp_path / "workspace",
        "sandbox": "bwrap",
        **{f"sandbox_{k}": v for k, v in FAST.items()},
    }
    return Settings(**{**values, **overrides})


def run(settings: Settings, code: str, *, language: str = "python", group: str = "http:team",
        is_main: bool = False, **limits: Any) -> SandboxRun:
    """Run code in the group's sandbox with the settings' limits (plus ``limits``)."""
    return run_code(settings, Identity(group, is_main), language, code, overrides=limits)
