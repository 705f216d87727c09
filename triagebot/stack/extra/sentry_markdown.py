"""Sentry issues exported to Markdown by webhook integrations (a GitHub issue per error): the
exception as bullets, its frames as a table, most recent call first::

    ### Exception 1
    - **Type**: `*xerrors.noWrapError`
    - **Value**: `goroutine panic recovered: something went horribly wrong (rand=9437)`

    | File | Function | Line | Context |
    |------|----------|------|---------|
    | `/Users/user/app/lib/errorsim.go` | `simulatePanicInGoroutine.func1.1` | `29` | `ch <- x`|

The columns are found by their headers (``File``/``Filename``, ``Function``/``Method``,
``Line``/``Lineno``), so their order and extra columns do not matter. The frames are handed
to the language's parser as Bugsnag's are (``bugsnag.build``), so the same crash reported
another way gets the same frames; a Go file's package is its import path or its folder, as
the Go readers take it (``go_recovery.package_of``), so a home directory does not count.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.extra import bugsnag, go_recovery
from triagebot.stack.model import Trace
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

#: Literal marks of a frame table, looked for before any pattern runs.
_MARKS = ("|", "File", "Line")
# "- **Type**: `*xerrors.noWrapError`", "- **Value**: `message`"
_FIELD = re.compile(r"\*\*(?P<name>Type|Value)\*\*:[ \t]*+`?(?P<value>[^`\n]*)`?[ \t]*+$", re.M)
# One cell: code in backticks (which may hold "|") or text up to the next "|".
_CELL = re.compile(r"[ \t]*+(?:`(?P<code>[^`\n]*)`|(?P<text>[^|`\n]*))[ \t]*+(?:\||$)")
_COLUMNS = {
    "file": ("file", "filename", "path", "abs_path"),
    "function": ("function", "method"),
    "line": ("line", "lineno", "line number"),
}


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal marks of a frame table, the first test of ``read``."""
    return all(mark in text for mark in _MARKS)


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first exception of a Sentry Markdown export in ``text``, or None."""
    if not has_marker(text):
        return None
    lines = text.split("\n")
    header = next(
        (
            (index, columns)
            for index, row in enumerate(lines)
            if row.lstrip().startswith("|")
            and "File" in row
            and (columns := _columns(_cells(row))) is not None
        ),
        None,
    )
    if header is None:
        return None
    index, columns = header
    frames: list[tuple[str, str]] = []
    for row in lines[index + 2 :]:
        if not row.lstrip().startswith("|"):
            break
        cells = _cells(row)
        if len(cells) <= max(columns):
            continue
        file, function, line = (cells[column] for column in columns)
        if file and function and line.isdigit():
            frames.append((f"{_short(file)}:{line}", function))
    above = "\n".join(lines[:index])
    fields = {m["name"]: m["value"].strip() for m in _FIELD.finditer(above)}
    error = bugsnag.Error(fields.get("Type") or "<unknown>", fields.get("Value", ""), frames)
    return bugsnag.build([error], max_frames)


def _cells(row: str) -> list[str]:
    """A table row's cells, without the backticks around code."""
    body = row.strip().removeprefix("|")
    return [m["code"] if m["code"] is not None else m["text"].strip() for m in _CELL.finditer(body)]


def _columns(header: list[str]) -> tuple[int, int, int] | None:
    """Where the file, function and line columns are, or None when one is missing."""
    names = [cell.lower() for cell in header]
    found = [
        next((i for i, name in enumerate(names) if name in aliases), -1)
        for aliases in _COLUMNS.values()
    ]
    return None if -1 in found else (found[0], found[1], found[2])


def _short(file: str) -> str:
    """A Go file as its package path and name; other files as they are."""
    if not file.endswith(".go"):
        return file
    return f"{go_recovery.package_of(file)}/{file.replace(chr(92), '/').rpartition('/')[2]}"


READER = Reader(read=read, marker=has_marker)
