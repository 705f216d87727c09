"""Fixtures shared by every test module; the server fixtures live in their own plugins."""

from collections.abc import Iterator

import pytest
import structlog

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
