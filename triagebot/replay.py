"""Dry-run replay: messages from ``.eml`` files, Maildir folders and mbox files through the
pipeline, writing nothing anywhere but stdout (DESIGN.md "Dry-run replay")."""

from __future__ import annotations

import json
import mailbox
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import structlog

from triagebot.pipeline import Outcome, Pipeline

log = structlog.get_logger(__name__)


def iter_paths(paths: Iterable[str | Path]) -> Iterator[tuple[str, bytes]]:
    """``(name, raw)`` for every message under the given paths, in input order.

    A folder with ``cur``/``new`` is a Maildir (``new`` then ``cur``, each by file name);
    any other folder is walked for ``*.eml`` files in name order; a file starting with
    ``From `` is an mbox; any other file is one message.
    """
    for item in map(Path, paths):
        if item.is_dir():
            yield from _iter_folder(item)
        elif _is_mbox(item):
            yield from _iter_mbox(item)
        else:
            yield str(item), item.read_bytes()


def _iter_folder(folder: Path) -> Iterator[tuple[str, bytes]]:
    if (folder / "cur").is_dir() or (folder / "new").is_dir():
        for sub in ("new", "cur"):
            box = folder / sub
            if box.is_dir():
                for entry in sorted(os.scandir(box), key=lambda e: e.name):
                    if entry.is_file() and not entry.name.startswith("."):
                        with open(entry.path, "rb") as fh:
                            yield entry.path, fh.read()
        return
    for path in sorted(folder.rglob("*.eml")):
        yield str(path), path.read_bytes()


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"From "


def _iter_mbox(path: Path) -> Iterator[tuple[str, bytes]]:
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            yield f"{path}#{index}", box.get_bytes(key)
    finally:
        box.close()


@dataclass(slots=True)
class Group:
    """Messages that share one signature (for the human summary)."""

    title: str
    language: str
    count: int = 0
    sources: list[str] = field(default_factory=list)


def replay(
    pipeline: Pipeline, messages: Iterable[tuple[str, bytes]], out: TextIO, as_json: bool
) -> int:
    """Process every message; JSON lines or a group summary on ``out``. Returns the count."""
    groups: dict[str, Group] = {}
    kinds: dict[str, int] = {}
    total = 0
    for name, raw in messages:
        outcome = pipeline.process(raw)
        total += 1
        if as_json:
            out.write(json.dumps(outcome.as_json(), ensure_ascii=False) + "\n")
        else:
            _collect(groups, kinds, name, outcome)
    if not as_json:
        _summarise(groups, kinds, total, out)
    return total


def _collect(groups: dict[str, Group], kinds: dict[str, int], name: str, outcome: Outcome) -> None:
    kind = str(outcome.report.kind)
    kinds[kind] = kinds.get(kind, 0) + 1
    sig = outcome.signature
    if sig is None:
        return
    group = groups.setdefault(sig.value, Group(title=sig.title, language=sig.language))
    group.count += 1
    group.sources.append(Path(name).name)


def _summarise(groups: dict[str, Group], kinds: dict[str, int], total: int, out: TextIO) -> None:
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    out.write(f"{total} messages ({summary}); {len(groups)} distinct signatures\n\n")
    for value, group in sorted(groups.items(), key=lambda kv: (-kv[1].count, kv[1].title)):
        out.write(f"{value}  {group.count:>4}  [{group.language}] {group.title}\n")
        out.write(f"{'':>24}{', '.join(group.sources[:6])}")
        out.write(" ...\n" if len(group.sources) > 6 else "\n")
