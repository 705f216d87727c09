"""Stack trace parsing: one module per language family, registered under a versioned id.

A ``Language`` bundles what the rest of triagebot needs to know about one runtime: how to find
and parse its traces in free text, how to normalise a frame into a stable identity, and which
frames belong to the runtime/framework rather than the application (the default
"not in-app" patterns, shipped as a dated data file under ``triagebot/data``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from triagebot.stack.model import ExceptionInfo, Frame, Trace

__all__ = [
    "ExceptionInfo",
    "Frame",
    "Language",
    "NormalizedFrame",
    "Reader",
    "Trace",
    "TraceParser",
]


class TraceParser(Protocol):
    """A language's ``parse``: the first trace in ``text``, keeping at most ``max_frames``
    frames per exception (the rest counted in ``Trace.dropped``)."""

    def __call__(self, text: str, max_frames: int = ...) -> Trace | None: ...


@dataclass(frozen=True, slots=True)
class NormalizedFrame:
    """A frame reduced to what identifies the code, with a hint saying what was folded.

    ``key``: e.g. ``Acme.Cases.CaseViewModel.LoadAsync`` (no line, address, counter, lambda id,
    install path). ``skip``: generated plumbing (proxies, reflection accessors) that never counts.
    """

    key: str
    hint: str = ""
    skip: bool = False
    #: The source file ``key`` names, where a library is signed by the file it failed in
    #: (``SignatureVersion.package_files``: Ruby's ``path`` of ``path:label``).
    source: str = ""


@dataclass(frozen=True, slots=True)
class Language:
    """One runtime's parser and normaliser, registered as ``name:version`` (e.g. ``dotnet:v1``).

    ``parse`` returns ``None`` quickly when the text holds no trace of this language.
    ``marker``: a cheap test that is false only for texts in which ``parse`` finds nothing (a
    necessary condition, derived from what the parser's own patterns require, at most as costly
    as the parser's own first search), so ``detect`` runs only the parsers whose marker a text
    holds.
    ``library_patterns`` are the built-in not-in-app globs, matched against
    ``Frame.qualified`` and ``Frame.file``.
    ``breaks``: where a trace of this language that lost its line breaks gets them back (before
    frames and sections), for the second look at a text (``stack.unwrap``); the parser's own
    reading breaks only long lines with several frames.
    """

    name: str
    version: str
    parse: TraceParser
    normalize_frame: Callable[[Frame], NormalizedFrame]
    marker: Callable[[str], bool]
    breaks: tuple[re.Pattern[str], ...] = ()
    #: What ``normalize_frame`` reads of a frame besides its module, function, file and
    #: whether it has a line: signing judges each distinct frame once (``Signer``), and line
    #: numbers, which every build shifts, must not make a known frame new.
    judged_on: Callable[[Frame], object] = lambda _frame: None
    #: Where a text names the exception of a trace this parser read without its type line
    #: (``Trace.named``): the type line in a shape the parser does not take as one.
    names: Callable[[str], ExceptionInfo | None] = lambda _text: None
    #: What a later signature version folds in a frame that varies by machine, install or
    #: compiler release and ``normalize_frame`` keeps (``SignatureVersion.renamed``): the frame
    #: as signed and why, or None when nothing is folded.
    renames: Callable[[Frame], tuple[Frame, str] | None] = lambda _frame: None
    #: How many of an exception's top frames ran while it unwound, not where it failed: Go's
    #: deferred functions above the last ``panic(...)`` (a handler that recovered it and
    #: printed ``debug.Stack``); signature versions from v3 on leave them out.
    unwinding: Callable[[tuple[Frame, ...]], int] = lambda _frames: 0

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True, slots=True)
class Reader:
    """A reader of a trace format no language parser reads (``stack.extra``).

    ``marker``: a cheap test that is false only for texts in which ``read`` finds nothing (a
    necessary condition, derived from what the reader's own first search or patterns require,
    cheaper than ``read`` on a text without its format), so ``detect`` runs only the readers
    whose marker a text holds.
    """

    read: TraceParser
    marker: Callable[[str], bool]
    #: The first signature version that signs what this reader reads, for a reader added
    #: after v2 (older versions sign the text's first reading, so their values never change).
    since: str = ""
