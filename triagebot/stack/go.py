"""Go panics and fatal errors: the ``panic:`` lines and the panicking goroutine's stack.

Only the first ``[running]`` goroutine counts (the first goroutine when none runs, as in a
deadlock); other goroutines of a ``GOTRACEBACK=all`` dump are ignored. Frames are scanned as
tokens (function call, then ``file.go:line +0xoff``), so a dump whose line breaks were lost
parses the same way.

Exception type, as Go prints no class for most panics:
- ``panic: runtime error: index out of range [5] with length 3`` → ``runtime.Error`` with the
  message after ``runtime error:`` (the runtime error class is the message's first words);
- ``panic: (main.T) 0xc000010000`` (a value without Error/String method) → ``main.T``;
- ``fatal error: concurrent map writes`` → ``fatal error``;
- any other ``panic: value`` (strings, errors) → ``panic``.
``panic: A [recovered]`` followed by ``panic: B`` means B was raised while handling A: B is the
outer (reported) exception, A the root cause; the goroutine's frames belong to B.
"""

from __future__ import annotations

import re
from dataclasses import replace

from triagebot.stack import Language, NormalizedFrame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import MAX_FRAMES, FrameBudget

__all__ = ["LANGUAGE", "has_marker", "normalize_frame", "parse"]

# "goroutine 1 [running]:", "goroutine 34 [chan receive, 5 minutes]:" (a state ends at the next
# "[" too: "goroutine 1 [" many times without "]" read on to the line's end from each)
_GOROUTINE = re.compile(r"goroutine \d+ \[(?P<state>[^\][\n]*)\]:")
# "panic: ", "\tpanic: ", "fatal error: ", "2026/11/27 10:00:00 http: panic serving 10.0.0.1:5432: "
# (found with str.rfind: a regex alternation scanning the text above is ten times slower)
_MARKERS = (("panic: ", "panic"), ("fatal error: ", "fatal error"), ("http: panic serving ", ""))
# Where a panic's message ends: at the whitespace before a line break or the next section.
# Searched in the message's own slice from the start of each run of whitespace only (a match
# inside a run implies one at its start), so a long run is not read again from each character.
_SEGMENT_END = re.compile(r"(?<!\s)(?:\s*\n|\s+(?=\[signal |goroutine \d+ \[|panic: ))")
_RECOVERED = re.compile(r"(?<!\s)\s*+\[recovered(?:, repanicked)?\]$")
_BLANK = re.compile(r"\n[ \t]*\n")
# "main.(*Server).handle(0xc000010000, {0x5c2f80, 0xc000120000})\n\t/home/u/app/server.go:42 +0x1d"
# "created by net/http.(*Server).Serve in goroutine 1\n\t/usr/local/go/src/net/http/server.go:3086"
# Matched where the previous frame (or the goroutine header) ended: whitespace, then the call.
# The whitespace is read from its start only, and a call never starts inside a word: a search
# from every character of a long word read the rest of it for a "(". A call whose location is
# not found takes the rest of its line as it is, without ``line`` (no frame): a search over many
# calls on one line reads it once, not once per call.
_FRAME = re.compile(
    r"(?<!\s)\s++(?:created by (?P<created>\S+)(?: in goroutine \d+)?"
    r"|(?P<func>[^\s(]\S*?)\([^()\n]*\))"
    r"\s+(?:(?P<file>\S[^\n]*?\.go|\?\?):(?P<line>\d+)(?:[ \t]+\+0x[0-9a-f]+)?|[^\n]*)"
)
_ELIDED = re.compile(r"(?<!\s)\s*+\.\.\.additional frames elided\.\.\.")
# "(main.T) 0xc000010000"
_TYPED_VALUE = re.compile(r"\((?P<type>[\w./*\[\]]+)\) ")

# Normalisation: "func1", "gowrap2", "deferwrap1", nested closure ".2"
_CLOSURE = re.compile(r"\.(func|gowrap|deferwrap)?\d+(?=\.|$)")


def _split(name: str) -> tuple[str, str]:
    """``github.com/a/b.(*T).M`` → (``github.com/a/b``, ``(*T).M``); dots in the last path
    element are printed as ``%2e``, so the first dot after the last slash ends the package."""
    dot = name.find(".", name.rfind("/") + 1)
    return (name[:dot], name[dot + 1 :]) if dot > 0 else ("", name)


def _frames(text: str, pos: int, end: int, budget: FrameBudget) -> list[Frame]:
    frames: list[Frame] = []
    while True:
        match = _FRAME.match(text, pos, end)
        if match is None or match["line"] is None:
            elided = _ELIDED.match(text, pos, end)
            if elided is None:
                return frames
            pos = elided.end()
            continue
        if budget.room(frames):
            module, function = _split(match["created"] or match["func"])
            frames.append(
                Frame(
                    module=module,
                    function=function,
                    file=match["file"],
                    line=int(match["line"]),
                    raw=" ".join(match[0].split()),
                )
            )
        pos = match.end()


def _exception(kind: str | None, text: str) -> ExceptionInfo:
    message = _RECOVERED.sub("", text.strip())
    if kind == "fatal error":
        return ExceptionInfo(type="fatal error", message=message)
    if message.startswith("runtime error: "):
        return ExceptionInfo(type="runtime.Error", message=message[15:])
    typed = _TYPED_VALUE.match(message)
    if typed is not None:
        return ExceptionInfo(type=typed["type"], message=message[typed.end() :])
    return ExceptionInfo(type="panic", message=message)


