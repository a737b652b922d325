"""File IPC: the only way from inside a sandbox to the outside world.

Code in the sandbox writes JSON requests into /workspace/.ipc/requests (the guest helper
claw_ipc does it); the host, a thread beside the running sandbox, checks each against the
registry of ALLOWED_ACTIONS and the group's policy and answers in /workspace/.ipc/responses.
"""

from claw.sandbox.ipc import memory, messaging, scheduling, web  # noqa: F401  (register their actions)
from claw.sandbox.ipc.actions import ALLOWED_ACTIONS, Action, ActionContext, ActionError, register
from claw.sandbox.ipc.host import IpcHost, IpcStats
from claw.sandbox.ipc.policy import ActionDenied, Identity, Policy
from claw.sandbox.ipc.ratelimit import RATE_LIMITER, RateLimiter

__all__ = [
    "ALLOWED_ACTIONS",
    "Action",
    "ActionContext",
    "ActionDenied",
    "ActionError",
    "Identity",
    "IpcHost",
    "IpcStats",
    "Policy",
    "RATE_LIMITER",
    "RateLimiter",
    "register",
]
