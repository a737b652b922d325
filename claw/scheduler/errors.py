"""What can go wrong when asking for a schedule; every message tells the user what to do.

    SchedulerError
    ├── SpecError          the spec or timezone cannot be understood (lists the accepted forms)
    ├── ScheduleNotFound   no such schedule in this group (another group's looks the same)
    └── ScheduleRefused    a bad kind or text, or the group has too many schedules
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Base of the scheduler's errors."""


class SpecError(SchedulerError, ValueError):
    """A spec that cannot be understood or used; the message says which forms are accepted."""


class ScheduleNotFound(SchedulerError, LookupError):
    """No schedule with that id in this group."""


class ScheduleRefused(SchedulerError, ValueError):
    """The request is understood but cannot be done as asked."""
