"""run_code: run Python or bash in the group's sandbox (claw/sandbox), never on the host.

Its result is journaled the moment the sandbox is gone, and each host request of the code (a
message sent, a schedule made) is journaled with its effect (claw/sandbox/ipc/host.py). A turn
redone after that never runs the code again; one redone while the code ran runs it again
(at-least-once), but then its host requests are answered from the journal, not done twice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from claw.agent.tools.registry import ToolContext, ToolError, ToolResult, tool
from claw.sandbox import Identity, SandboxError, SandboxRun
from claw.sandbox import run_code as run_in_sandbox

#: one argv string: Linux refuses a single argument over 128 KiB
MAX_CODE_BYTES = 100_000


@tool
def run_code(
    ctx: ToolContext,
    language: Annotated[Literal["python", "bash"], Field(description="python or bash")],
    code: Annotated[str, Field(description="the program to run")],
) -> str:
    """Run a short Python or bash program in an isolated sandbox without network access.
    Its working directory /workspace holds this group's files (the same files read_file and
    write_file see); anything else it writes is thrown away. Your personality and memory are
    readable at /group/CLAUDE.md and /group/memory (change them with the tools, not from code).
    Time, memory and output are limited, and so is the sandbox time of one turn. Python code can
    `import claw_ipc` and call `claw_ipc.send_message(text)` to post
    a message to this group while it runs, and `claw_ipc.web_fetch(url)["text"]` or
    `claw_ipc.web_search(query)["results"]` to read the web through the host."""
    if len(code.encode("utf-8")) > MAX_CODE_BYTES:
        raise ToolError(f"the code is over {MAX_CODE_BYTES:,} bytes; write it to a file with write_file first")
    try:
        run = run_in_sandbox(ctx.settings, Identity(ctx.group_id, ctx.is_main), language, code,
                             journal=ctx.journal, budget=ctx.sandbox_budget)
    except SandboxError as exc:
        raise ToolError(str(exc)) from None
    content = render(run)
    if ctx.journal is not None:
        content = ToolResult.from_data(ctx.journal.record_once(ToolResult(content).to_data())).content
    return content


def render(run: SandboxRun) -> str:
    if run.killed == "timeout":
        status = f"killed after {run.seconds:.1f} s: the time limit is {run.limits.wall_seconds:g} s"
    elif run.killed == "heartbeat":
        status = (f"killed after {run.seconds:.1f} s: its heartbeat stopped for "
                  f"{run.limits.heartbeat_timeout:g} s (a process hung)")
    else:
        status = f"exit code {run.exit_code} ({run.seconds:.2f} s)"
    if run.oom_kills:
        status += (f"; the run's memory limit ({run.limits.memory_mb} MB, /tmp included) was hit: "
                   f"{run.oom_kills} process(es) killed")
    if run.disk is not None and run.disk.over:
        status += f"; the workspace is over its quota: {run.disk.describe()}"
    ipc = run.ipc
    if ipc.answered or ipc.dropped:
        status += f"; host requests: {ipc.done} done, {ipc.refused} refused"
        status += f", {ipc.dropped} dropped" if ipc.dropped else ""
    return f"{status}\n{run.output}" if run.output else f"{status}\n(no output)"
