"""Schedule specs: what a user may write, and when each run falls due.

Accepted forms (case-insensitive), as people write them:

    in 10 minutes · in 2h · in half an hour       once, relative to now
    at 2026-05-01 14:00 · 2026-05-01T14:00+02:00  once, absolute (local time unless an offset is given)
    at 14:05 · tomorrow at 9am · tonight at 8     once, the next such local time
    tomorrow morning · this evening at 7
    every 30 minutes · every 30m · every 2h       an interval (minutes and hours are elapsed time,
    hourly · every half hour · every other day    days and weeks keep the wall-clock time across
    every day · daily · every 2 weeks · weekly    DST changes)
    daily 09:00 · daily at 9 · every day at 18:30 every day at a local time
    every morning at 8 · every evening at 7       (7 in the afternoon, evening or at night is pm)
    every monday at 9am · weekly MON 09:00        every week (days may be listed: MON,WED)
    every friday evening at 6
    weekdays at 8 · every weekday morning at 8    Monday to Friday
    weekends at 10                                Saturday and Sunday
    0 9 * * MON                                   a 5-field cron expression

"noon" and "midnight" are times, "o'clock" is ignored; a part of the day without a time takes
its usual one (PART_TIMES). Every form has a normal text (Spec.text) that parses to itself.

Every wall-clock time is in the schedule's timezone (zoneinfo). A local time that does not
exist (the spring-forward gap) runs as many minutes after the gap as it was into it (02:30 on
the changeover day runs at 03:30); a local time that occurs twice (fall-back) runs at the
first one only. All functions take ``now`` explicitly, so none of this needs a patched clock.

Specs come from chat members and from sandboxed code, so parsing is bounded: the text is at
most MAX_SPEC_CHARS, no pattern can backtrack (day words are matched possessively and the
separators between them cannot be read as part of a day), numbers are capped at HORIZON (a
larger one would overflow date arithmetic), and whether a cron expression ever fires is decided
by a search bounded to CRON_YEARS years, never by croniter running until it gives up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from claw.scheduler.errors import SpecError

UTC = timezone.utc

ACCEPTED_FORMS = (
    "'in 10 minutes', 'in 2h', 'at 14:05', 'tomorrow at 9am', 'at 2026-05-01 14:00', 'hourly', "
    "'every 30m', 'every 2 hours', 'every 3 days', 'daily at 9', 'every day at 18:30', "
    "'every morning at 8', 'every evening at 7', 'every monday at 9', 'weekdays at 8', "
    "'weekends at 10', or a 5-field cron expression like '0 9 * * MON'"
)

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
DAY_NAMES = dict(
    zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"))
)
UNITS = {"minute": "minutes", "min": "minutes", "m": "minutes", "hour": "hours", "hr": "hours",
         "h": "hours", "day": "days", "d": "days", "week": "weeks", "wk": "weeks", "w": "weeks"}
#: a week is kept as 7 days: one unit less to time, and "every 2 weeks" reads back as 14 days
WEEK_DAYS = 7
SECOND_WORDS = ("s", "sec", "second")
#: the time a part of the day means when no time is given ("every morning")
PART_TIMES = {"morning": (8, 0), "afternoon": (14, 0), "evening": (18, 0), "night": (21, 0)}
#: "at 7" in these parts of the day, with no am/pm, is in the afternoon or evening
PM_PARTS = ("afternoon", "evening", "night")
UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 24 * 60}
#: longest spec text parsed; the API and the tools refuse longer ones before they get here
MAX_SPEC_CHARS = 200
#: how far ahead a run may be, and the longest interval: beyond it date arithmetic overflows
HORIZON = timedelta(days=3660)
HORIZON_WORDS = "10 years (3660 days, 87840 hours)"
#: most runs a spec may skip over when looking for the next one (a repeated DST hour)
MAX_SEARCH = 1000
#: years a cron search looks ahead before calling the expression one that never fires
#: (29 February falls at most 8 years apart)
CRON_YEARS = 9
#: IANA names are ASCII words joined by '/', like America/Argentina/Buenos_Aires or Etc/GMT+5
ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]{1,32}(?:/[A-Za-z0-9_+\-]{1,32}){0,3}")

TIME = r"(?P<hh>\d{1,2})(?::(?P<mm>\d{2}))?\s*(?P<ampm>am|pm)?"
DATE = r"(?P<date>\d{4}-\d{2}-\d{2})[ t](?P<clock>\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(?P<offset>z|utc|[+-]\d{2}:?\d{2})?"
# Possessive: a day word never gives letters back, so "monandmon" is one (bad) word, not
# "mon" and "mon", and a failing match cannot try every way of splitting it.
DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*+"
# Between days: "," or "and", or ", and"; never empty, so two words cannot run together.
DAY_SEPARATOR = r"(?: ?,(?: and)? ?| and )"
DAY_LIST = rf"(?>(?:{DAY}|weekdays?|weekends?)(?:{DAY_SEPARATOR}(?:{DAY}|weekdays?|weekends?))*)"
PART = r"(?: in the)? (?P<part>morning|afternoon|evening|night)"
#: a time that may be left out (a part of the day then gives it)
MAYBE_TIME = rf"(?:(?: at)? {TIME})?"


def zone(name: str) -> ZoneInfo:
    """The IANA timezone ``name``; anything else (a path, a long or odd name) is a SpecError."""
    try:
        if not ZONE_NAME.fullmatch(name):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise SpecError(
            f"unknown timezone {name!r}: use an IANA name like 'Europe/Berlin', 'America/New_York' or 'UTC'"
        ) from None


def localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """A naive local wall time as an aware UTC instant (gap: shifted forward; fold: first)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def wall_time(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Spec:
    """A parsed spec. ``text`` is its normalised form, which parses back to the same Spec."""

    form: str  #: "once" | "interval" | "cron"
    text: str
    at: datetime | None = None  #: once: the instant (UTC)
    every: int = 0  #: interval: how many units
    unit: str = ""  #: interval: "minutes" | "hours" | "days"
    cron: str = ""  #: cron, daily and weekly: the 5-field expression

    @property
    def repeats(self) -> bool:
        return self.form != "once"

    def first_run(self, now: datetime, tz: ZoneInfo) -> datetime:
        """When a schedule created (or changed) at ``now`` runs first."""
        if self.form == "once":
            assert self.at is not None
            if self.at <= now:
                raise SpecError(f"{self.text!r} is in the past; give a time that is still to come")
            return self.at
        if self.form == "interval":
            return self._interval_after(now, now, tz)
        return self._cron_after(now, tz)

    def next_run(self, due: datetime, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The run after the one due at ``due`` that fired at ``now``: strictly after ``now``.

        After downtime this skips every missed period, so a late schedule fires once and then
        keeps its cadence (an interval stays in phase with its first run).
        """
        if self.form == "once":
            return None
        if self.form == "interval":
            return self._interval_after(due, now, tz)
        return self._cron_after(now, tz)

    def _interval_after(self, base: datetime, now: datetime, tz: ZoneInfo) -> datetime:
        if self.unit == "days":
            start = wall_time(base, tz)
            # elapsed days are a lower bound on the steps needed; wall-clock days are 23-25 h
            steps = max(1, math.floor((now - base) / timedelta(days=self.every)))
            while True:
                candidate = localize(start + timedelta(days=self.every * steps), tz)
                if candidate > now:
                    return candidate
                steps += 1
        period = timedelta(**{self.unit: self.every})
        steps = max(1, math.floor((now - base) / period) + 1)
        return base + period * steps

    def _cron_after(self, now: datetime, tz: ZoneInfo) -> datetime:
        start = wall_time(now, tz)
        with _cron_errors(self.cron):
            iterator = croniter(self.cron, start, max_years_between_matches=CRON_YEARS)
            for _ in range(MAX_SEARCH):
                candidate = localize(iterator.get_next(datetime), tz)
                # the wall time of `now` may be the second pass through a repeated hour
                if candidate > now:
                    return candidate
        raise SpecError(f"{self.text!r} never comes")

    def shortest_gap(self) -> timedelta | None:
        """The least time between two runs (None for a one-off), for the minimum-interval rule.

        For cron it is a lower bound from the minute and hour fields alone: the closest two
        times of one day, or the last time of a day and the first of the next.
        """
        if self.form == "once":
            return None
        if self.form == "interval":
            return timedelta(minutes=self.every * UNIT_MINUTES[self.unit])
        with _cron_errors(self.cron):
            minutes, hours = croniter(self.cron).expanded[:2]
        minutes = range(60) if minutes == ["*"] else minutes
        hours = range(24) if hours == ["*"] else hours
        times = sorted({int(h) * 60 + int(m) for h in hours for m in minutes})
        gaps = [b - a for a, b in zip(times, times[1:])] + [24 * 60 - times[-1] + times[0]]
        return timedelta(minutes=min(gaps))

    def describe(self) -> str:
        """In words, for people: "every Monday at 09:00", "every 2 hours"."""
        if self.form == "interval":
            every, unit = self.every, self.unit
            if unit == "days" and every % WEEK_DAYS == 0:
                every, unit = every // WEEK_DAYS, "weeks"
            return f"every {unit[:-1]}" if every == 1 else f"every {every} {unit}"
        if self.form == "cron":
            minute, hour, dom, month, dow = self.cron.split()
            clock = f"{int(hour):02d}:{int(minute):02d}" if minute.isdigit() and hour.isdigit() else ""
            if clock and dom == month == "*":
                if dow == "*":
                    return f"daily at {clock}"
                if dow == "MON-FRI":
                    return f"every weekday at {clock}"
                if all(d in DAYS for d in dow.split(",")):
                    *others, last = [DAY_NAMES[d] for d in dow.split(",")]
                    days = f"{', '.join(others)} and {last}" if others else last
                    return f"every {days} at {clock}"
            return f"cron {self.cron}"
        return self.text


@contextmanager
def _cron_errors(cron: str) -> Iterator[None]:
    """croniter's own complaints (and its odd ones: overflow, type errors) as a SpecError."""
    try:
        yield
    except CroniterError as exc:
        if "failed to find" in str(exc):
            raise SpecError(
                f"'{cron}' never runs: no date matches it (like 30 February) within {CRON_YEARS} years"
            ) from None
        raise SpecError(f"'{cron}' is not a valid cron expression ({exc})") from None
    except (ValueError, OverflowError, TypeError, KeyError, IndexError):
        raise SpecError(f"'{cron}' is not a valid cron expression (minute hour day-of-month month day-of-week)") from None


def _amount(n: int, unit: str, *, interval: bool) -> timedelta:
    """``n`` units as a timedelta, refused past HORIZON (a bigger one overflows dates)."""
    if n * UNIT_MINUTES[unit] > HORIZON // timedelta(minutes=1):
        if interval:
            raise SpecError(f"'every {n} {unit}' is too long an interval; the longest is {HORIZON_WORDS}")
        raise SpecError(f"'in {n} {unit}' is too far ahead; the furthest is {HORIZON_WORDS} from now")
    return timedelta(minutes=n * UNIT_MINUTES[unit])


def _clock(hh: str, mm: str | None, ampm: str | None) -> tuple[int, int]:
    hour, minute = int(hh), int(mm or 0)
    if ampm:
        if not 1 <= hour <= 12:
            raise SpecError(f"{hh}{ampm} is not a time; use 1-12 with am/pm, or 24-hour HH:MM")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise SpecError(f"{hh}:{mm or '00'} is not a time of day; use HH:MM from 00:00 to 23:59")
    return hour, minute


def _days(text: str) -> str:
    days: set[str] = set()
    for word in re.split(DAY_SEPARATOR, text.strip()):
        if word in ("weekday", "weekdays"):
            days.update(DAYS[:5])
            continue
        if word in ("weekend", "weekends"):
            days.update(DAYS[5:])
            continue
        prefix = word[:3].upper()
        # "mondays" is Monday too; "monand" is no day
        name = word.lower().removesuffix("s") if len(word) > 3 else word.lower()
        if prefix not in DAYS or not DAY_NAMES[prefix].lower().startswith(name):
            raise SpecError(f"{word!r} is not a day; use MON, TUE, WED, THU, FRI, SAT or SUN")
        days.add(prefix)
    if days == set(DAYS[:5]):
        return "MON-FRI"
    return ",".join(sorted(days, key=DAYS.index))


def _time_of(match: re.Match[str], *, part: str | None = None) -> tuple[int, int]:
    """The time of day a match gives: its clock, read in its part of the day if it names one."""
    part = part or match.groupdict().get("part")
    if match["hh"] is None:
        if part is None:
            raise SpecError(f"'{match.string}' needs a time of day, like '{match.string} at 9:00'")
        return PART_TIMES[part]
    hour, minute = _clock(match["hh"], match["mm"], match["ampm"])
    if part in PM_PARTS and not match["ampm"]:
        if 1 <= hour <= 11 and not (part == "night" and hour < 6):  # "night at 2" is 02:00
            hour += 12
        elif part == "night" and hour == 12:
            hour = 0
    return hour, minute


def _daily(hour: int, minute: int) -> Spec:
    return Spec("cron", f"daily {hour:02d}:{minute:02d}", cron=f"{minute} {hour} * * *")


def _weekly(days: str, hour: int, minute: int) -> Spec:
    if days == "MON-FRI":
        return Spec("cron", f"weekdays {hour:02d}:{minute:02d}", cron=f"{minute} {hour} * * MON-FRI")
    return Spec("cron", f"weekly {days} {hour:02d}:{minute:02d}", cron=f"{minute} {hour} * * {days}")


def _once(at: datetime, tz: ZoneInfo) -> Spec:
    local = at.astimezone(tz)
    clock = "%H:%M:%S" if local.second or local.microsecond else "%H:%M"
    return Spec("once", f"once {local.strftime('%Y-%m-%d ' + clock)}", at=at.replace(microsecond=0))


def _absolute(match: re.Match[str], now: datetime, tz: ZoneInfo) -> datetime:
    clock = match["clock"].zfill(len(match["clock"]) + (match["clock"].index(":") == 1))
    try:
        wall = datetime.fromisoformat(f"{match['date']}T{clock}")
    except ValueError:
        raise SpecError(f"{match['date']} {match['clock']} is not a date and time") from None
    # far from now, converting between zones overflows (year 1 east of UTC, year 9999 west)
    if wall.year < 1970:
        raise SpecError(f"{match['date']} is in the past; give a time that is still to come")
    if wall > wall_time(now, tz) + HORIZON:
        raise SpecError(f"{match['date']} is too far ahead; the furthest is {HORIZON_WORDS} from now")
    offset = (match["offset"] or "").lower()
    if not offset:
        return localize(wall, tz)
    if offset in ("z", "utc"):
        return wall.replace(tzinfo=UTC)
    return datetime.fromisoformat(f"{wall.isoformat()}{offset[:3]}:{offset[-2:]}").astimezone(UTC)


def _next_clock(hour: int, minute: int, now: datetime, tz: ZoneInfo, *, tomorrow: bool) -> datetime:
    today = wall_time(now, tz).replace(hour=hour, minute=minute, second=0, microsecond=0)
    candidate = today + timedelta(days=1) if tomorrow else today
    while localize(candidate, tz) <= now:
        candidate += timedelta(days=1)
    return localize(candidate, tz)


def _plain(text: str) -> str:
    """The spec in one case and spacing, with the words that name a clock time made times."""
    spec = " ".join(text.strip().lower().split())
    spec = re.sub(r" ?o'?clock\b", "", spec)
    spec = re.sub(r"\b(?:12 )?noon\b", "12:00", spec)
    return re.sub(r"\b(?:12 )?midnight\b", "0:00", spec)


def parse_spec(text: str, *, now: datetime, tz: ZoneInfo) -> Spec:
    """Parse what a user (or the model) wrote; raise SpecError saying what forms work."""
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"a spec is at most {MAX_SPEC_CHARS} characters; accepted forms: {ACCEPTED_FORMS}")
    spec = _plain(text)
    if not spec:
        raise SpecError(f"a schedule needs a spec; accepted forms: {ACCEPTED_FORMS}")
    try:
        parsed = _parse(spec, now, tz)
    except SpecError as exc:
        raise SpecError(f"{exc} (accepted forms: {ACCEPTED_FORMS})") from None
    if parsed is None:
        raise SpecError(f"cannot understand the schedule {text.strip()!r}; accepted forms: {ACCEPTED_FORMS}")
    return parsed


def _unit(word: str) -> str | None:
    """The unit a word names ("m", "hrs", "weeks"); seconds are refused with the reason."""
    if word in SECOND_WORDS:
        raise SpecError("schedules count in minutes, hours, days and weeks; the shortest step is a minute")
    return UNITS.get(word)


def _count(n: int, unit: str) -> tuple[int, str]:
    """Weeks as days: the timing knows minutes, hours and days."""
    return (n * WEEK_DAYS, "days") if unit == "weeks" else (n, unit)


def _interval(n: int, unit: str) -> Spec:
    n, unit = _count(n, unit)
    if n < 1:
        raise SpecError("an interval must be at least 1")
    _amount(n, unit, interval=True)
    return Spec("interval", f"every {n} {unit if n != 1 else unit[:-1]}", every=n, unit=unit)


def _parse(spec: str, now: datetime, tz: ZoneInfo) -> Spec | None:
    # a word that is no unit ("every monday") may still be another form: fall through
    if (m := re.fullmatch(r"in (?P<n>\d+|an?) ?(?P<unit>[a-z]+?)s?", spec)) and (unit := _unit(m["unit"])):
        n, unit = _count(1 if m["n"] in ("a", "an") else int(m["n"]), unit)
        if n < 1:
            raise SpecError(f"'{spec}' is now; give at least 1 {unit[:-1]}")
        return _once(now + _amount(n, unit, interval=False), tz)
    if re.fullmatch(r"in (?:half an?|a half) hour", spec):
        return _once(now + timedelta(minutes=30), tz)
    if m := re.fullmatch(rf"(?:(?:at|on|once)(?: at)? )?{DATE}", spec):
        return _once(_absolute(m, now, tz), tz)
    if m := re.fullmatch(rf"(?:at|once)(?: at)? {TIME}", spec):
        return _once(_next_clock(*_clock(m["hh"], m["mm"], m["ampm"]), now, tz, tomorrow=False), tz)
    if m := re.fullmatch(rf"tomorrow(?:{PART})?{MAYBE_TIME}", spec):
        return _once(_next_clock(*_time_of(m), now, tz, tomorrow=True), tz)
    if (m := re.fullmatch(rf"today(?:{PART})?{MAYBE_TIME}", spec)) or (
        m := re.fullmatch(rf"this{PART}{MAYBE_TIME}", spec)
    ):
        return _once(_next_clock(*_time_of(m), now, tz, tomorrow=False), tz)
    if m := re.fullmatch(rf"tonight{MAYBE_TIME}", spec):
        return _once(_next_clock(*_time_of(m, part="night"), now, tz, tomorrow=False), tz)
    if (m := re.fullmatch(r"every (?:(?P<n>\d+|other) ?)?(?P<unit>[a-z]+?)s?", spec)) and (unit := _unit(m["unit"])):
        return _interval(2 if m["n"] == "other" else int(m["n"] or 1), unit)
    if m := re.fullmatch(r"every (?:(?P<half>half an?|half|a half)|quarter(?: of an?)?) hour", spec):
        return _interval(30 if m["half"] else 15, "minutes")
    if m := re.fullmatch(r"(?P<word>hourly|daily|weekly)", spec):
        return _interval(1, {"hourly": "hours", "daily": "days", "weekly": "weeks"}[m["word"]])
    if m := re.fullmatch(rf"(?:daily|every ?day|each day)(?:{PART})?{MAYBE_TIME}", spec):
        if m["part"] is None and m["hh"] is None:
            return _interval(1, "days")  # "everyday", "each day"
        return _daily(*_time_of(m))
    if m := re.fullmatch(rf"(?:every|each)(?:{PART}){MAYBE_TIME}", spec):
        return _daily(*_time_of(m))
    if m := re.fullmatch(
        rf"(?:weekly|every|each|weekly on|every week on) (?P<days>{DAY_LIST})(?:{PART})?{MAYBE_TIME}", spec
    ):
        return _weekly(_days(m["days"]), *_time_of(m))
    if m := re.fullmatch(rf"(?:on )?(?P<days>weekdays|weekends)(?:{PART})?{MAYBE_TIME}", spec):
        return _weekly(_days(m["days"]), *_time_of(m))
    cron = spec.removeprefix("cron ").upper()
    fields = cron.split()
    # names only where cron allows them: months and days of the week
    if len(fields) == 5 and all(re.fullmatch(r"[0-9*/,\-]+", f) for f in fields[:3]) and all(
        re.fullmatch(r"[0-9A-Z*/,\-]+", f) for f in fields[3:]
    ):
        with _cron_errors(cron):
            valid = croniter.is_valid(cron)
        if not valid:
            raise SpecError(f"'{cron}' is not a valid cron expression (minute hour day-of-month month day-of-week)")
        parsed = Spec("cron", cron, cron=cron)
        parsed._cron_after(now, tz)  # one that never fires is refused now, not at every tick
        return parsed
    return None