def _last_panic(text: str, end: int, starts: dict[str, int]) -> tuple[int, str, int] | None:
    """``(start, kind, message start)`` of the last panic line starting before ``end``.

    ``starts`` keeps each marker's last start found (-1: none), for the next call with a lower
    ``end``: a chain of many panics searches each stretch of text once per marker.
    """
    best: tuple[int, str, int] | None = None
    for marker, kind in _MARKERS:
        start = starts.get(marker, end)
        if start >= end:
            start = text.rfind(marker, 0, end)
            while start > 0 and not text[start - 1].isspace():
                start = text.rfind(marker, 0, start)
            starts[marker] = start
        if start >= 0 and (best is None or start > best[0]):
            body = start + len(marker)
            if not kind:  # "http: panic serving ADDR: message"
                body = text.find(": ", body, end) + 2
            best = (start, kind, body) if body > 1 else best
    return best


def _panics(text: str, end: int) -> list[ExceptionInfo]:
    """The panic lines before ``end``, outermost first: the last one and the ``[recovered]``
    ones printed right before it."""
    chain: list[ExceptionInfo] = []
    starts: dict[str, int] = {}
    while (found := _last_panic(text, end, starts)) is not None:
        start, kind, body = found
        rest = text[body:end]
        stop = _SEGMENT_END.search(rest)
        segment = rest[: stop.start()] if stop else rest
        if chain and not _RECOVERED.search(segment.rstrip()):
            break
        exc = _exception(kind, segment)
        if not chain or (exc.type, exc.message) != (chain[-1].type, chain[-1].message):
            chain.append(exc)
        end = start
    return chain


def parse(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The panicking goroutine's stack (at most ``max_frames`` frames) and the panic chain
    above it, or None."""
    first = _GOROUTINE.search(text)
    if first is None:
        return None
    header = first
    while "running" not in header["state"]:
        following = _GOROUTINE.search(text, header.end())
        if following is None:
            header = first
            break
        header = following
    end = len(text)
    for stop in (_GOROUTINE.search(text, header.end()), _BLANK.search(text, header.end())):
        if stop is not None:
            end = min(end, stop.start())
    budget = FrameBudget(max_frames)
    frames = _frames(text, header.end(), end, budget)
    if not frames:
        return None
    chain = _panics(text, first.start()) or [ExceptionInfo(type="<unknown>")]
    outer = chain[0]
    chain[0] = ExceptionInfo(type=outer.type, message=outer.message, frames=tuple(frames))
    return Trace(language="go", exceptions=tuple(chain), dropped=budget.dropped)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the literal start of ``_GOROUTINE``: ``parse`` reads nothing
    without a goroutine header."""
    return "goroutine " in text


def normalize_frame(frame: Frame) -> NormalizedFrame:
    """``package.Function`` with closure counters folded; line, offset and file dropped."""
    if not frame.module:  # the "panic(...)" builtin
        return NormalizedFrame(key=frame.function, hint="runtime builtin", skip=True)
    module = frame.module.rpartition("/vendor/")[2]
    function = _CLOSURE.sub(lambda m: "." + (m[1] or "func"), frame.function)
    hint = "line, +0x offset and goroutine dropped"
    if function != frame.function:
        hint += "; closure counters folded"
    if module != frame.module:
        hint += "; vendor prefix dropped"
    return NormalizedFrame(key=f"{module}.{function}", hint=hint)


# Go before 1.5 numbered closures and init functions "main.func·001", "signal.init·1"; a
# package built outside GOPATH is named by its folder, "_/home/user/kvexpress/commands".
_OLD_CLOSURE = re.compile(r"\b(func|init)·\d++")
_LOCAL_PACKAGE = "_/"


def renames(frame: Frame) -> tuple[Frame, str] | None:
    """Closure counters of old compilers folded as ``normalize_frame`` folds new ones, and a
    local package named by its last two folders, as a machine's home folder is in the rest
    (``Language.renames``)."""
    function = _OLD_CLOSURE.sub(r"\1", frame.function)
    module = frame.module
    if module.startswith(_LOCAL_PACKAGE):
        module = "/".join(module.split("/")[-2:])
    why = [
        what
        for what, changed in (
            ("old compiler's counter folded", function != frame.function),
            ("local package's folder dropped", module != frame.module),
        )
        if changed
    ]
    return (replace(frame, module=module, function=function), "; ".join(why)) if why else None


# "runtime error: index out of range" without "panic: " before it: the value a program
# recovered, printed by itself before ``debug.PrintStack``'s goroutine dump.
_UNNAMED_PANIC = re.compile(r"\bruntime error: [^\n]*+")


def names(text: str) -> ExceptionInfo | None:
    """The panic a goroutine dump without its ``panic:`` line was printed for (``Trace.named``)."""
    found = _UNNAMED_PANIC.search(text)
    return _exception(None, found[0]) if found is not None else None


def unwinding(frames: tuple[Frame, ...]) -> int:
    """The frames above the last ``panic(...)``: deferred functions that ran while the panic
    unwound (``Language.unwinding``); the panic happened below it."""
    panics = [i for i, f in enumerate(frames) if f.function == "panic" and not f.module]
    return panics[-1] + 1 if panics and panics[-1] + 1 < len(frames) else 0


LANGUAGE = Language(
    name="go",
    version="v1",
    parse=parse,
    normalize_frame=normalize_frame,
    marker=has_marker,
    names=names,
    unwinding=unwinding,
    renames=renames,
)
