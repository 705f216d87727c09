"""Pytest plugin: a fresh fake Jira per test (``Cloud`` unless parametrised indirectly)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakejira import FakeJira


@pytest.fixture
def fake_jira(request: pytest.FixtureRequest) -> Iterator[FakeJira]:
    """A running fake Jira; ``@pytest.mark.parametrize("fake_jira", ["Server"], indirect=True)``
    selects Data Center."""
    with FakeJira(getattr(request, "param", "Cloud")) as fake:
        yield fake
