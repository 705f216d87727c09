"""Pytest plugin: a fresh fake tracker server per test (Jira, Azure DevOps, GitHub; see
``tests.fakehttp``), and the injected time their adapters' retries sleep on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.factories import FakeTime
from tests.fakeazure import FakeAzure
from tests.fakegithub import FakeGitHub
from tests.fakejira import FakeJira


@pytest.fixture
def fake_jira(request: pytest.FixtureRequest) -> Iterator[FakeJira]:
    """A running fake Jira; ``@pytest.mark.parametrize("fake_jira", ["Server"], indirect=True)``
    selects Data Center."""
    with FakeJira(getattr(request, "param", "Cloud")) as fake:
        yield fake


@pytest.fixture
def fake_azure() -> Iterator[FakeAzure]:
    """A running fake Azure DevOps: organisation ``acme``, project ``Cases``."""
    with FakeAzure() as fake:
        yield fake


@pytest.fixture
def fake_github(request: pytest.FixtureRequest) -> Iterator[FakeGitHub]:
    """A running fake GitHub with ``acme/cases``; ``parametrize("fake_github", ["/api/v3"],
    indirect=True)`` serves it under Enterprise Server's API prefix."""
    with FakeGitHub(prefix=getattr(request, "param", "")) as fake:
        yield fake


@pytest.fixture
def fake_time() -> FakeTime:
    """Sleeps recorded, not slept; the clock moves on by them."""
    return FakeTime()
