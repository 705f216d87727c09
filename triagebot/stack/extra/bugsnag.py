"""Bugsnag error reports as its GitHub integration files them (Markdown), for .NET, the JVM,
PHP and Go.

The exception comes first, in bold, with what it happened in, then its message; the frames
follow under a heading, innermost first, each as ``location - name``::

    **java.lang.NullPointerException** in **MainActivity**
    Attempt to invoke virtual method 'java.lang.String AppData.hash()' on a null object reference

    [View on Bugsnag](https://app.bugsnag.com/...)

    ## Stacktrace

        DataFragment.kt:177 - net.ankio.auto.ui.fragment.DataFragment$loadMoreData$1$1.invokeSuspend

A .NET frame's location is its file and line or just ``:0``, its name the method with its
parameters (``:0 - Microsoft.Data.SqlClient.SqlInternalConnection.OnError(SqlException e)``).
A PHP frame names the function running at its location (``\\app\\Http\\X.php:47 -
App\\Http\\X::index``), the function a PHP trace names in its frame. A Go frame names its
function without the package (``main.go:8 - main``): the package is the file's folder (an
import path, as Bugsnag trims files to), ``main`` for a file at the project's root.
The frames are handed to the language's parser as the trace it would have read, so a crash
reported both ways gets the same frames and the same signature. Frames Bugsnag could not
resolve (``unknown file:0 - unknown method``) are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from triagebot.stack import Reader, dotnet, go, java, php
from triagebot.stack.model import Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES

__all__ = [
    "READER",
    "STACKTRACE",
    "Error",
    "build",
    "frames",
    "has_marker",
    "header",
    "message",
    "read",
]

STACKTRACE = "## Stacktrace"
# "**java.lang.IllegalStateException** in **MainActivity**", "**System.X** in **/panel/1**",
# "**Symfony\Component\Debug\Exception\FatalThrowableError** in **GET /location**"
_HEADER = re.compile(r"\*\*(?P<type>[A-Za-z_][\w.$+`\\]*+)\*\* in \*\*[^*\n]*+\*\*")
#: What every ``_HEADER`` match holds between the type and the context.
_HEADER_MARK = "** in **"
#: Where the message ends: the tracker's link, the stack heading, or a blank line.
_MESSAGE_ENDS = ("[View on Bugsnag", STACKTRACE, "\n\n", "\n \n")
#: How far before the stack heading the exception line is looked for.
_HEADER_WINDOW = 4000
_JVM_FILES = (".java", ".kt", ".kts", ".scala", ".groovy")
# Names, matched whole (LINE_START: never tried from inside one).
# "net.acme.DataFragment$loadMoreData$1$1.invokeSuspend", "android.app.Activity.recreate"
_JVM_NAME = re.compile(LINE_START + r"[A-Za-z_$][\w$]*+(?:\.[\w$<>-]++)++")
# "Microsoft.EntityFrameworkCore.Update.ReaderModificationCommandBatch+<ExecuteAsync>d__29.Move("
_DOTNET_NAME = re.compile(LINE_START + r"[A-Za-z_][\w`]*+(?:[.+][\w`<>|$]++)++\(")
# "App\Http\Controllers\LocationController::getlocations", "App\X->{closure}", "helper"
_PHP_NAME = re.compile(r"[A-Za-z_\\][\w\\]*+(?:(?:::|->)(?:\{closure\}|[A-Za-z_]\w*+))?")
# "main", "(*Peer).UpdateDeltaTables", "glob..func6", "NewServer.func1.2"
_GO_NAME = re.compile(r"(?:\(\*?[\w]++\)\.)?[\w.]++")


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the stack heading ``read`` starts from and the ``** in **`` of the
    exception line (``_HEADER``) it needs above it: ``read`` finds nothing without both."""
    return STACKTRACE in text and _HEADER_MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The error of a Bugsnag report in ``text``, or ``None`` when there is none."""
    start = text.find(STACKTRACE)
    found = header(text, start)
    if found is None:
        return None
    stack = frames(text[start + len(STACKTRACE) :])
    return build([Error(found["type"], message(text[found.end() : start]), stack)], max_frames)


def header(text: str, start: int) -> re.Match[str] | None:
    """The exception line of the stack heading at ``start`` (-1: none): the last one before
    it, as an issue may quote others above."""
    if start < 0:
        return None
    return max(
        _HEADER.finditer(text, max(0, start - _HEADER_WINDOW), start),
        default=None,
        key=lambda match: match.start(),
    )


@dataclass(frozen=True, slots=True)
class Error:
    """One exception as Bugsnag gives it: ``frames`` are ``(location, name)``, innermost first
    (``location`` is ``File.java:42`` or ``:0``)."""

    type: str
    message: str
    frames: Sequence[tuple[str, str]]


def build(errors: Sequence[Error], max_frames: int = MAX_FRAMES) -> Trace | None:
    """The trace of Bugsnag's exceptions (the reported one first, then its causes), read by
    the parser of the language of the first one's frames; ``None`` when no parser reads them."""
    if not errors:
        return None
    for language, (frame_line, parse, caused_by, heading) in _LANGUAGES.items():
        if not any(frame_line(location, name) for location, name in errors[0].frames):
            continue
        lines: list[str] = []
        for index, error in enumerate(errors if caused_by else errors[:1]):
            head = heading(error)
            lines.append(f"{caused_by}{head}" if index else head)
            lines.extend(line for where, name in error.frames if (line := frame_line(where, name)))
        trace = parse("\n".join(lines), max_frames)
        if trace is not None and trace.language == language and trace.frame_count:
            return trace
    return None


