"""docker-compose.yml runs the same stack as `claw up`: every shard queue has exactly one
single-concurrency consumer, and the io queue has one too (DESIGN.md, Runtime)."""

from __future__ import annotations

from pathlib import Path

import yaml

from claw.config import Settings
from claw.pipeline.routing import IO_QUEUE, SHARD_QUEUE_PREFIX
from claw.runtime.stack import stack_specs

ROOT = Path(__file__).resolve().parents[1]


def queue_consumers(commands: list[list[str]]) -> dict[str, list[list[str]]]:
    consumers: dict[str, list[list[str]]] = {}
    for argv in commands:
        if "worker" in argv:
            consumers.setdefault(argv[argv.index("-Q") + 1], []).append(argv)
    return consumers


def test_compose_gives_each_shard_queue_one_single_concurrency_worker() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    shards = int(services["api"]["environment"]["CLAW_SHARDS"])
    consumers = queue_consumers([s["command"] for s in services.values() if "command" in s])
    for n in range(shards):
        [argv] = consumers[f"{SHARD_QUEUE_PREFIX}{n}"]
        assert argv[argv.index("-c") + 1] == "1"
    assert len(consumers[IO_QUEUE]) == 1
    assert set(consumers) == {IO_QUEUE, *(f"{SHARD_QUEUE_PREFIX}{n}" for n in range(shards))}


def test_claw_up_gives_each_shard_queue_one_single_concurrency_worker() -> None:
    settings = Settings(shards=4)
    specs = stack_specs(settings, env={"CLAW_API_TOKEN": "token-1234"}, flower=True)
    consumers = queue_consumers([list(spec.argv) for spec in specs])
    assert set(consumers) == {IO_QUEUE, *(f"{SHARD_QUEUE_PREFIX}{n}" for n in range(4))}
    for n in range(4):
        [argv] = consumers[f"{SHARD_QUEUE_PREFIX}{n}"]
        assert argv[argv.index("-c") + 1] == "1" and "--prefetch-multiplier" in argv
    flower = next(spec for spec in specs if spec.name == "flower")
    assert "token-1234" not in " ".join(flower.argv)  # the password goes through the environment
    assert flower.env is not None and flower.env["FLOWER_BASIC_AUTH"] == "claw:token-1234"


def test_compose_pins_every_shard_worker_to_the_bwrap_sandbox_with_what_it_needs() -> None:
    # Shard workers run the agent's code: never with the subprocess backend, never auto-detected
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    shard_services = [s for s in compose["services"].values()
                      if any(q.startswith(SHARD_QUEUE_PREFIX) for q in s.get("command", []))]
    assert shard_services
    for service in shard_services:
        assert service["environment"]["CLAW_SANDBOX"] == "bwrap"
        assert "seccomp=unconfined" in service["security_opt"]  # bwrap's user namespaces
        # and the rest of the stack's settings still reach it
        assert service["environment"]["CLAW_REDIS_URL"] == "redis://redis:6379/0"
    others = [s for s in compose["services"].values() if s not in shard_services and "environment" in s]
    assert all(s["environment"].get("CLAW_SANDBOX") != "subprocess" for s in others)


def test_claw_up_sends_celery_logs_to_files_unless_verbose_or_debug(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, shards=1)
    quiet = {s.name: s for s in stack_specs(settings, env={"CLAW_API_TOKEN": "t"}, flower=False)}
    for name in ("shard0", "io", "beat"):
        argv = list(quiet[name].argv)
        log_file = str(tmp_path.resolve() / "logs" / f"{name}.log")
        assert argv[argv.index("--logfile") + 1] == log_file
        assert quiet[name].env is not None and quiet[name].env["CLAW_LOG_FILE"] == log_file
    assert "warning" in quiet["api"].argv
    with_flower = {s.name: s for s in stack_specs(settings, env={"CLAW_API_TOKEN": "t"}, flower=True)}
    assert f"--log_file_prefix={tmp_path.resolve() / 'logs' / 'flower.log'}" in with_flower["flower"].argv
    for loud in (stack_specs(settings, env={"CLAW_API_TOKEN": "t"}, flower=False, verbose=True),
                 stack_specs(Settings(home=tmp_path, shards=1, log_level="DEBUG"), env={"CLAW_API_TOKEN": "t"},
                             flower=False)):
        for spec in loud:
            assert "--logfile" not in spec.argv and "CLAW_LOG_FILE" not in (spec.env or {})
            assert not any(a.startswith("--log_file_prefix") for a in spec.argv)
