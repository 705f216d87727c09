"""The labelled corpus (``tests/corpus/<language>/<group>/*.eml``) through the whole pipeline.

Each group folder holds occurrences of one bug that must share one signature; different folders
are different bugs (several are hard negatives of a neighbour: same top frame with another
exception type, same exception type with another top function, same outer exception with another
root cause) and must not share one. ``_not_reports`` holds mail that is no error report.
Regenerate the files with ``python bench/build_corpus.py``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from triagebot.pipeline import Pipeline

CORPUS = Path(__file__).parent / "corpus"
NOT_REPORTS = sorted((CORPUS / "_not_reports").glob("*.eml"))
GROUPS = sorted(p for p in CORPUS.glob("*/*") if p.is_dir() and not p.parent.name.startswith("_"))
LANGUAGES = {"dotnet", "java", "python", "javascript", "go", "ruby", "php"}

Record = dict[str, Any]


@pytest.fixture(scope="module")
def records() -> dict[Path, Record]:
    pipeline = Pipeline.default()
    return {path: pipeline.process(path.read_bytes()).as_json() for path in CORPUS.rglob("*.eml")}


def _label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


class TestCorpusData:
    def test_corpus_covers_every_language_with_enough_groups(self) -> None:
        """The corpus is big enough to mean something and covers every supported language."""
        assert len(GROUPS) >= 25
        assert {g.parent.name for g in GROUPS} == LANGUAGES
        assert sum(len(list(g.glob("*.eml"))) for g in GROUPS) >= 100
        assert all(len(list(g.glob("*.eml"))) >= 2 for g in GROUPS)
        assert len(NOT_REPORTS) >= 5

    def test_message_ids_are_unique(self, records: dict[Path, Record]) -> None:
        """Every corpus mail is a distinct message (no copy would hide a grouping failure)."""
        ids = [r["message_id"] for r in records.values()]
        assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: f"{g.parent.name}/{g.name}")
def test_group_is_one_signature(group: Path, records: dict[Path, Record]) -> None:
    """Every mail of a group is an error report of the folder's language with one signature."""
    mails = sorted(group.glob("*.eml"))
    for path in mails:
        record = records[path]
        assert record["kind"] == "error_report", (_label(path), record["reason"])
        assert record["language"] == group.parent.name, _label(path)
        assert record["frames"] > 0, _label(path)
        assert record["signature"], _label(path)
    by_signature: dict[str, list[str]] = defaultdict(list)
    for path in mails:
        by_signature[records[path]["signature"]].append(path.name)
    assert len(by_signature) == 1, dict(by_signature)


def test_groups_never_share_a_signature(records: dict[Path, Record]) -> None:
    """Distinct bugs, hard negatives included, get distinct signatures."""
    groups_of: dict[str, set[str]] = defaultdict(set)
    for path, record in records.items():
        if path.parent.parent.parent == CORPUS and record["signature"]:
            groups_of[record["signature"]].add(f"{path.parent.parent.name}/{path.parent.name}")
    merged = {sig: sorted(groups) for sig, groups in groups_of.items() if len(groups) > 1}
    assert not merged


@pytest.mark.parametrize("path", NOT_REPORTS, ids=lambda p: p.stem)
def test_not_a_report(path: Path, records: dict[Path, Record]) -> None:
    """Questions, newsletters, auto-replies, bounces and replies are never filed as reports."""
    record = records[path]
    assert record["kind"] != "error_report", record
    assert record["signature"] is None
