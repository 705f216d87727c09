"""Digest schedules fire as cron means them, at every clock change: weekday numbers as cron
numbers them (0 and 7 Sunday, 1-5 Monday to Friday), day-of-month OR day-of-week, a fire in
a spring-forward gap once when the gap ends, a fire in the repeated autumn hour once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from triagebot.scheduler import CronSchedule, last_fire, next_fires

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def local(fires: list[datetime], zone: ZoneInfo) -> list[str]:
    return [f"{f.astimezone(zone):%a %Y-%m-%d %H:%M %Z}" for f in fires]


def test_weekdays_are_cron_weekdays() -> None:
    """``1-5`` is Monday to Friday (APScheduler's own cron would say Tuesday to Saturday)."""
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=BERLIN)
    fires = next_fires(CronSchedule("0 8 * * 1-5", BERLIN), saturday, 6)
    assert local(fires, BERLIN) == [
        "Mon 2026-12-07 08:00 CET",
        "Tue 2026-12-08 08:00 CET",
        "Wed 2026-12-09 08:00 CET",
        "Thu 2026-12-10 08:00 CET",
        "Fri 2026-12-11 08:00 CET",
        "Mon 2026-12-14 08:00 CET",
    ]
    assert local(next_fires(CronSchedule("0 8 * * mon-fri", BERLIN), saturday, 1), BERLIN) == [
        "Mon 2026-12-07 08:00 CET"
    ]


@pytest.mark.parametrize("line", ["0 9 * * 0", "0 9 * * 7", "0 9 * * sun"])
def test_sunday_is_0_and_7(line: str) -> None:
    fires = next_fires(CronSchedule(line, UTC), datetime(2026, 12, 7, tzinfo=UTC), 2)  # type: ignore[arg-type]
    assert [f.strftime("%a %d") for f in fires] == ["Sun 13", "Sun 20"]


def test_day_of_month_or_day_of_week_as_in_cron() -> None:
    """Both restricted: the 1st of the month OR any Monday."""
    start = datetime(2026, 12, 7, 12, tzinfo=UTC)
    fires = next_fires(CronSchedule("0 8 1 * 1", UTC), start, 4)  # type: ignore[arg-type]
    assert [f.strftime("%a %m-%d") for f in fires] == [
        "Mon 12-14",
        "Mon 12-21",
        "Mon 12-28",
        "Fri 01-01",
    ]


@pytest.mark.parametrize(
    ("zone", "day", "utc"),
    [
        (BERLIN, datetime(2026, 10, 24, 12), ["2026-10-25 00:30", "2026-10-26 01:30"]),
        (NEW_YORK, datetime(2026, 10, 31, 12), ["2026-11-01 05:30", "2026-11-02 06:30"]),
    ],
    ids=["berlin", "new-york"],
)
def test_a_fire_in_the_repeated_hour_happens_once(
    zone: ZoneInfo, day: datetime, utc: list[str]
) -> None:
    """The autumn clock change: 01:30 (New York) / 02:30 (Berlin) happens twice on the wall
    clock; the digest goes once. Asking in the middle of the repeated hour answers at once
    (the old trigger looped for ever there)."""
    line = "30 2 * * *" if zone is BERLIN else "30 1 * * *"
    schedule = CronSchedule(line, zone)
    fires = next_fires(schedule, day.replace(tzinfo=zone), 2)
    assert [f"{f:%Y-%m-%d %H:%M}" for f in fires] == utc
    second_pass = fires[0] + timedelta(hours=1)  # the same wall time, the second time
    started = time.monotonic()
    assert last_fire(schedule, second_pass) == fires[0]
    assert schedule.get_next_fire_time(fires[0], second_pass) == fires[1]
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        (BERLIN, datetime(2026, 3, 28, 12), "2026-03-29 03:00 CEST"),
        (NEW_YORK, datetime(2026, 3, 7, 12), "2026-03-08 03:00 EDT"),
    ],
    ids=["berlin", "new-york"],
)
def test_a_fire_in_the_spring_gap_happens_once_when_the_gap_ends(
    zone: ZoneInfo, day: datetime, expected: str
) -> None:
    line = "30 2 * * *"
    fires = next_fires(CronSchedule(line, zone), day.replace(tzinfo=zone), 2)
    assert local(fires, zone)[0].endswith(expected)
    assert local(fires, zone)[1].endswith("02:30 " + ("CEST" if zone is BERLIN else "EDT"))


def test_29_february_and_past_2038() -> None:
    schedule = CronSchedule("0 8 29 2 *", UTC)  # type: ignore[arg-type]
    assert next_fires(schedule, datetime(2026, 12, 7, tzinfo=UTC), 2) == [
        datetime(2028, 2, 29, 8, tzinfo=UTC),
        datetime(2032, 2, 29, 8, tzinfo=UTC),
    ]
    after_2038 = datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC)
    (fire,) = next_fires(CronSchedule("0 8 * * *", UTC), after_2038, 1)  # type: ignore[arg-type]
    assert fire == datetime(2038, 1, 19, 8, tzinfo=UTC)
    assert last_fire(schedule, after_2038) == datetime(2036, 2, 29, 8, tzinfo=UTC)


def test_apscheduler_asks_at_or_after_now_and_after_the_previous_fire() -> None:
    schedule = CronSchedule("0 8 * * *", UTC)  # type: ignore[arg-type]
    eight = datetime(2026, 12, 7, 8, tzinfo=UTC)
    assert schedule.get_next_fire_time(None, eight) == eight
    assert schedule.get_next_fire_time(eight, eight) == eight + timedelta(days=1)
    assert schedule.get_next_fire_time(None, eight + timedelta(seconds=1)) == eight + timedelta(
        days=1
    )
