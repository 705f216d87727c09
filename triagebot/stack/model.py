"""Language-neutral stack trace model produced by the per-language parsers.

Conventions every parser follows, so the signature code never branches on language:
- ``Trace.exceptions`` runs from the outermost exception (what was caught and reported)
  to the innermost root cause (``.NET`` ``--->`` / Java ``Caused by:`` order; Python is reversed).
- ``ExceptionInfo.frames`` runs from the most recent call (where it was thrown) outwards
  (Python's "most recent call last" is reversed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from triagebot.picklable import by_fields


@by_fields
@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame as printed.

    ``module`` is what owns the function: .NET/Java namespace + class
    (``Acme.Cases.CaseViewModel``), Python dotted module or file path, JS/Ruby/PHP file
    path or class, Go package path.
    ``function`` is the bare method/function name as printed (generated names included;
    normalisation happens in the language's ``normalize_frame``).
    """

    module: str
    function: str
    file: str | None = None
    line: int | None = None
    raw: str = ""

    @property
    def qualified(self) -> str:
        """``module.function`` (or just ``function`` when there is no module)."""
        return f"{self.module}.{self.function}" if self.module else self.function


#: The type of an exception whose type line was not read (a trace that starts with its frames).
UNKNOWN_TYPE = "<unknown>"
#: The function of a frame an error tracker could not resolve (``unknown file:0 - unknown
#: method``): it says a frame was there, not which; signing skips it.
UNRESOLVED_FUNCTION = "<unresolved>"


@by_fields
@dataclass(frozen=True, slots=True)
class ExceptionInfo:
    """One exception of a chain: its type (fully qualified where printed), message and frames."""

    type: str
    message: str = ""
    frames: tuple[Frame, ...] = ()

    @property
    def short_type(self) -> str:
        """The type without namespace: ``System.IO.IOException`` → ``IOException``."""
        for sep in ("\\", "::", "."):
            if sep in self.type:
                return self.type.rsplit(sep, 1)[-1]
        return self.type


@by_fields
@dataclass(frozen=True, slots=True)
class Trace:
    """A parsed exception chain in one language (``dotnet``, ``java``, ``python``, ``javascript``,
    ``go``, ``ruby``, ``php``, or ``unknown`` for a bare ``Type: message`` line).

    ``dropped``: frames the trace printed beyond the frame cap (``max_frames``), not kept.
    ``first_reading``: for a trace found only once its text was unwrapped (``stack.unwrap``),
    what the text gave as it was (signature versions older than unwrapping sign that, so the
    values they stored never change).
    ``logged_at``: for an exception an application's logger wrote without frames, the level of
    that record (``ERROR``, ``FATAL``); such a record is a report (``mail.parse``).
    ``printed_by``: for a bare exception line, what shows the text is a runtime's own printout
    of it, not a mention (``stack.detect``); such a printout is a report too.
    ``named``: for a trace whose only exception its parser could not name (``UNKNOWN_TYPE``),
    the type and message its text gives in a shape the parser does not read
    (``Language.names``); signature versions from v3 on sign the trace under that name.
    ``since``: for a trace read by an extra reader added after v2, the first signature version
    that signs it (``Reader.since``); older ones sign ``first_reading``.
    """

    language: str
    exceptions: tuple[ExceptionInfo, ...] = field(default_factory=tuple)
    dropped: int = 0
    first_reading: Trace | None = None
    logged_at: str = ""
    printed_by: str = ""
    named: ExceptionInfo | None = None
    since: str = ""

    @property
    def frame_count(self) -> int:
        return sum(len(e.frames) for e in self.exceptions)

    @property
    def root(self) -> ExceptionInfo | None:
        """The innermost exception (the root cause)."""
        return self.exceptions[-1] if self.exceptions else None
