"""Python tracebacks as IPython, Jupyter and Colab print them: a ``KeyError    Traceback (most
recent call last)`` header, then ``path in function(args)`` frames, each over a source excerpt
whose ``---->`` arrow marks the line, chained by the usual "During handling ..." markers.

``python.parse`` reads ``File "path", line N, in function`` only. Frames are named as it names
them (the module from the path, the bare function), so ``python.normalize_frame`` keys them
alike. Terminal colours (ANSI codes) are removed first.
"""

from __future__ import annotations

import re
from dataclasses import replace

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.python import _module as python_module
from triagebot.stack.text import LINE_START, MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "read"]

_MARK = "Traceback (most recent call last)"
# "KeyError                                  Traceback (most recent call last)"
_HEADER = re.compile(
    LINE_START + r"(?P<type>[A-Za-z_][\w.]*+)[ \t]++Traceback \(most recent call last\)[ \t]*+$",
    re.M,
)
# "-> 2646", "----> 8": the line the frame was at ("^": used with match, a search stays linear)
_ARROW = re.compile(r"^[ \t]*+-++> (?P<line>\d++)")
_FUNCTION = re.compile(r"^[\w.<>]++")
# "KeyError: 'stockToFlow_price'"
_EXCEPTION = re.compile(r"^(?P<type>[A-Za-z_][\w.]*+)(?::[ \t]?(?P<msg>.*+))?")
# Colab folds library frames: "5 frames"
_FOLDED = re.compile(r"^\d++ frames?")
_ANSI = re.compile(r"\x1b\[[0-9;]*+m")
_CHAIN_MARKERS = frozenset(
    {
        "During handling of the above exception, another exception occurred:",
        "The above exception was the direct cause of the following exception:",
    }
)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal core of ``_HEADER``, the first test of ``read``."""
    return _MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first IPython traceback (with its chain) in ``text``, or None."""
    if not has_marker(text):
        return None
    if "\x1b[" in text:
        text = _ANSI.sub("", text)
    found = _HEADER.search(text)
    if found is None:
        return None
    lines = text[found.start() :].split("\n")
    budget = FrameBudget(max_frames)
    exceptions: list[ExceptionInfo] = []
    i: int | None = 0
    while i is not None:
        exc, i = _block(lines, i, budget)
        exceptions.append(exc)
    if not any(exc.frames for exc in exceptions):
        return None
    exceptions.reverse()  # printed root cause first
    return Trace(language="python", exceptions=tuple(exceptions), dropped=budget.dropped)


def _block(lines: list[str], i: int, budget: FrameBudget) -> tuple[ExceptionInfo, int | None]:
    """The block whose header is line ``i``, and the index of the next block's header."""
    header = _HEADER.match(lines[i])
    exc_type = header["type"] if header else "<unknown>"
    message = ""
    frames: list[Frame] = []
    chained = False
    for j in range(i + 1, len(lines)):
        line = lines[j]
        stripped = line.strip()
        if not stripped or line[0] in " \t-" or _FOLDED.fullmatch(stripped):
            arrow = _ARROW.match(line)
            if arrow is not None and frames and frames[-1].line is None:
                frames[-1] = replace(frames[-1], line=int(arrow["line"]))
            continue
        if stripped in _CHAIN_MARKERS:
            chained = True
            continue
        if _HEADER.match(line):
            if chained:
                return _exception(exc_type, message, frames), j
            break
        frame = _frame(line)
        if frame is not None:
            if budget.room(frames):
                frames.append(frame)
            continue
        exc = _EXCEPTION.fullmatch(stripped)
        if exc is None or chained or exc["type"] != exc_type:
            break
        message = (exc["msg"] or "").strip()
    return _exception(exc_type, message, frames), None


def _frame(line: str) -> Frame | None:
    """``path in function(args)`` as a frame, or None."""
    file, sep, call = line.rstrip().partition(" in ")
    function = call.split("(", 1)[0]
    if not sep or not _FUNCTION.fullmatch(function):
        return None
    if not (file.startswith("<") or "/" in file or "\\" in file or file.endswith((".py", ".pyx"))):
        return None
    return Frame(module=python_module(file), function=function, file=file, raw=line.strip())


def _exception(exc_type: str, message: str, frames: list[Frame]) -> ExceptionInfo:
    return ExceptionInfo(type=exc_type, message=message, frames=tuple(reversed(frames)))


READER = Reader(read=read, marker=has_marker)
