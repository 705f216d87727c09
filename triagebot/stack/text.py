"""Text helpers shared by the language parsers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence, Sized

from triagebot.stack.model import ExceptionInfo, Frame

#: Lines longer than this that hold several frame markers had their line breaks lost.
COLLAPSED_LINE = 300
#: For languages whose frames are short: a browser, Node or Python trace of three frames
#: collapsed into one line is about 200 characters.
SHORT_COLLAPSED_LINE = 160

# Regex fragments that keep a pattern linear on any text. A pattern that is tried at every
# position of a long run (search, findall, sub) and reads the rest of the run each time costs
# time quadratic in the run's length: 20,000 spaces took seconds, 1 MB hours.
#: Where a line starts (the text's start or just after "\n"): a pattern for whole lines is tried
#: once per line, never from inside a line ("    at X()": not from each of the four spaces).
LINE_START = r"(?<![^\n])"
#: A run of whitespace, matched whole and only from its first character. The lookbehind comes
#: after that character, so the regex engine still skips to candidates by their first character.
SPACES = r"\s(?<!\s{2})\s*+"

#: Frames kept per exception while a trace is read, and per trace (``detect.find_trace``).
MAX_FRAMES = 1000


class FrameBudget:
    """The frames each exception keeps while a trace is read (``limit``, at least 1). The rest
    are counted in ``dropped`` but never built: a trace of 300,000 frames costs little more than
    reading its lines."""

    __slots__ = ("dropped", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0

    def room(self, frames: Sized) -> bool:
        """Whether an exception that has ``frames`` keeps one more; counts it as dropped if not."""
        if len(frames) < self.limit:
            return True
        self.dropped += 1
        return False


def frames_while(
    lines: Iterable[str], frame_of: Callable[[str], Frame | None], budget: FrameBudget
) -> list[Frame]:
    """The frames of consecutive lines up to the first that is not one (``frame_of`` says),
    as many as ``budget`` keeps (the rest counted as dropped)."""
    frames: list[Frame] = []
    for line in lines:
        frame = frame_of(line)
        if frame is None:
            break
        if budget.room(frames):
            frames.append(frame)
    return frames


def restore_breaks(
    text: str, frame_start: re.Pattern[str], longer_than: int = COLLAPSED_LINE, markers: int = 2
) -> str:
    """Re-insert line breaks before frame markers in lines that lost them.

    Mail gateways and log shippers join a multi-line trace into one long line
    (``... at A.B() at C.D() ...``); each parser passes the pattern of its frame's start.
    Only lines longer than ``longer_than`` that hold at least ``markers`` markers are broken,
    so ordinary long lines cost nothing.
    """
    if not has_long_line(text, longer_than):
        return text
    out: list[str] = []
    for line in text.splitlines():
        if len(line) > longer_than and len(frame_start.findall(line)) >= markers:
            out.append(frame_start.sub(lambda m: "\n" + m.group(0).lstrip(), line))
        else:
            out.append(line)
    return "\n".join(out)


def has_long_line(text: str, longer_than: int = COLLAPSED_LINE) -> bool:
    """Whether a line of ``text`` is longer than ``longer_than``: only such lines get line breaks
    back (``restore_breaks``)."""
    return len(text) > longer_than and max(map(len, text.split("\n"))) > longer_than


def weave_side_exceptions(
    chain: Sequence[ExceptionInfo], sides: Sequence[Sequence[ExceptionInfo]]
) -> tuple[ExceptionInfo, ...]:
    """Merge side exceptions (Java ``Suppressed:``, .NET ``(Inner Exception #N)``) into a chain.

    ``sides[i]`` belongs to ``chain[i]``. The causal chain keeps its order, its first place (what
    was reported) and, with two or more links, its last place (``Trace.root``): side exceptions
    follow their parent, except the root cause's own, which precede it.
    """
    if not any(sides):
        return tuple(chain)
    out: list[ExceptionInfo] = []
    last = len(chain) - 1
    for index, exc in enumerate(chain):
        extra = sides[index] if index < len(sides) else ()
        if index == last and index > 0:
            out.extend(extra)
            out.append(exc)
        else:
            out.append(exc)
            out.extend(extra)
    return tuple(out)


def first_frame_line(
    text: str,
    lines: list[str],
    search: Callable[[str, int], re.Match[str] | None],
    frame_line: re.Pattern[str],
) -> int | None:
    """Index in ``lines`` (``text`` split on ``\\n``) of the first line that is a frame.

    ``search(text, pos)`` is the parser's cheap unanchored finder; each hit is confirmed by
    matching ``frame_line`` against the whole line, so a frame-like phrase in prose is passed over.
    """
    pos = index = 0
    while (found := search(text, pos)) is not None:
        index += text.count("\n", pos, found.start())
        if frame_line.match(lines[index]):
            return index
        pos = text.find("\n", found.start()) + 1
        if pos == 0:
            return None
        index += text.count("\n", found.start(), pos)
    return None
