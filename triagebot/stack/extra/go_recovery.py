"""Go panics recovered by a web framework's middleware (Martini, Macaron, Gin) and logged with
its own stack format instead of the runtime's:

    [Macaron] PANIC: assignment to entry in nil map
    /usr/lib/go/src/runtime/map_faststr.go:204 (0x4144ac)
    /go/src/github.com/acme/server/pkg/db/task.go:86 (0x1c74fe4)
    \ttask.(*Store).Update: t.Fields[key] = value

    [Recovery] 2020/04/10 - 10:00:00 panic recovered:
    runtime error: invalid memory address or nil pointer dereference
    /usr/local/go/src/runtime/panic.go:199 (0x44a1c2)
    \tpanicmem: panic(memoryError)

Each frame is ``file:line (0xPC)``, with the function (its name without the package) and the
source line below it when the source file was readable. The package comes from the file's path
(GOROOT and GOPATH ``/src/``, module cache ``/pkg/mod/``, ``/vendor/``), so a frame has the key
the runtime's own trace gives it (``runtime.gopanic``); without a function the file's name
stands in. A log prefix before every line (syslog, a timestamp) is passed over. The panic's
message is the line above the first frame (after ``PANIC:`` when the line has it).
"""

from __future__ import annotations

import re

from triagebot.stack import Reader, go
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "package_of", "read"]

#: Literal mark of a frame, looked for before any pattern runs.
_MARK = " (0x"
# "/usr/lib/go/src/runtime/map_faststr.go:204 (0x4144ac)" after any prefix: the path starts a
# blank-separated token (each token is read once) and the line ends after the program counter.
_FRAME = re.compile(
    r"(?<!\S)(?P<file>(?:[A-Za-z]:)?/[^\s:]*?\.go):(?P<line>\d++) \(0x[0-9a-fA-F]++\)[ \t]*+$"
)
# "\tgopanic: reflectcall(nil, ...)", "\t(*Store).Update: t.Fields[key] = value"
_FUNCTION = re.compile(r"(?<![ \t])(?:\t|  )[ \t]*+(?P<func>[^\s:]++): ")
# "[Macaron] PANIC: message", "[Martini] 2019/01/02 10:00:00 PANIC: message"
_PANIC = re.compile(r"\bPANIC: ")
_RECOVERED = re.compile(r"panic recovered:?[ \t]*+$")
#: Where a file's package path starts: vendored copies, the module cache, GOROOT and GOPATH.
_ROOTS = ("/vendor/", "/pkg/mod/", "/src/")
_VERSION = re.compile(r"@v[^/]*+")


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal mark of a frame, the first test of ``read``."""
    return _MARK in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first recovered panic's stack of ``text`` and its message, or None."""
    if not has_marker(text):
        return None
    lines = text.split("\n")
    start, first = next(
        ((i, m) for i, line in enumerate(lines) if _MARK in line and (m := _FRAME.search(line))),
        (0, None),
    )
    if first is None:
        return None
    budget = FrameBudget(max_frames)
    frames: list[Frame] = []
    index = start
    match: re.Match[str] | None = first
    while match is not None:
        prefix = lines[index][: match.start()]
        after = lines[index + 1] if index + 1 < len(lines) else ""
        named = _FUNCTION.match(after, len(prefix)) if after.startswith(prefix) else None
        if budget.room(frames):
            function = named["func"] if named is not None else None
            frames.append(_frame(match["file"], int(match["line"]), function, lines[index]))
        index += 2 if named is not None else 1
        match = _FRAME.search(lines[index]) if index < len(lines) else None
    prefix = lines[start][: first.start()]
    above = lines[start - 1] if start else ""
    exception = _exception(above.removeprefix(prefix) if prefix.strip() else above)
    exception = ExceptionInfo(exception.type, exception.message, tuple(frames))
    return Trace(language="go", exceptions=(exception,), dropped=budget.dropped)


def _frame(file: str, line: int, function: str | None, raw: str) -> Frame:
    """A frame keyed like the runtime's own: the package path, then the function."""
    name = file.replace("\\", "/").rpartition("/")[2]
    return Frame(package_of(file), function or name, file=file, line=line, raw=raw.strip())


def package_of(file: str) -> str:
    """The import path of a Go file's package: after ``/vendor/``, ``/pkg/mod/`` (without the
    version) or ``/src/``; the folder's name when the path has none of these."""
    folder = file.replace("\\", "/").rpartition("/")[0]
    for root in _ROOTS:
        cut = folder.rfind(root)
        if cut >= 0:
            return _VERSION.sub("", folder[cut + len(root) :])
    return folder.rpartition("/")[2]


def _exception(line: str) -> ExceptionInfo:
    """The panic on the line above the stack, typed as the Go parser types it."""
    panic = _PANIC.search(line)
    if panic is not None:
        return go._exception("panic", line[panic.end() :])
    if _RECOVERED.search(line) or not line.strip():
        return ExceptionInfo(type="panic")
    return go._exception("panic", line)


READER = Reader(read=read, marker=has_marker)