def message(text: str) -> str:
    """The message lines that follow the exception line."""
    end = min((i for i in map(text.find, _MESSAGE_ENDS) if i >= 0), default=len(text))
    return text[:end].strip()


def frames(section: str) -> list[tuple[str, str]]:
    """``(location, name)`` of each ``location - name`` frame, up to the first other line.

    Read word by word, so a report whose line breaks were lost reads the same.
    """
    found: list[tuple[str, str]] = []
    for line in section.split("\n"):
        words = line.split()
        marks = [i for i in range(len(words) - 2) if words[i + 1] == "-" and _is_location(words[i])]
        if not marks:
            if found and words:
                break
            continue
        for mark, end in zip(marks, [*marks[1:], len(words)], strict=True):
            found.append((words[mark], " ".join(words[mark + 2 : end])))
    return found


def _is_location(word: str) -> bool:
    """``File.java:42``, ``\\app\\Http\\X.php:320``, ``:0``."""
    _, colon, line = word.rpartition(":")
    return bool(colon) and line.isdigit()


def _jvm_line(location: str, name: str) -> str:
    """``DataFragment.kt:177`` and ``a.b.C.m`` as ``\\tat a.b.C.m(DataFragment.kt:177)``."""
    file, _, line = location.rpartition(":")
    words = name.split(None, 1)
    if not file.endswith(_JVM_FILES) or not words or not _JVM_NAME.fullmatch(words[0]):
        return ""
    return f"\tat {words[0]}({file}:{line})"


def _dotnet_line(location: str, name: str) -> str:
    """``:0`` and ``A.B.M(int x)`` as ``   at A.B.M(int x)``; a file gets its ``:line N``."""
    file, _, line = location.rpartition(":")
    close = name.find(")")
    if close < 0 or not _DOTNET_NAME.match(name):
        return ""
    where = f" in {file}:line {line}" if file else ""
    return f"   at {name[: close + 1]}{where}"


def _php_line(location: str, name: str) -> str:
    """``\\app\\X.php:47`` and ``App\\X::index`` as ``#0 \\app\\X.php(47): App\\X::index()``."""
    file, _, line = location.rpartition(":")
    name = next(iter(name.split()), "")  # a report without line breaks runs on after it
    if not file.endswith(".php") or not _PHP_NAME.fullmatch(name):
        return ""
    return f"#0 {file}({line}): {name}()"


def _go_line(location: str, name: str) -> str:
    """``lib/x.go:8`` and ``(*T).M`` as ``lib.(*T).M()`` over a tab-indented ``lib/x.go:8``."""
    file, _, line = location.rpartition(":")
    name = next(iter(name.split()), "")
    if not file.endswith(".go") or not _GO_NAME.fullmatch(name):
        return ""
    package = file.replace("\\", "/").rpartition("/")[0] or "main"
    return f"{package}.{name}()\n\t{file}:{line}"


def _plain_heading(error: Error) -> str:
    """``Type: message``, as .NET and the JVM print an exception."""
    return f"{error.type}: {error.message}" if error.message else error.type


def _php_heading(error: Error) -> str:
    """``Type: message in file:line``, as PHP prints an exception (at its first frame)."""
    file, _, line = error.frames[0][0].rpartition(":") if error.frames else ("", "", "")
    return f"{error.type}: {' '.join(error.message.split())} in {file}:{line}"


def _go_heading(error: Error) -> str:
    """``panic: message`` above the goroutine's header; an error class other than ``panic``
    as the panic's value type, ``panic: (main.ConfigError) message``."""
    value = error.message if error.type == "panic" else f"({error.type}) {error.message}"
    return f"panic: {value}\n\ngoroutine 1 [running]:"


_Parse = Callable[[str, int], Trace | None]
#: Per language: a frame as its parser's frame line ("" when it is not one), that parser, how
#: it introduces a cause ("": only the reported exception is read), and its exception line.
_LANGUAGES: dict[str, tuple[Callable[[str, str], str], _Parse, str, Callable[[Error], str]]] = {
    "java": (_jvm_line, java.parse, "Caused by: ", _plain_heading),
    "dotnet": (_dotnet_line, dotnet.parse, "", _plain_heading),
    "php": (_php_line, php.parse, "", _php_heading),
    "go": (_go_line, go.parse, "", _go_heading),
}


READER = Reader(read=read, marker=has_marker)
