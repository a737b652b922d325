"""Schedule specs: parsing, and when each run falls due, across DST changes and downtime.

All times are given explicitly (``now``); nothing here reads a clock.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claw.scheduler import ACCEPTED_FORMS, SpecError, parse_spec
from claw.scheduler.specs import zone

UTC = timezone.utc
BERLIN = zone("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def runs(spec_text: str, now: datetime, count: int, tz=BERLIN) -> list[datetime]:  # type: ignore[no-untyped-def]
    """The first ``count`` runs of a schedule created at ``now``, each fired on time."""
    spec = parse_spec(spec_text, now=now, tz=tz)
    due = spec.first_run(now, tz)
    found = [due]
    while len(found) < count:
        due = spec.next_run(due, due, tz)
        assert due is not None
        found.append(due)
    return found


def local(moments: list[datetime], tz=BERLIN) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.astimezone(tz).strftime("%a %m-%d %H:%M %Z") for m in moments]


# ---- DST --------------------------------------------------------------------------------


def test_daily_0900_berlin_stays_at_nine_across_the_march_change() -> None:
    # Given "daily 09:00" in Berlin, created on Friday 27 March 2026 (DST starts Sunday 29th)
    fired = runs("daily 09:00", utc(2026, 3, 27, 12, 0), 4)
    # Then it runs at 09:00 local every day, which is 08:00 UTC before and 07:00 UTC after
    assert local(fired) == ["Sat 03-28 09:00 CET", "Sun 03-29 09:00 CEST",
                            "Mon 03-30 09:00 CEST", "Tue 03-31 09:00 CEST"]
    assert fired[:3] == [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)]


def test_daily_0900_berlin_stays_at_nine_across_the_october_change() -> None:
    fired = runs("daily 09:00", utc(2026, 10, 23, 12, 0), 3)
    assert local(fired) == ["Sat 10-24 09:00 CEST", "Sun 10-25 09:00 CET", "Mon 10-26 09:00 CET"]
    assert fired == [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)]


def test_a_time_in_the_spring_forward_gap_runs_after_the_gap_once() -> None:
    # 02:30 does not exist on 29 March in Berlin: it runs as far after the gap as it was into it
    fired = runs("daily 02:30", utc(2026, 3, 28, 12, 0), 3)
    assert local(fired) == ["Sun 03-29 03:30 CEST", "Mon 03-30 02:30 CEST", "Tue 03-31 02:30 CEST"]


def test_a_time_in_the_repeated_hour_runs_once_on_the_fall_back_day() -> None:
    # 02:30 happens twice on 25 October in Berlin; the schedule runs at the first only
    fired = runs("daily 02:30", utc(2026, 10, 24, 12, 0), 3)
    assert fired == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


def test_a_tick_during_the_second_pass_of_the_repeated_hour_does_not_fire_again() -> None:
    spec = parse_spec("daily 02:50", now=utc(2026, 10, 24), tz=BERLIN)
    # Given the first 02:50 fired (00:50 UTC) and now is the second 02:45 (01:45 UTC, CET)
    following = spec.next_run(utc(2026, 10, 25, 0, 50), utc(2026, 10, 25, 1, 45), BERLIN)
    # Then the next run is the next day, not the second 02:50
    assert following == utc(2026, 10, 26, 1, 50)


def test_every_n_hours_is_elapsed_time_across_dst() -> None:
    fired = runs("every 2 hours", utc(2026, 3, 28, 23, 0), 4)
    assert [b - a for a, b in zip(fired, fired[1:])] == [timedelta(hours=2)] * 3
    assert local(fired) == ["Sun 03-29 03:00 CEST",
                            "Sun 03-29 05:00 CEST", "Sun 03-29 07:00 CEST", "Sun 03-29 09:00 CEST"]


def test_every_day_keeps_the_wall_clock_time_across_dst() -> None:
    fired = runs("every day", utc(2026, 3, 27, 17, 15), 4)  # 18:15 CET
    assert local(fired) == ["Sat 03-28 18:15 CET", "Sun 03-29 18:15 CEST",
                            "Mon 03-30 18:15 CEST", "Tue 03-31 18:15 CEST"]
    assert fired[2] - fired[1] == timedelta(hours=24)
    assert fired[1] - fired[0] == timedelta(hours=23)


# ---- cron, weekly, once, every ----------------------------------------------------------


def test_cron_monday_nine_in_winter_and_summer() -> None:
    # Wednesday 7 January 2026 -> Monday 12 January, 09:00 CET
    assert runs("0 9 * * MON", utc(2026, 1, 7, 12), 2) == [utc(2026, 1, 12, 8), utc(2026, 1, 19, 8)]
    # and across the March change, 09:00 CEST is 07:00 UTC
    assert local(runs("0 9 * * MON", utc(2026, 3, 25, 12), 2)) == ["Mon 03-30 09:00 CEST",
                                                                  "Mon 04-06 09:00 CEST"]


def test_weekly_is_the_same_as_its_cron() -> None:
    now = utc(2026, 3, 25, 12)
    assert runs("weekly MON 09:00", now, 3) == runs("0 9 * * MON", now, 3)
    assert runs("every monday at 9am", now, 3) == runs("0 9 * * MON", now, 3)
    assert local(runs("weekly tue,fri 18:30", now, 3)) == [
        "Fri 03-27 18:30 CET", "Tue 03-31 18:30 CEST", "Fri 04-03 18:30 CEST"]


def test_weekdays_skip_the_weekend() -> None:
    fired = runs("every weekday at 08:30", utc(2026, 3, 27, 12), 3)  # a Friday afternoon
    assert local(fired) == ["Mon 03-30 08:30 CEST", "Tue 03-31 08:30 CEST", "Wed 04-01 08:30 CEST"]


def test_once_in_n_minutes_hours_days() -> None:
    now = utc(2026, 3, 1, 12, 0, 30)
    for text, delta in [("in 1 minute", timedelta(minutes=1)), ("in 90 minutes", timedelta(minutes=90)),
                        ("in 2 hours", timedelta(hours=2)), ("in an hour", timedelta(hours=1)),
                        ("in 3 days", timedelta(days=3))]:
        spec = parse_spec(text, now=now, tz=BERLIN)
        assert spec.form == "once" and not spec.repeats
        assert spec.first_run(now, BERLIN) == now + delta
        # a once schedule has nothing after its run
        assert spec.next_run(now + delta, now + delta, BERLIN) is None


def test_once_at_an_absolute_time_is_local_unless_an_offset_is_given() -> None:
    now = utc(2026, 3, 1)
    assert parse_spec("at 2026-05-01 14:00", now=now, tz=BERLIN).at == utc(2026, 5, 1, 12)
    assert parse_spec("2026-05-01T14:00Z", now=now, tz=BERLIN).at == utc(2026, 5, 1, 14)
    assert parse_spec("2026-05-01T14:00-04:00", now=now, tz=BERLIN).at == utc(2026, 5, 1, 18)


def test_once_at_a_clock_time_is_today_or_tomorrow() -> None:
    now = utc(2026, 3, 1, 12)  # 13:00 in Berlin
    assert parse_spec("at 14:05", now=now, tz=BERLIN).at == utc(2026, 3, 1, 13, 5)
    assert parse_spec("at 12:00", now=now, tz=BERLIN).at == utc(2026, 3, 2, 11)
    assert parse_spec("tomorrow at 9am", now=now, tz=BERLIN).at == utc(2026, 3, 2, 8)
    assert parse_spec("at 9pm", now=now, tz=BERLIN).at == utc(2026, 3, 1, 20)


def test_a_time_in_the_past_is_refused() -> None:
    now = utc(2026, 3, 1)
    spec = parse_spec("at 2026-02-01 10:00", now=now, tz=BERLIN)
    with pytest.raises(SpecError, match="in the past"):
        spec.first_run(now, BERLIN)


def test_every_n_minutes_hours_days() -> None:
    now = utc(2026, 3, 1, 12)
    assert runs("every 15 minutes", now, 3) == [now + timedelta(minutes=15 * k) for k in (1, 2, 3)]
    assert runs("every 6 hours", now, 2) == [utc(2026, 3, 1, 18), utc(2026, 3, 2, 0)]
    assert runs("every 3 days", now, 2) == [utc(2026, 3, 4, 12), utc(2026, 3, 7, 12)]


# ---- downtime ---------------------------------------------------------------------------


def test_after_downtime_an_interval_fires_once_then_keeps_its_cadence() -> None:
    spec = parse_spec("every 1 hour", now=utc(2026, 3, 1), tz=BERLIN)
    # Given the run due at 10:00 fires only at 15:20, after five hours down
    following = spec.next_run(utc(2026, 3, 1, 10), utc(2026, 3, 1, 15, 20), BERLIN)
    # Then the next run is 16:00: no run for each missed hour, and still on the hour
    assert following == utc(2026, 3, 1, 16)


def test_after_downtime_a_daily_schedule_fires_once_then_resumes() -> None:
    spec = parse_spec("daily 09:00", now=utc(2026, 3, 1), tz=BERLIN)
    following = spec.next_run(utc(2026, 3, 2, 8), utc(2026, 3, 5, 10), BERLIN)
    assert following == utc(2026, 3, 6, 8)


def test_after_downtime_every_n_days_resumes_on_its_wall_clock_cadence() -> None:
    spec = parse_spec("every 2 days", now=utc(2026, 3, 1), tz=BERLIN)
    # due Fri 27 March 18:00 CET, fired Thu 2 April 12:00 (after DST started)
    following = spec.next_run(utc(2026, 3, 27, 17), utc(2026, 4, 2, 10), BERLIN)
    # Then it runs once now and next on the 2-day rhythm: 29 March, 31 March, 2 April at 18:00
    assert local([following]) == ["Thu 04-02 18:00 CEST"]


# ---- what is accepted -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [("in 1 minute", "once 2026-03-01 13:01"), ("AT 2026-05-01 9:00", "once 2026-05-01 09:00"),
     ("every 30 minutes", "every 30 minutes"), ("every hour", "every 1 hour"),
     ("every day at 9:00", "daily 09:00"), ("daily 7:05", "daily 07:05"),
     ("weekly MON 09:00", "weekly MON 09:00"), ("every monday and wednesday at 9am", "weekly MON,WED 09:00"),
     ("every weekday at 08:30", "weekdays 08:30"), ("0 9 * * mon", "0 9 * * MON"),
     ("cron */5 * * * *", "*/5 * * * *")],
)
def test_specs_are_normalised_and_the_normal_form_parses_to_itself(text: str, normal: str) -> None:
    now = utc(2026, 3, 1, 12)
    spec = parse_spec(text, now=now, tz=BERLIN)
    assert spec.text == normal
    assert parse_spec(spec.text, now=now, tz=BERLIN) == spec


@pytest.mark.parametrize(
    ("text", "complaint"),
    [("whenever you like", "cannot understand"), ("every monday", "needs a time of day, like 'every monday at 9:00'"),
     ("tomorrow", "needs a time of day"), ("weekends", "needs a time of day"),
     ("every 30 seconds", "the shortest step is a minute"), ("in 10 secs", "the shortest step is a minute"),
     ("every 0m", "at least 1"), ("every blue moon", "cannot understand"), ("every evening at 25", "not a time of day"),
     ("daily 25:00", "not a time of day"), ("61 9 * * *", "not a valid cron expression"),
     ("0 9 * * * *", "cannot understand"), ("in 0 minutes", "at least 1"),
     ("weekly FUNDAY 09:00", "cannot understand"), ("at 13pm", "1-12 with am/pm"), ("", "needs a spec")],
)
def test_bad_specs_say_what_forms_are_accepted(text: str, complaint: str) -> None:
    with pytest.raises(SpecError) as error:
        parse_spec(text, now=utc(2026, 3, 1), tz=BERLIN)
    assert complaint in str(error.value)
    assert ACCEPTED_FORMS in str(error.value)


# ---- schedules people actually write ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [("hourly", "every 1 hour"), ("every 30m", "every 30 minutes"), ("every 2h", "every 2 hours"),
     ("every 90 mins", "every 90 minutes"), ("every 2 hrs", "every 2 hours"), ("every half hour", "every 30 minutes"),
     ("every quarter hour", "every 15 minutes"), ("every other day", "every 2 days"), ("daily", "every 1 day"),
     ("everyday", "every 1 day"), ("weekly", "every 7 days"), ("every 2 weeks", "every 14 days"),
     ("every morning at 8", "daily 08:00"), ("every morning at 8:15am", "daily 08:15"),
     ("every morning", "daily 08:00"), ("every day in the morning", "daily 08:00"),
     ("every evening at 7", "daily 19:00"), ("every evening at 19:30", "daily 19:30"),
     ("every afternoon at 3", "daily 15:00"), ("every night at 11", "daily 23:00"),
     ("every night at 2", "daily 02:00"), ("every night at 12", "daily 00:00"), ("every evening at 7am", "daily 07:00"),
     ("daily at 9", "daily 09:00"), ("every day at 18:30", "daily 18:30"), ("everyday at 9", "daily 09:00"),
     ("each day at 9pm", "daily 21:00"), ("every day at noon", "daily 12:00"), ("every day at midnight", "daily 00:00"),
     ("every morning at 8 o'clock", "daily 08:00"), ("every monday at 9", "weekly MON 09:00"),
     ("every mondays at 9", "weekly MON 09:00"), ("every friday evening at 6", "weekly FRI 18:00"),
     ("every sunday evening", "weekly SUN 18:00"), ("every monday, wednesday and friday at 7:15", "weekly MON,WED,FRI 07:15"),
     ("weekdays at 8", "weekdays 08:00"), ("on weekdays at 8", "weekdays 08:00"),
     ("every weekday morning at 8", "weekdays 08:00"), ("every mon,tue,wed,thu,fri at 9", "weekdays 09:00"),
     ("weekends at 10", "weekly SAT,SUN 10:00"), ("every weekend at 10am", "weekly SAT,SUN 10:00"),
     ("every weekday and saturday at 9", "weekly MON,TUE,WED,THU,FRI,SAT 09:00"),
     ("in 10m", "once 2026-03-01 13:10"), ("in 2h", "once 2026-03-01 15:00"),
     ("in half an hour", "once 2026-03-01 13:30"), ("in 2 weeks", "once 2026-03-15 13:00"),
     ("tomorrow morning", "once 2026-03-02 08:00"), ("tomorrow evening at 7", "once 2026-03-02 19:00"),
     ("tonight", "once 2026-03-01 21:00"), ("tonight at 8", "once 2026-03-01 20:00"),
     ("this evening at 7", "once 2026-03-01 19:00"), ("today at 17:00", "once 2026-03-01 17:00")],
)
def test_the_forms_people_write_are_understood(text: str, normal: str) -> None:
    now = utc(2026, 3, 1, 12)  # a Sunday, 13:00 in Berlin
    spec = parse_spec(text, now=now, tz=BERLIN)
    assert spec.text == normal
    assert parse_spec(spec.text, now=now, tz=BERLIN) == spec


def test_every_morning_at_8_is_eight_local_every_day_across_dst() -> None:
    fired = runs("every morning at 8", utc(2026, 3, 27, 12, 0), 3)
    assert local(fired) == ["Sat 03-28 08:00 CET", "Sun 03-29 08:00 CEST", "Mon 03-30 08:00 CEST"]


def test_weekends_and_evenings_fall_where_people_expect() -> None:
    now = utc(2026, 3, 25, 12)  # a Wednesday
    assert local(runs("weekends at 10", now, 3)) == ["Sat 03-28 10:00 CET", "Sun 03-29 10:00 CEST",
                                                    "Sat 04-04 10:00 CEST"]
    assert local(runs("every friday evening at 6", now, 2)) == ["Fri 03-27 18:00 CET", "Fri 04-03 18:00 CEST"]


def test_the_accepted_forms_listed_in_errors_all_parse() -> None:
    # every example the error message gives must itself be accepted
    examples = [part.strip("' ") for part in ACCEPTED_FORMS.replace("or a 5-field cron expression like", ",").split(",")]
    for example in filter(None, examples):
        parse_spec(example, now=utc(2026, 3, 1), tz=BERLIN)
    assert "every morning at 8" in examples and "hourly" in examples and "every 30m" in examples


def test_an_unknown_timezone_is_a_clear_error() -> None:
    with pytest.raises(SpecError, match="IANA name like 'Europe/Berlin'"):
        zone("Mars/Olympus")


def test_describe_in_words() -> None:
    now = utc(2026, 3, 1)
    words = {t: parse_spec(t, now=now, tz=BERLIN).describe() for t in
             ["daily 09:00", "weekly MON,WED 09:00", "every weekday at 8:30", "every 2 hours",
              "every day", "0 */2 * * *", "weekly", "every 2 weeks", "every mon, wed and fri at 9"]}
    assert words == {"daily 09:00": "daily at 09:00",
                     "weekly MON,WED 09:00": "every Monday and Wednesday at 09:00",
                     "every weekday at 8:30": "every weekday at 08:30", "every 2 hours": "every 2 hours",
                     "every day": "every day", "0 */2 * * *": "cron 0 */2 * * *", "weekly": "every week",
                     "every 2 weeks": "every 2 weeks",
                     "every mon, wed and fri at 9": "every Monday, Wednesday and Friday at 09:00"}


# ---- adversarial input ------------------------------------------------------------------

#: the grammar's own words and marks, and things near them, for specs built to confuse it
TOKENS = (
    ["in", "at", "on", "once", "every", "daily", "weekly", "week", "weekday", "weekdays", "tomorrow",
     "cron", "day", "days", "minute", "minutes", "min", "m", "hour", "hours", "h", "d", "an", "a",
     "am", "pm", "and", "and and", ",", ", and", "mon", "monday", "tue", "tuesday", "wed", "thu",
     "fri", "sat", "sun", "monand", "sunday", "funday", "*", "*/", "/", "-", "L", "#", "?",
     "0", "1", "9", "12", "23:59", "25:00", "9:00", "9am", "13pm", "30", "2", "29", "31",
     "999999999", "99999999999999999999", "9" * 60, "-1", "2026-05-01", "9999-12-31", "0001-01-01",
     "14:00", "+14:00", "-12:00", "z", "utc", "t", "T", "1e9", "½", "٣", "𝟗", "é", "\u200b",
     "\u202e", "\x00", "\n", "\t", " ", "hourly", "morning", "afternoon", "evening", "night", "in the",
     "noon", "midnight", "o'clock", "oclock", "other", "half", "quarter", "of an", "weekend", "weekends",
     "tonight", "today", "this", "each", "everyday", "s", "sec", "seconds", "w", "weeks", "30m", "2h"]
)
SEPARATORS = st.sampled_from([" ", "", ",", "  ", "\t"])
NUMBERS = st.one_of(st.integers(0, 120), st.integers(0, 10**30))
UNIT_WORDS = st.sampled_from(["minute", "minutes", "min", "m", "hour", "hours", "h", "day", "days", "d", "weeks",
                              "w", "wk", "sec", "s", "hrs", "mins", ""])
PART_WORDS = st.sampled_from(["", " morning", " afternoon", " evening", " night", " in the morning", " in the night"])
DAY_WORDS = st.sampled_from(["mon", "monday", "tues", "wed", "thursday", "fri", "sat", "sun", "weekday", "monand", "xyz"])
CLOCKS = st.builds(lambda h, m, ampm: f"{h}:{m:02d}{ampm}", st.integers(0, 30), st.integers(0, 70),
                   st.sampled_from(["", "am", " pm"]))
CRON_FIELDS = st.one_of(
    st.just("*"), st.integers(0, 70).map(str), st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 40), st.integers(0, 40)),
    st.integers(0, 10**12).map(lambda n: f"*/{n}"), st.sampled_from(["MON", "SUN-MON", "JAN", "FEB", "5L", "1,15,31", "30"]),
)
#: specs shaped like the grammar's forms, with adversarial parts: most parse, many overflow
shaped_specs = st.one_of(
    st.builds(lambda n, unit: f"in {n} {unit}", NUMBERS, UNIT_WORDS),
    st.builds(lambda n, unit: f"every {n} {unit}", NUMBERS, UNIT_WORDS),
    st.builds(lambda days, sep, clock: f"every {sep.join(days)} at {clock}",
              st.lists(DAY_WORDS, min_size=1, max_size=30), st.sampled_from([",", ", ", " and ", ", and ", "and"]), CLOCKS),
    st.builds(lambda clock, form: f"{form} {clock}", CLOCKS, st.sampled_from(["daily", "at", "tomorrow at", "weekdays"])),
    # the natural forms: glued units, parts of the day, with and without a time
    st.builds(lambda word, n, unit: f"{word} {n}{unit}", st.sampled_from(["every", "in"]), NUMBERS, UNIT_WORDS),
    st.builds(lambda head, part, at: f"{head}{part}{at}",
              st.sampled_from(["every", "each", "daily", "every day", "everyday", "tomorrow", "this", "today",
                               "tonight", "weekdays", "on weekends", "every weekday", "every sun", "every mon and fri"]),
              PART_WORDS, st.one_of(st.just(""), CLOCKS.map(lambda c: f" at {c}"), st.just(" at noon"),
                                    st.just(" at 12 midnight"), st.integers(0, 30).map(lambda h: f" at {h} o'clock"))),
    st.sampled_from(["hourly", "daily", "weekly", "every other day", "every half an hour", "every quarter of an hour",
                     "in half an hour", "every other week"]),
    st.builds(lambda y, mo, d, clock, off: f"at {y:04d}-{mo:02d}-{d:02d} {clock}{off}", st.integers(1, 9999),
              st.integers(0, 13), st.integers(0, 32), st.sampled_from(["9:00", "23:59:59.999999", "00:00"]),
              st.sampled_from(["", "z", "+14:00", "-1200"])),
    st.lists(CRON_FIELDS, min_size=5, max_size=5).map(" ".join),
)
adversarial_specs = st.one_of(
    shaped_specs,
    st.lists(st.tuples(st.sampled_from(TOKENS), SEPARATORS), max_size=60).map(
        lambda parts: "".join(word + sep for word, sep in parts)
    ),
    st.text(max_size=250),
    # the attack that locked the database: a day list that splits many ways
    st.integers(1, 60).map(lambda n: "every " + "monand" * n + "mon 9x"),
    st.integers(1, 60).map(lambda n: "every " + "mon and " * n + "at 25:99"),
)
#: seconds one spec may take; a backtracking one took a minute, a linear one takes microseconds
BOUND = 1.0


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=adversarial_specs, tz_name=st.sampled_from(["Europe/Berlin", "Pacific/Kiritimati", "Pacific/Niue"]))
def test_any_text_parses_or_is_a_clear_spec_error_in_bounded_time(text: str, tz_name: str) -> None:
    # Given any text, even one built from the grammar's own words to make it backtrack
    now, tz = utc(2026, 3, 1, 12, 0, 30), zone(tz_name)
    started = time.perf_counter()
    # When it is parsed and its first run computed
    try:
        spec = parse_spec(text, now=now, tz=tz)
        first = spec.first_run(now, tz)
    except SpecError as error:
        # Then it either fails with a message that says what is accepted
        assert str(error)
        spec = None
    elapsed = time.perf_counter() - started
    # ... or it parses to a spec whose normal form parses to itself, with a run still to come
    if spec is not None:
        assert first > now
        assert parse_spec(spec.text, now=now, tz=tz) == spec
        assert spec.describe()
    # And either way it took no time to speak of
    assert elapsed < BOUND, f"{text!r} took {elapsed:.2f}s"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [("in 999999999 days", "too far ahead"), ("every 999999999 hours", "too long an interval"),
     ("in 99999999999999999999 minutes", "too far ahead"), ("at 9999-12-31 23:59", "too far ahead"),
     ("at 0001-01-01 00:00+14:00", "in the past"), ("0 9 30 2 *", "never runs"),
     ("0 0 31 4,6,9,11 *", "never runs"), ("every " + "mon" * 80, "at most 200 characters")],
)
def test_overflowing_and_never_firing_specs_are_spec_errors(text: str, complaint: str) -> None:
    with pytest.raises(SpecError) as error:
        spec = parse_spec(text, now=utc(2026, 3, 1), tz=BERLIN)
        spec.first_run(utc(2026, 3, 1), BERLIN)
    assert complaint in str(error.value)


def test_the_longest_allowed_numbers_still_work() -> None:
    now = utc(2026, 3, 1)
    assert parse_spec("in 3660 days", now=now, tz=BERLIN).first_run(now, BERLIN) == now + timedelta(days=3660)
    assert parse_spec("every 87840 hours", now=now, tz=BERLIN).first_run(now, BERLIN) == now + timedelta(hours=87840)
    # 29 February comes every four years: rare, but it does come
    assert parse_spec("0 9 29 2 *", now=now, tz=BERLIN).first_run(now, BERLIN) == utc(2028, 2, 29, 8)


@pytest.mark.parametrize("name", ["../../etc/passwd", "a" * 5000, "Europe/Berlin\n", "UTC\x00", "/usr/share/zoneinfo/UTC"])
def test_a_timezone_that_is_not_an_iana_name_is_a_clear_error(name: str) -> None:
    with pytest.raises(SpecError, match="IANA name"):
        zone(name)


@pytest.mark.parametrize(
    ("text", "gap"),
    [("every 5 minutes", timedelta(minutes=5)), ("every 2 days", timedelta(days=2)),
     ("* * * * *", timedelta(minutes=1)), ("0,30 9 * * *", timedelta(minutes=30)),
     ("0 */6 * * *", timedelta(hours=6)), ("daily 09:00", timedelta(days=1)),
     ("0 0,23 * * *", timedelta(hours=1)), ("in 5 minutes", None)],
)
def test_the_shortest_gap_between_runs(text: str, gap: timedelta | None) -> None:
    assert parse_spec(text, now=utc(2026, 3, 1), tz=BERLIN).shortest_gap() == gap


@settings(max_examples=300, deadline=None)
@given(name=st.one_of(st.text(max_size=300), st.sampled_from(["UTC", "Europe/Berlin", "Etc/GMT+5", "../UTC",
                                                              "America/Argentina/Buenos_Aires", "a" * 300])))
def test_any_timezone_name_is_a_zone_or_a_clear_error(name: str) -> None:
    try:
        assert str(zone(name)) == name
    except SpecError as error:
        assert "IANA name like 'Europe/Berlin'" in str(error)
