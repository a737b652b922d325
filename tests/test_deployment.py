"""docker-compose.yml runs the same stack as `claw up`: every shard queue has exactly one
single-concurrency consumer, and the io queue has one too (DESIGN.md, Runtime)."""

from __future__ import annotations

from pathlib import Path

import yaml

from claw.config import Settings
from claw.pipeline.routing import IO_QUEUE, SHARD_QUEUE_PREFIX
from claw.runtime.forkserver import parse_args
from claw.runtime.stack import FORKSERVER, forked_specs, shard_worker_argv, stack_specs
from claw.runtime.supervisor import ProcessSpec

ROOT = Path(__file__).resolve().parents[1]


def processes(settings: Settings, *, flower: bool, verbose: bool = False, token: str = "token-1234") -> list[ProcessSpec]:
    """What `claw up` runs: the fork server alone, and what the fork server then runs as told
    by the options `claw up` gave it."""
    [server] = stack_specs(settings, env={"CLAW_API_TOKEN": token}, flower=flower, verbose=verbose)
    assert server.name == FORKSERVER and server.argv[1:3] == ["-m", "claw.runtime.forkserver"]
    assert token not in " ".join(server.argv)  # Flower's password never in `ps`
    options = parse_args(list(server.argv[3:]))
    return forked_specs(settings, log_level=options.log_level, to_files=not options.console_logs,
                        flower=options.flower, api_token=token)


def queue_consumers(commands: list[list[str]]) -> dict[str, list[list[str]]]:
    consumers: dict[str, list[list[str]]] = {}
    for argv in commands:
        if "worker" in argv:
            consumers.setdefault(argv[argv.index("-Q") + 1], []).append(argv)
    return consumers


def test_compose_scales_one_shard_worker_service_whose_replicas_claim_a_shard_each() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    shards = int(services["api"]["environment"]["CLAW_SHARDS"])
    # one service of identical shard workers, as many replicas as CLAW_SHARDS says
    assert services["shard"]["command"] == ["claw", "worker"]
    assert services["shard"]["deploy"]["replicas"] == shards
    # and each replica becomes one shard queue's single-concurrency worker (claw worker)
    argv = shard_worker_argv(5)
    assert argv[argv.index("-Q") + 1] == f"{SHARD_QUEUE_PREFIX}5"
    assert argv[argv.index("-c") + 1] == "1" and "--prefetch-multiplier" in argv
    # the io queue has its one consumer too
    consumers = queue_consumers([s["command"] for name, s in services.items() if "command" in s and name != "shard"])
    assert set(consumers) == {IO_QUEUE}


def test_claw_up_gives_each_shard_queue_one_single_concurrency_worker() -> None:
    settings = Settings(shards=4)
    specs = processes(settings, flower=True)
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
    shard_services = [s for s in compose["services"].values() if s.get("command") == ["claw", "worker"]]
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
    quiet = {s.name: s for s in processes(settings, flower=False)}
    for name in ("shard0", "io", "beat"):
        argv = list(quiet[name].argv)
        log_file = str(tmp_path.resolve() / "logs" / f"{name}.log")
        assert argv[argv.index("--logfile") + 1] == log_file
        assert quiet[name].env is not None and quiet[name].env["CLAW_LOG_FILE"] == log_file
    assert "warning" in quiet["api"].argv
    with_flower = {s.name: s for s in processes(settings, flower=True)}
    assert f"--log_file_prefix={tmp_path.resolve() / 'logs' / 'flower.log'}" in with_flower["flower"].argv
    for loud in (processes(settings, flower=False, verbose=True),
                 processes(Settings(home=tmp_path, shards=1, log_level="DEBUG"), flower=False)):
        for spec in loud:
            assert "--logfile" not in spec.argv and "CLAW_LOG_FILE" not in (spec.env or {})
            assert not any(a.startswith("--log_file_prefix") for a in spec.argv)


def test_two_hosts_with_their_own_shard_base_consume_disjoint_shard_queues() -> None:
    def shard_queues(settings: Settings) -> set[str]:
        specs = processes(settings, flower=False)
        return {q for q in queue_consumers([list(spec.argv) for spec in specs]) if q != IO_QUEUE}

    host_a = shard_queues(Settings(shards=2))
    host_b = shard_queues(Settings(shards=2, shard_base=2))
    assert host_a == {f"{SHARD_QUEUE_PREFIX}0", f"{SHARD_QUEUE_PREFIX}1"}
    assert host_b == {f"{SHARD_QUEUE_PREFIX}2", f"{SHARD_QUEUE_PREFIX}3"}
