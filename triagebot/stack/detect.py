"""Find the stack trace in a report's text: every registered language parser whose marker the
text holds is tried and the richest trace wins; a bare ``Type: message`` line is the fallback."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from triagebot.stack import Language, dotnet, go, java, js, php, python, ruby
from triagebot.stack.extra import BREAKS, READERS
from triagebot.stack.model import UNKNOWN_TYPE, ExceptionInfo, Trace
from triagebot.stack.text import MAX_FRAMES
from triagebot.stack.unwrap import unwrap

#: The registry of language parsers, by id, in the order they are tried: ``.NET`` first (ties
#: go to the earlier entry). A new language or parser version is one line here.
LANGUAGES: dict[str, Language] = {
    language.id: language
    for language in (
        dotnet.LANGUAGE,
        java.LANGUAGE,
        python.LANGUAGE,
        js.LANGUAGE,
        go.LANGUAGE,
        ruby.LANGUAGE,
        php.LANGUAGE,
    )
}
BY_NAME: dict[str, Language] = {lang.name: lang for lang in LANGUAGES.values()}
#: Where any language's trace or any export the extra readers read that lost its line breaks
#: gets them back (``unwrap``); the exports' first, while their lines are still long.
_BREAKS = (*BREAKS, *(pattern for lang in LANGUAGES.values() for pattern in lang.breaks))

# "System.InvalidOperationException: Sequence contains no elements", "Error: ECONNREFUSED",
# "Unhandled exception. Acme.Billing.InvoiceLockedException: Invoice 1234 is locked"
_BARE_EXCEPTION = re.compile(
    r"^[ \t]*(?:(?:Unhandled|Uncaught)[ \w]*?(?:[.:]|exception)[ \t]*)?"
    r"(?P<type>(?:[A-Za-z_][\w$]*[.\\:]{1,2})*[A-Za-z_]\w*(?:Exception|Error|Fault|Panic))"
    r"(?:[ \t]*\(0x[0-9A-Fa-f]+\))?:[ \t]*(?P<message>[^\r\n]*)",
    re.MULTILINE,
)
#: What every ``_BARE_EXCEPTION`` match holds: its type's last word and the colon after it, or
#: the error code between them.
_BARE_MARKS = ("Exception:", "Error:", "Fault:", "Panic:", "(0x")


#: What shows that a frameless exception is a runtime's own printout, not a mention of one:
#: .NET starts each inner exception's line with "---> Type" ("---> System.ComponentModel.
#: Win32Exception (258): Unknown error 258"). (React's code frame also shows it, but its
#: frameless reading keeps only type and message, which other bugs share: left a mention.)
_PRINTOUTS = (
    (
        "a .NET exception with its inner exceptions",
        re.compile(r"^[ \t]*+---> (?:[A-Za-z_]\w*+\.)++[A-Za-z_]\w*(?:Exception|Error)\b", re.M),
    ),
)

#: A trace with fewer frames than this gets a second look with its text unwrapped.
_UNWRAP_BELOW = 3


def find_trace(text: str, max_frames: int = MAX_FRAMES, *, scan: bool = True) -> Trace | None:
    """The best trace in ``text``: most frames wins; ``unknown`` bare exception line otherwise.

    When few frames or none were found, the text is read again with log prefixes, line numbers
    and escaped line breaks undone (``unwrap``) and by the readers of formats no parser reads
    (``stack.extra``), and the richer reading wins, keeping the first one as
    ``Trace.first_reading`` (with no first reading, the second is kept even without frames:
    an exception an application logged alone). When no parser read a trace and neither
    reading holds a frame, a last reading also puts back line breaks lost before frames (a
    short trace joined into one line); a trace a parser read keeps its reading, as its
    signature is stored. At most ``max_frames`` frames are kept (``Trace.dropped`` counts the
    rest). ``scan=False`` runs every parser and reader and searches for a bare line even where
    its marker is absent: the same result, more slowly (``Language.marker``, ``Reader.marker``,
    ``_BARE_MARKS``).
    """
    first = _richest(text, max_frames, scan) or _bare(text, scan)
    if first is not None and first.frame_count >= _UNWRAP_BELOW:
        return _named(_keep_top(first, max_frames), text)
    found = first
    second = _second_reading(text, max_frames, scan)
    if second is not None and (first is None or second.frame_count > first.frame_count):
        found = replace(second, first_reading=first)
    if (found is None or not found.frame_count) and (first is None or first.language == "unknown"):
        rebroken = _second_reading(text, max_frames, scan, _BREAKS)
        if rebroken is not None and rebroken.frame_count:
            found = replace(rebroken, first_reading=first)
    return _named(_keep_top(found, max_frames), text) if found is not None else None


def _named(trace: Trace, text: str) -> Trace:
    """A trace whose only exception its parser could not name, with the name its text gives
    in a shape the parser does not read as a type line (``Trace.named``, ``Language.names``)."""
    if len(trace.exceptions) != 1 or trace.exceptions[0].type not in ("", UNKNOWN_TYPE):
        return trace
    language = BY_NAME.get(trace.language)
    # Read where the lines a joined copy lost are put back, as the parsers read it.
    named = language.names(unwrap(text, _BREAKS)) if language is not None else None
    return replace(trace, named=named) if named is not None else trace


def _second_reading(
    text: str, max_frames: int, scan: bool, breaks: tuple[re.Pattern[str], ...] = ()
) -> Trace | None:
    """The richest trace of the unwrapped text, by the parsers or the extra readers.

    Signature versions from v2 on sign it; older ones sign the first reading
    (``Trace.first_reading``), so what they stored never changes. A reader added later
    belongs to a new signature version in the same way (``Reader.since``, ``Trace.since``).
    ``breaks``: where lost line breaks are put back (none: the text's own lines).
    """
    unwrapped = unwrap(text, breaks)
    parsed = _richest(unwrapped, max_frames, scan) if unwrapped != text else None
    readings = (
        _since(reader.read(unwrapped, max_frames), reader.since)
        for reader in READERS
        if not scan or reader.marker(unwrapped)
    )
    return _most_frames([parsed, *readings])


def _since(trace: Trace | None, version: str) -> Trace | None:
    """``trace`` marked with the first version that signs its reader's reading."""
    return replace(trace, since=version) if trace is not None and version else trace


def _bare(text: str, scan: bool) -> Trace | None:
    """A ``Type: message`` line alone, as the ``unknown`` language, marked with what shows a
    runtime printed it (``Trace.printed_by``) when the text shows that. With ``scan`` a text
    without ``_BARE_MARKS`` is not searched: it holds no such line."""
    if scan and not any(mark in text for mark in _BARE_MARKS):
        return None
    match = _BARE_EXCEPTION.search(text)
    if match is None:
        return None
    printed_by = next((what for what, shown in _PRINTOUTS if shown.search(text)), "")
    return Trace(
        language="unknown",
        exceptions=(ExceptionInfo(type=match["type"], message=match["message"].strip()),),
        printed_by=printed_by,
    )


def _richest(text: str, max_frames: int, scan: bool) -> Trace | None:
    """The trace with the most frames any parser finds (ties: the earlier parser). With ``scan``
    a parser runs only on a text that holds its marker: without it, it would find nothing."""
    return _most_frames(
        language.parse(text, max_frames)
        for language in LANGUAGES.values()
        if not scan or language.marker(text)
    )


def _most_frames(traces: Iterable[Trace | None]) -> Trace | None:
    """The trace with the most frames that names an exception (ties: the earlier one)."""
    best: Trace | None = None
    for trace in traces:
        if (
            trace is not None
            and trace.exceptions
            and (best is None or trace.frame_count > best.frame_count)
        ):
            best = trace
    return best


def _keep_top(trace: Trace, max_frames: int) -> Trace:
    """``trace`` with at most ``max_frames`` frames: each exception keeps its top frames (where
    it was thrown, what the signature reads), as many as it has up to one level shared by all,
    so a long outer stack cannot crowd out its root cause's frames."""
    counts = sorted(len(exc.frames) for exc in trace.exceptions)
    if sum(counts) <= max_frames:
        return trace
    level, room = 0, max_frames
    for index, count in enumerate(counts):
        share = room // (len(counts) - index)
        if count > share:
            level = share
            break
        room -= count
    exceptions = tuple(replace(exc, frames=exc.frames[:level]) for exc in trace.exceptions)
    kept = sum(len(exc.frames) for exc in exceptions)
    return replace(trace, exceptions=exceptions, dropped=trace.dropped + sum(counts) - kept)
