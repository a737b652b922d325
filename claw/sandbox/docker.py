"""The docker backend: one throw-away container per run.

``--network none``, memory/cpu/pids limits, a read-only root, a tmpfs /tmp, the group's
scratch folder and IPC requests/heartbeat folders as the only read-write volumes (IPC
responses, personality, memory and the guest helper are bound read-only beside them), no
capabilities, no-new-privileges, a non-root user. The container outlives a killed `docker run`
client, so a timeout also runs `docker kill`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

from claw.config import Settings
from claw.sandbox.base import (
    GUEST_DIR,
    GUEST_DIR_INSIDE,
    IPC_INSIDE,
    WORKSPACE_INSIDE,
    BackendStatus,
    RunSpec,
    Strength,
    inner_command,
    sandbox_env,
    sandbox_owner,
)
from claw.sandbox.errors import SandboxConfigError
from claw.sandbox.process import LaunchPlan

#: what the docker client itself needs from claw's environment (never passed into the container)
CLIENT_ENV = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_CERT_PATH",
              "DOCKER_TLS_VERIFY")
CPUS = "1"


class DockerBackend:
    name = "docker"

    def __init__(self, settings: Settings, *, docker: str | None = None) -> None:
        self.settings = settings
        self.docker = docker or shutil.which("docker")

    def user(self) -> str:
        owner = sandbox_owner(self.settings)
        uid, gid = owner if owner else (os.geteuid(), os.getegid())
        return f"{uid}:{gid}"

    def argv(self, spec: RunSpec, name: str) -> list[str]:
        if not self.docker:
            raise SandboxConfigError("the docker client is not installed")
        limits = spec.limits
        env = sandbox_env(ipc_dir=IPC_INSIDE, guest_dir=GUEST_DIR_INSIDE)
        argv = [
            self.docker, "run", "--rm", "--init", "--name", name,
            "--network", "none",
            "--memory", f"{limits.memory_mb}m", "--memory-swap", f"{limits.memory_mb}m",
            "--cpus", CPUS, "--pids-limit", str(limits.processes),
            "--ulimit", f"cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
            "--ulimit", f"fsize={limits.file_size_bytes}:{limits.file_size_bytes}",
            "--ulimit", f"nofile={limits.open_files}:{limits.open_files}",
            "--ulimit", "core=0:0",
            "--read-only", "--tmpfs", f"/tmp:rw,nosuid,nodev,size={limits.tmp_mb}m",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", self.user(), "--hostname", "sandbox",
        ]
        for mount in spec.mounts():
            argv += ["--volume", f"{mount.source.resolve()}:{mount.inside}:{'rw' if mount.writable else 'ro'}"]
        argv += ["--volume", f"{GUEST_DIR}:{GUEST_DIR_INSIDE}:ro", "--workdir", WORKSPACE_INSIDE]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        argv.append(self.settings.sandbox_docker_image)
        argv += inner_command(spec.language, spec.code, python="python3", bash="bash")
        return argv

    def plan(self, spec: RunSpec) -> LaunchPlan:
        name = f"claw-sandbox-{uuid.uuid4().hex[:12]}"
        argv = self.argv(spec, name)
        return LaunchPlan(
            argv=argv,
            env={k: v for k, v in os.environ.items() if k in CLIENT_ENV},
            kill_argv=[argv[0], "kill", name],
        )

    def status(self) -> BackendStatus:
        if not self.docker:
            return BackendStatus(self.name, False, Strength.STRONG, "the docker client is not installed")
        try:
            info = subprocess.run(
                [self.docker, "info", "--format", "{{.ServerVersion}}"],
                capture_output=True, text=True, timeout=10,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return BackendStatus(self.name, False, Strength.STRONG, f"docker info failed: {exc}")
        if info.returncode != 0:
            reason = (info.stderr or info.stdout).strip().splitlines()[-1:] or ["no answer"]
            return BackendStatus(self.name, False, Strength.STRONG, f"no Docker engine here: {reason[0]}")
        return BackendStatus(
            self.name, True, Strength.STRONG,
            f"engine {info.stdout.strip()}; --network none, read-only root, non-root user "
            f"{self.user()}, image {self.settings.sandbox_docker_image}",
        )
