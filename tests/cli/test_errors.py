"""Every CLI error is one plain line, and the exit code says which kind (claw/cli/common.py):
1 reported by claw, 2 a usage error, 3 the stack cannot be reached."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from claw.bench.processes import free_port
from tests.cli.conftest import Claw, one_line


@pytest.mark.parametrize(("args", "says"), [
    (["sandbox", "run", "--language", "ruby", "print(1)"], "'ruby' is not one of 'python', 'bash'"),
    (["sandbox", "run", "--group", "http:", "print(1)"], "not a group id: 'http:'"),
    (["schedules", "list", ":team"], "not a group id: ':team'"),
    (["memory", "list", "main", "--category", "jokes"], "unknown category 'jokes'"),
    (["schedules", "rm", "zero"], "Input should be a valid integer"),
    (["nonsense"], "No such command 'nonsense'"),
    # before, these reached the API and came back as its 422 field error with exit 1
    (["send", "x" * 300, "hi"], "a group name of 300 characters is too long"),
    (["usage", "http:" + "y" * 260], "a group name of 260 characters is too long"),
    (["schedules", "pause", str(2**64)], "Input should be less than or equal to 9223372036854775807"),
])
def test_a_usage_error_is_one_line_and_exit_2(claw: Claw, args: list[str], says: str) -> None:
    result = claw(*args)

    assert result.code == 2, result.out + result.err
    line = one_line(result.err)
    assert line.startswith("claw: ") and says in line
    assert "Value error" not in line


def test_a_bad_setting_names_the_variable_and_is_exit_2(claw: Claw, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_SHARDS", "many")

    result = claw("schedules", "list")

    assert result.code == 2
    assert one_line(result.err).startswith("claw: bad settings: CLAW_SHARDS: Input should be a valid integer")


@pytest.mark.parametrize("args", [["send", "main", "hi"], ["doctor"], ["schedules", "list"]])
def test_a_malformed_claw_prices_is_refused_by_every_command(
    claw: Claw, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    # Before, the stack started and every turn failed at its commit, pricing the tokens
    monkeypatch.setenv("CLAW_PRICES", '{"my-model": [1, 2]}')

    result = claw(*args)

    assert result.code == 2
    assert one_line(result.err) == (
        'claw: bad settings: CLAW_PRICES: must be JSON like {"my-model": [input, output, cache_read, '
        'cache_write]} in USD per million tokens')


def test_a_bad_setting_is_one_line_from_the_installed_command_too(tmp_path: Path) -> None:
    # main() checks the settings before any command; the same line, no traceback
    result = subprocess.run([sys.executable, "-m", "claw.cli", "doctor"], cwd=tmp_path, text=True,
                            capture_output=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "CLAW_TURN_TIME_LIMIT": "soon",
                                 "XDG_DATA_HOME": str(tmp_path / "data")})

    assert result.returncode == 2
    assert one_line(result.stderr).startswith("claw: bad settings: CLAW_TURN_TIME_LIMIT: ")


def test_an_error_the_api_reports_is_its_sentence_and_exit_1(claw: Claw, api) -> None:  # type: ignore[no-untyped-def]
    api.post("/v1/messages", json={"chat_id": "plans", "text": "hi", "channel": "terminal"})

    result = claw("schedules", "add", "plans", "whenever you like", "tea")

    assert result.code == 1
    line = one_line(result.err)
    assert line.startswith("claw: ") and "accepted" in line.lower()
    assert "422" not in line and "{" not in line and "error" not in line.split(":")[0]


def test_a_field_the_api_refuses_reads_without_pydantics_prefix(claw: Claw, api) -> None:  # type: ignore[no-untyped-def]
    api.post("/v1/messages", json={"chat_id": "mars", "text": "hi", "channel": "terminal"})

    result = claw("groups", "set", "mars", "--tz", "Mars/Base")

    assert result.code == 1
    assert one_line(result.err) == ("claw: timezone: unknown timezone 'Mars/Base'; use an IANA name "
                                    "like Europe/Berlin")


def test_a_wrong_token_is_one_line_and_exit_1(claw: Claw, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAW_API_TOKEN", "not-the-token")

    result = claw("groups", "list")

    assert result.code == 1
    assert one_line(result.err).startswith("claw: the API refused the token")


def test_no_stack_is_exit_3_with_what_to_do(claw: Claw, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("CLAW_API_PORT", str(port))

    result = claw("schedules", "list")

    assert result.code == 3
    line = one_line(result.err)
    assert f"cannot reach claw at http://127.0.0.1:{port}" in line and "is `claw up` running?" in line
