"""Fixtures shared by every test module; the server fixtures live in their own plugins."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import structlog

from tests.clocks import SEED, ManualClock, dates

pytest_plugins = [
    "tests.conftest_jira",
    "tests.conftest_mailbox",
    "tests.conftest_postgres",
    "tests.conftest_smtp",
]


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """A test that configures logging (level, stream) must not change what the next one sees."""
    yield
    structlog.reset_defaults()


_DATES = dates()


def pytest_report_header() -> str:
    return f"clock-driven tests: TRIAGEBOT_CLOCK_SEED={SEED} ({list(_DATES)[-1]})"


@pytest.fixture(params=list(_DATES.values()), ids=list(_DATES))
def clock(request: pytest.FixtureRequest) -> ManualClock:
    """The time for a clock-driven test: each hard date in turn (see ``tests.clocks``)."""
    return ManualClock(request.param)


@pytest.fixture
def t0(clock: ManualClock) -> datetime:
    """Where ``clock`` started."""
    return clock.now


@pytest.fixture
def later(t0: datetime) -> datetime:
    """A day after ``t0``: when everything queued at ``t0`` is due."""
    return t0 + timedelta(days=1)
