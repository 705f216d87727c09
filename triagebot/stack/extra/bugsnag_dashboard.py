"""Bugsnag's dashboard copied as text: the error class and its context joined by a middle dot,
the message run on after the context (the copy loses the column break), then the frames as
``file:line · method``, innermost first::

    java.lang.NullPointerException ·LauncherAttempt to invoke virtual method '...' on a null ...
    --

    HttpInventory.java:160 · org.flyve.inventory.agent.utils.HttpInventory$1.run

The frames are handed to the language's parser as the GitHub integration's are
(``bugsnag.build``), so they get the keys the same crash gets there. The context cannot be
told from the message it runs into, so the message is kept as copied.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.extra import bugsnag
from triagebot.stack.model import Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

#: The dashboard's separator, looked for before any pattern runs.
_DOT = " \u00b7"
# "java.lang.NullPointerException ·LauncherAttempt to invoke ..."
_HEADER = re.compile(
    LINE_START + r"[ \t]*+(?P<type>[A-Za-z_][\w$.:\\]*+) \u00b7[ \t]*+(?P<message>[^\n]*+)"
)
# "HttpInventory.java:160 · org.flyve.inventory.agent.utils.HttpInventory$1.run", read as
# tokens (each from its start only), so a copy whose line breaks were lost reads the same
_FRAME = re.compile(r"(?<!\S)(?P<location>[^\s:]++:\d++) \u00b7 (?P<name>\S++)")
#: What may stand between the header and the frames, and between frames: blanks and the rule
#: the copy leaves.
_BETWEEN = re.compile(r"[\s-]*+")


#: What every ``_FRAME`` match holds between its location and its method.
_FRAME_MARK = " \u00b7 "


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the `` · `` of a ``_FRAME``: ``read`` finds nothing without a
    frame."""
    return _FRAME_MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The error of a copied Bugsnag dashboard in ``text``, or None."""
    if _DOT not in text:
        return None
    first: re.Match[str] | None = None
    for header in _HEADER.finditer(text):
        pos = header.start("message")
        if first is None or first.start() < pos:  # searched once for all headers above it
            first = _FRAME.search(text, pos)
            if first is None:
                return None
        if "\n" in text[pos : first.start()] and not _BETWEEN.fullmatch(
            text, text.find("\n", pos), first.start()
        ):
            continue  # the frames below belong to another header
        frames: list[tuple[str, str]] = []
        match: re.Match[str] | None = first
        while match is not None:
            frames.append((match["location"], match["name"]))
            gap = _BETWEEN.match(text, match.end())
            match = _FRAME.match(text, gap.end()) if gap is not None else None
        message = text[pos : first.start()].split("\n", 1)[0].strip().removesuffix("--").strip()
        return bugsnag.build([bugsnag.Error(header["type"], message, frames)], max_frames)
    return None


READER = Reader(read=read, marker=has_marker)
