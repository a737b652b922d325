"""The bwrap backend: bubblewrap namespaces, the default where they work.

Inside: new user, network, pid, ipc, uts (and cgroup) namespaces; a read-only root with
read-only /usr (and the
/bin, /lib... links or directories beside it); no /etc but the loader cache and the
alternatives links; the group's scratch folder read-write at /workspace, its IPC folders at
/ipc (responses/ read-only), its personality and memory read-only under /group; a private size-limited
/tmp; a private /proc and a read-only /dev; uid 65534; an environment of PATH, LANG and the IPC
location only. Nothing else of the host exists there: no /home, /root, CLAW_HOME, database,
token file or other group. rlimits are set by prlimit inside the new user namespace, so
RLIMIT_NPROC counts the sandbox's own processes, not everyone's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from claw.config import Settings
from claw.sandbox.base import (
    GUEST_DIR,
    GUEST_DIR_INSIDE,
    GUEST_FILES,
    IPC_INSIDE,
    WORKSPACE_INSIDE,
    BackendStatus,
    RunSpec,
    Strength,
    hand_over,
    inner_command,
    sandbox_env,
    sandbox_owner,
)
from claw.sandbox.errors import SandboxConfigError
from claw.sandbox.interpreter import Interpreter, sandbox_bash, sandbox_python
from claw.sandbox.process import LaunchPlan
from claw.sandbox.staging import staged_launch, staged_path

#: uid and gid the code sees inside (nobody); on the host it is claw's user or CLAW_SANDBOX_UID
INSIDE_ID = "65534"
HOSTNAME = "sandbox"
TOP_LEVEL = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
#: harmless pieces of /etc: the loader's cache and the links Debian's /usr/bin points into
ETC_FILES = ("/etc/ld.so.cache", "/etc/alternatives")
PROBE_TIMEOUT = 20


def _system_binds(interpreter: Interpreter) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in TOP_LEVEL:
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in ETC_FILES:
        args += ["--ro-bind-try", path, path]
    if interpreter.bind:
        args += ["--ro-bind", interpreter.bind, interpreter.bind]
    return args


@lru_cache(maxsize=4)
def _options(bwrap: str) -> frozenset[str]:
    """The options this bwrap knows: --disable-userns is 0.8+, --size 0.7+ (older ones run
    without that hardening rather than not at all; the doctor line says which are missing)."""
    try:
        text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(word for word in text.split() if word.startswith("--"))


def _guest_fds() -> list[tuple[int, str]]:
    """The guest helper as memfds: copied in by bwrap, so no host path needs to be reachable."""
    fds = []
    for name in GUEST_FILES:
        fd = os.memfd_create(f"claw-{name}", 0)
        os.write(fd, (GUEST_DIR / name).read_bytes())
        os.lseek(fd, 0, os.SEEK_SET)
        fds.append((fd, f"{GUEST_DIR_INSIDE}/{name}"))
    return fds


class BwrapBackend:
    name = "bwrap"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.bwrap = shutil.which("bwrap")
        self.prlimit = shutil.which("prlimit", path="/usr/bin:/bin")

    def plan(self, spec: RunSpec) -> LaunchPlan:
        if not self.bwrap:
            raise SandboxConfigError("bubblewrap is not installed (apt-get install bubblewrap)")
        if not self.prlimit:
            raise SandboxConfigError("prlimit is missing (apt-get install util-linux)")
        interpreter = sandbox_python(self.settings)
        owner = sandbox_owner(self.settings)
        mounts = spec.mounts()
        sources = [str(mount.source.resolve()) for mount in mounts]
        inner = inner_command(spec.language, spec.code, python=interpreter.path, bash=sandbox_bash())
        guest = _guest_fds()  # nothing below may fail: these descriptors close after the start
        limits = spec.limits
        env = sandbox_env(ipc_dir=IPC_INSIDE, guest_dir=GUEST_DIR_INSIDE)
        argv = [self.bwrap, *_system_binds(interpreter)]
        for index, mount in enumerate(mounts):
            source = staged_path(index) if owner else sources[index]
            argv += ["--bind" if mount.writable else "--ro-bind", source, mount.inside]
        options = _options(self.bwrap)
        if "--size" in options:
            argv += ["--size", str(limits.tmp_mb << 20)]
        argv += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
        # --dev is a tmpfs sized only by the host's RAM: read-only, it holds just its devices
        # (null, zero, full, random, urandom, tty, pts still work; nothing can be stored there)
        argv += ["--remount-ro", "/dev"]
        for fd, inside in guest:
            argv += ["--ro-bind-data", str(fd), inside]
        argv += ["--remount-ro", "/"]  # last mount step: the root itself read-only too
        argv += ["--unshare-all", "--unshare-user"]
        if "--disable-userns" in options:  # no nested user namespaces: less kernel to attack
            argv.append("--disable-userns")
        argv += [
            "--uid", INSIDE_ID, "--gid", INSIDE_ID, "--hostname", HOSTNAME,
            "--die-with-parent", "--new-session", "--clearenv",
        ]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        argv += ["--chdir", WORKSPACE_INSIDE, "--"]
        argv += [
            self.prlimit,
            f"--as={limits.memory_bytes}",
            f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",
            f"--nproc={limits.processes}",
            f"--fsize={limits.file_size_bytes}",
            f"--nofile={limits.open_files}",
            "--core=0",
            "--",
        ]
        argv += inner
        return LaunchPlan(
            argv=argv,
            env={"PATH": "/usr/bin:/bin"},
            pass_fds=tuple(fd for fd, _ in guest),
            preexec=staged_launch(sources, *owner) if owner else None,
        )

    def status(self) -> BackendStatus:
        """Probe: really run Python through the full plan in a scratch workspace."""
        from claw.sandbox.limits import default_limits
        from claw.sandbox.process import Execution

        try:
            interpreter = sandbox_python(self.settings)
            with tempfile.TemporaryDirectory(prefix="claw-probe-") as scratch:
                hand_over(Path(scratch), sandbox_owner(self.settings))
                spec = RunSpec(
                    Path(scratch), "python",
                    "import os, socket; print(os.getuid(), socket.gethostname())",
                    default_limits(self.settings).model_copy(update={"wall_seconds": PROBE_TIMEOUT}),
                )
                result = Execution(self.plan(spec), spec.limits).wait()
        except (SandboxConfigError, OSError, subprocess.SubprocessError) as exc:
            return BackendStatus(self.name, False, Strength.STRONG, str(exc))
        except Exception as exc:  # SandboxUnavailable and anything the probe surfaced
            return BackendStatus(self.name, False, Strength.STRONG, f"{type(exc).__name__}: {exc}")
        if result.exit_code != 0 or result.output.split() != [INSIDE_ID, HOSTNAME]:
            reason = result.output.strip()[-300:] or f"exit code {result.exit_code}"
            return BackendStatus(self.name, False, Strength.STRONG, f"bwrap does not work here: {reason}")
        owner = sandbox_owner(self.settings)
        runs_as = f"host uid {owner[0]}" if owner else f"host uid {os.geteuid()} (claw's own)"
        python = interpreter.path + (f" (prefix {interpreter.bind} bound read-only)" if interpreter.bind else "")
        missing = sorted({"--disable-userns", "--size"} - _options(self.bwrap or ""))
        older = f"; this bwrap lacks {', '.join(missing)} (0.8 has them)" if missing else ""
        return BackendStatus(
            self.name, True, Strength.STRONG,
            f"no network; own pid, ipc, uts and user namespaces; read-only system dirs; uid 65534 "
            f"inside ({runs_as}); rlimits via prlimit; python {python}{older}",
        )
