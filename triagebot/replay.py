"""Dry-run replay: messages from ``.eml`` files, Maildir folders and mbox files through the
pipeline, writing nothing anywhere but stdout (DESIGN.md "Dry-run replay")."""

from __future__ import annotations

import itertools
import json
import mailbox
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import structlog

from triagebot.config import Config
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
                for name in sorted(os.listdir(box)):  # names only: a few bytes per mail
                    file = os.path.join(box, name)
                    if not name.startswith(".") and os.path.isfile(file):
                        with open(file, "rb") as fh:
                            yield file, fh.read()
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


#: Messages per unit of work sent to a worker process.
CHUNK = 250


@dataclass(frozen=True, slots=True)
class Line:
    """One processed message as the replay prints or counts it."""

    json: str
    kind: str
    signature: str | None
    title: str
    language: str


def _line(outcome: Outcome) -> Line:
    record = outcome.as_json()
    return Line(
        json=json.dumps(record, ensure_ascii=False),
        kind=record["kind"],
        signature=record["signature"],
        title=record["title"] or "",
        language=record["language"] or "",
    )


_WORKER: dict[str, Pipeline] = {}  # the pipeline of a worker process, built at its start


def _start_worker(config: Config) -> None:
    _WORKER["pipeline"] = Pipeline.from_config(config)


def _work(chunk: list[bytes]) -> list[Line]:
    pipeline = _WORKER["pipeline"]
    return [_line(pipeline.process(raw, keyed=False)) for raw in chunk]


def _chunks(messages: Iterable[tuple[str, bytes]]) -> Iterator[tuple[list[str], list[bytes]]]:
    names: list[str] = []
    raws: list[bytes] = []
    for name, raw in messages:
        names.append(name)
        raws.append(raw)
        if len(raws) == CHUNK:
            yield names, raws
            names, raws = [], []
    if raws:
        yield names, raws


def process_all(
    pipeline: Pipeline, messages: Iterable[tuple[str, bytes]], jobs: int
) -> Iterator[tuple[str, Line]]:
    """Every message's ``Line``, in input order.

    With ``jobs`` > 1 and more than one chunk of input, chunks go to worker processes; at
    most two chunks per worker are in flight, so memory stays flat however long the input.
    """
    chunks = _chunks(messages)
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)
    if jobs <= 1 or second is None:
        for names, raws in itertools.chain([first], [second] if second else [], chunks):
            for name, raw in zip(names, raws, strict=True):
                yield name, _line(pipeline.process(raw, keyed=False))
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=(pipeline.config,)
    ) as pool:
        window: deque[tuple[list[str], Future[list[Line]]]] = deque()
        for names, raws in itertools.chain([first, second], chunks):
            window.append((names, pool.submit(_work, raws)))
            if len(window) >= 2 * jobs:
                yield from _drain(window.popleft())
        while window:
            yield from _drain(window.popleft())


def _drain(item: tuple[list[str], Future[list[Line]]]) -> Iterator[tuple[str, Line]]:
    names, future = item
    yield from zip(names, future.result(), strict=True)


@dataclass(slots=True)
class Group:
    """Messages that share one signature (for the human summary)."""

    title: str
    language: str
    count: int = 0
    sources: list[str] = field(default_factory=list)


def replay(
    pipeline: Pipeline,
    messages: Iterable[tuple[str, bytes]],
    out: TextIO,
    as_json: bool,
    jobs: int = 1,
) -> int:
    """Process every message; JSON lines or a group summary on ``out``. Returns the count."""
    groups: dict[str, Group] = {}
    kinds: dict[str, int] = {}
    total = 0
    for name, line in process_all(pipeline, messages, jobs):
        total += 1
        if as_json:
            out.write(line.json + "\n")
            continue
        kinds[line.kind] = kinds.get(line.kind, 0) + 1
        if line.signature is not None:
            group = groups.setdefault(line.signature, Group(line.title, line.language))
            group.count += 1
            group.sources.append(Path(name).name)
    if not as_json:
        _summarise(groups, kinds, total, out)
    return total


def _summarise(groups: dict[str, Group], kinds: dict[str, int], total: int, out: TextIO) -> None:
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    out.write(f"{total} messages ({summary}); {len(groups)} distinct signatures\n\n")
    for value, group in sorted(groups.items(), key=lambda kv: (-kv[1].count, kv[1].title)):
        out.write(f"{value}  {group.count:>4}  [{group.language}] {group.title}\n")
        out.write(f"{'':>24}{', '.join(group.sources[:6])}")
        out.write(" ...\n" if len(group.sources) > 6 else "\n")
