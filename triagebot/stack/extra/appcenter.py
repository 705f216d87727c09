"""App Center crash exports (.NET: WPF, Xamarin, MAUI), as its GitHub integration files them.

The export prints the frames first, one per paragraph, each ending in ``;Module``, and the
exception after them, under Markdown headings::

    ### Stacktrace ###

    SimpleWeather.Maui.App..ctor() in /Users/u/App.xaml.cs:line 88;SimpleWeather.Maui.App

    SimpleWeather.Maui.Program.Main(String[] args) in /Users/u/Program.cs:line 13;SimpleWeather.Maui

    ### Reason ###

    System.NullReferenceException: Object reference not set to an instance of an object.

A frame is what ``Exception.ToString()`` prints after the "at" word, localised or not (``在 ``,
``в ``, ``عند ``, ``en C:\\x.cs:línea 79``), Mono's ``() [0x0001b] in <mvid>:0`` included. The
frames are handed to the .NET parser as the trace it would have read, so a crash reported both
ways gets the same frames and the same signature.
"""

from __future__ import annotations

from triagebot.stack import Reader, dotnet
from triagebot.stack.model import Trace
from triagebot.stack.text import MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

_STACKTRACE = "### Stacktrace ###"
_REASON = "### Reason ###"
#: Lines of the reason read (a type, a message; the driver's message may wrap).
_MAX_REASON_LINES = 20


def has_marker(text: str) -> bool:
    """Whether ``text`` holds both headings ``read`` looks for: it reads nothing without them."""
    return _STACKTRACE in text and _REASON in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The crash of an App Center export in ``text``, or ``None`` when there is none."""
    start = text.find(_STACKTRACE)
    if start < 0:
        return None
    start += len(_STACKTRACE)
    end = text.find(_REASON, start)
    if end < 0:
        return None
    frames = _frames(text[start:end])
    reason = _reason(text[end + len(_REASON) :])
    if not frames or not reason:
        return None
    trace = dotnet.parse("\n".join([reason, *(f"   at {frame}" for frame in frames)]), max_frames)
    if trace is None or not trace.frame_count:
        return None
    return trace


def _frames(section: str) -> list[str]:
    """The frames of the stack section, without their ``;Module`` and localised "at" word.

    Splitting at ``;`` leaves the module at the head of every piece but the first; a mail that
    lost its line breaks keeps the same shape.
    """
    pieces = section.split(";")
    if len(pieces) < 2:
        return []
    frames = [pieces[0].split()]
    frames.extend(piece.split()[1:] for piece in pieces[1:])
    return [" ".join(_without_at_word(words)) for words in frames if words]


def _without_at_word(words: list[str]) -> list[str]:
    """A frame's words without a leading "at" word (a frame's name always has a dot)."""
    if len(words) > 1 and "." not in words[0] and "(" not in words[0]:
        return words[1:]
    return words


def _reason(section: str) -> str:
    """The exception's ``Type: message`` lines, up to the paragraph's end."""
    lines: list[str] = []
    for line in section.lstrip().split("\n", _MAX_REASON_LINES)[:_MAX_REASON_LINES]:
        if not line.strip() or line.lstrip().startswith("###"):
            break
        lines.append(line.strip())
    return "\n".join(lines)


READER = Reader(read=read, marker=has_marker)
