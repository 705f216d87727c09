"""A registered signature version never changes a value it once gave (``tests/golden.py``)."""

from __future__ import annotations

import json

import pytest

from tests.golden import REPO, SNAPSHOT, compute
from triagebot.stack.signature import SIGNATURE_VERSIONS


@pytest.fixture(scope="module")
def current() -> dict[str, dict[str, str]]:
    return compute()


@pytest.fixture(scope="module")
def stored() -> dict[str, dict[str, str]]:
    return json.loads(SNAPSHOT.read_text("utf-8"))  # type: ignore[no-any-return]


def test_every_version_and_corpus_file_is_in_the_snapshot(
    current: dict[str, dict[str, str]], stored: dict[str, dict[str, str]]
) -> None:
    assert set(stored) == set(SIGNATURE_VERSIONS)
    for version, values in current.items():
        missing = sorted(values.keys() - stored[version].keys())
        gone = sorted(p for p in stored[version] if not (REPO / p).exists())
        update = "run `python -m tests.golden --update`"
        assert not missing, f"{version}: {update} for {missing[:5]}"
        assert not gone, f"{version}: {update} to forget {gone[:5]}"


@pytest.mark.parametrize("version", list(SIGNATURE_VERSIONS))
def test_stored_values_never_change(
    version: str, current: dict[str, dict[str, str]], stored: dict[str, dict[str, str]]
) -> None:
    """A changed value would split every stored defect of that bug from its new reports."""
    changed = {
        path: (value, current[version].get(path))
        for path, value in stored[version].items()
        if current[version].get(path) != value
    }
    assert not changed, f"{len(changed)} {version} values changed, e.g. {list(changed.items())[:3]}"
