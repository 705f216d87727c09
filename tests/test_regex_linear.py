"""Every regular expression of triagebot runs in linear time, whatever a mailbox sends.

A pattern that backtracks over a run of characters (``[ \\t]+x`` tried from every space of a run)
costs time quadratic in the run's length: 20,000 spaces took seconds, a 1 MB run hours, and the
service stopped. The sweep runs each compiled pattern of the package over long runs of every
character class and of the pieces traces, headers and quotes are made of; then hostile mails go
through ``parse_message`` and every language parser.
"""

from __future__ import annotations

import gc
import importlib
import pkgutil
import re
import signal
import string
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import triagebot
from triagebot.config import config_from_dict
from triagebot.mail.parse import parse_message
from triagebot.mail.reply import new_text
from triagebot.pipeline import Pipeline
from triagebot.stack.detect import LANGUAGES
from triagebot.stack.signature import DEFAULT_VERSION, SIGNATURE_VERSIONS, glob_regex

#: Length of each adversarial text.
SIZE = 64 * 1024
#: Seconds one call may take on SIZE characters. Measured on this 2-core machine, every pattern
#: of the package reads each input below in at most 0.04 s (``mime._HEAD`` on 64 KiB of
#: Cyrillic bytes, ``reply._MARKER`` on a run of dashes); ``[ \t]+x`` needs 6 s on 64 KiB of
#: spaces, 1 MB of them hours.
LIMIT = 0.25
#: Each input is tried at these sizes in turn. A call that takes t seconds on n characters takes
#: at most t * (SIZE / n) ** 2 on SIZE if it is at most quadratic: when that is within LIMIT the
#: larger sizes are skipped. So only heavy linear patterns and superlinear ones are run at
#: full size, and the sweep takes seconds instead of minutes.
SIZES = (SIZE // 32, SIZE // 8, SIZE)
Pattern = re.Pattern[Any]


def _patterns_in(label: str, value: object) -> Iterator[tuple[str, Pattern]]:
    """``value`` if it is a pattern, else the patterns in it if it is a tuple, list or dict
    (``signature._MESSAGE_NOISE`` is a table of ``(pattern, replacement)`` pairs)."""
    if isinstance(value, re.Pattern):
        yield label, value
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from _patterns_in(f"{label}[{index}]", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _patterns_in(f"{label}[{key!r}]", item)


MIGRATIONS = "triagebot.store.migrations."


def _collect() -> dict[str, Pattern]:
    """Every compiled pattern of every ``triagebot`` module (module globals and class attributes,
    each once, under the first name found), plus the shipped library-frame globs."""
    found: dict[str, Pattern] = {}
    seen: set[int] = set()
    for info in sorted(pkgutil.walk_packages(triagebot.__path__, "triagebot."), key=str):
        if info.name.startswith(MIGRATIONS):
            continue  # Alembic runs these inside a migration; they read no mail
        module = importlib.import_module(info.name)
        owners: list[tuple[str, dict[str, object]]] = [(info.name, vars(module))]
        owners += [
            (f"{info.name}.{name}", vars(value))
            for name, value in vars(module).items()
            if isinstance(value, type) and value.__module__ == info.name
        ]
        for owner, namespace in owners:
            for name, value in namespace.items():
                for label, pattern in _patterns_in(f"{owner}.{name}", value):
                    if id(pattern) not in seen:
                        seen.add(id(pattern))
                        found[label] = pattern
    version = SIGNATURE_VERSIONS[DEFAULT_VERSION]
    globs = (
        version.library_file,
        *version.more_library_files,
        *(name for name in (version.entry_file, version.runtime_file) if name is not None),
        *version.more_runtime_files,
    )
    for data_file in globs:
        text = resources.files("triagebot.data").joinpath(data_file).read_text("utf-8")
        for language, table in tomllib.loads(text).items():
            pattern = glob_regex(table["patterns"])
            assert pattern is not None
            found[f"{data_file}[{language}]"] = pattern
    return found


PATTERNS = _collect()

#: What the runs are made of: every character class, then pieces of frames, headers and quotes.
_UNITS = (
    *" \t\n\r\x0b\x0c\xa0\u3000",
    *"aAzZ_09éв在",
    *string.punctuation,
    "\r\n", " \n", "\n ", "\t\n", "\n\n", "a ", " a", "a\n", "a\t", "aa ",
    "a.", "a:", ": ", ":\n", "a,", ". ", ".\n", "a-", "- ", "--", "-- ", "--- ", "---> ", "a/",
    "a\\", "a=", "a@", "a.b", "a.b(", "a()", "()", "(a)", "[a]", "<a>", "a::", "a#",
    "at ", " at ", "\tat ", "in ", " in ", "0x", "1.", "1:", "a1", "1 ", "> ", ">\n", "\n>",
    "a (", " (", "a.b (", "Key: ", "Key:", "a=1 ", "a@b.c ", "a@b", "<a@b>", "=?", "\\n",
    "at a.b(", "at a.b() ", "   at A.B() in C:\\a.cs:line 1\n", "at a.b(a.java:1)\n",
    "\tat a.B.c(B.java:1)\n", 'File "a.py", line 1, in f\n', "a.rb:1:in `f'\n",
    "#0 a.php(1): f()\n", "a/b.go:1 +0x1\n", "main.f()\n", "    at f (a.js:1:1)\n",
    "f@a.js:1:1\n", "Caused by: a.B: c\n", "a.BException: m\n", "Traceback ", "goroutine 1 [",
    "Unity.A:B (a)\n", "A.B () (at a.cs:1)\n", "On Mon, a wrote:\n", "> > ", "Von: a\n",
    "From: a\n", "Sent from my ", "<a", "<a ", "</", "<!--", "<style>", "-->", "a-1", "1a",
    "[a] ", "#1 ", "at a (", "a:1 ", ":1:1 ", "/<", " [as ", "(wrapper ", "---> (", "--- a ",
    "Next E: ", "Uncaught E: ", " in a", " at a", "A (", "a.b ", "a@", "x=", "'a", '"a', "$a",
    "a$", "\\\\a", "(*a)", "a/b/", "a.b.c(", "e: ", "Caused by: ", "Suppressed: ", "#0 a(1): ",
)  # fmt: skip
#: Each run alone, between other characters, and ending its line.
_SHAPES = (("{}", "run"), ("x{}x", "x+run+x"), ("{}\n", "run+newline"))


@cache
def adversarial_inputs(size: int = SIZE) -> list[tuple[str, str]]:
    """``(label, text)``: each unit repeated to ``size`` characters, in each shape (built once:
    every pattern reads the same 1,500 texts)."""
    out: list[tuple[str, str]] = []
    for unit in _UNITS:
        run = unit * (size // len(unit))
        out += [(f"{shape_label} of {unit!r}", shape.format(run)) for shape, shape_label in _SHAPES]
    return out


class _Overtime(BaseException):  # not an Exception: parse_message's safety net lets it through
    pass


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Abort the block after ``seconds`` of this process's CPU time (the regex engine checks for
    signals while it runs); CPU time, not wall time, so other work on the machine does not
    count against the pattern."""

    def expire(_signum: int, _frame: object) -> None:
        raise _Overtime

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def _seconds(call: Callable[[Any], object], text: Any, limit: float) -> float:
    """CPU seconds ``call(text)`` takes; aborted (and reported as ``inf``) after 2 x ``limit``.

    The collector is off meanwhile: a ``findall`` of 65,536 one-character matches triggers
    full collections, which walk the whole test process's heap (as large as the tests run
    before it left it: 0.37 s in the full suite, 0.02 s alone), not the pattern's work.
    """
    collecting = gc.isenabled()
    gc.disable()
    start = time.process_time()
    try:
        with _deadline(2 * limit):
            call(text)
    except _Overtime:
        return float("inf")
    finally:
        if collecting:
            gc.enable()
    return time.process_time() - start


def assert_linear(name: str, pattern: Pattern) -> None:
    """Fail on the first input on which ``findall`` or ``search`` takes over LIMIT at SIZE
    characters, naming the pattern, the call and the input."""
    for index, (label, _) in enumerate(adversarial_inputs(SIZE)):
        for call in (pattern.findall, pattern.search):
            for size in SIZES:
                text = adversarial_inputs(size)[index][1]
                subject = text.encode() if isinstance(pattern.pattern, bytes) else text
                seconds = _seconds(call, subject, LIMIT)
                if seconds * (SIZE / size) ** 2 <= LIMIT:
                    break
            assert seconds <= LIMIT, (
                f"{name}.{call.__name__} takes {seconds:.2f} s (limit {LIMIT} s) on {label} "
                f"({SIZE:,} characters): pattern {pattern.pattern!r}"
            )


@pytest.mark.parametrize("name", list(PATTERNS))
def test_pattern_is_linear(name: str) -> None:
    """The pattern reads 64 KiB of any run of characters within the limit, whichever call."""
    assert_linear(name, PATTERNS[name])


def test_checker_catches_a_quadratic_pattern() -> None:
    """A run of blanks tried from each of its blanks fails on the first input, named, long
    before the 6 s its findall takes on 64 KiB of spaces (CPU seconds, as the checker counts)."""
    adversarial_inputs(SIZE)  # built here, not timed below
    started = time.process_time()
    with pytest.raises(AssertionError, match=r"example\.findall takes .* on run of ' '"):
        assert_linear("example", re.compile(r"[ \t]+x"))
    assert time.process_time() - started < 3.0


def test_collection_covers_the_package() -> None:
    """Patterns are found in every module that has them: globals, classes, tables, globs."""
    modules = {name.rsplit(".", 1)[0].split("[")[0] for name in PATTERNS}
    assert {"triagebot.stack.dotnet", "triagebot.mail.reply", "triagebot.smtp"} <= modules
    assert any(name.startswith("triagebot.stack.signature._MESSAGE_NOISE[") for name in PATTERNS)
    assert any(name.startswith("library-frames@") for name in PATTERNS)
    assert any(isinstance(pattern.pattern, bytes) for pattern in PATTERNS.values())


# --------------------------------------------------------------------------- hostile mails

MB = 1 << 20
#: Seconds for one parser or ``parse_message`` on one hostile text (they take under 0.7 s here).
MAIL_LIMIT = 3.0
_NET = "System.NullReferenceException: x\n   at A.B.C() in C:\\a.cs:line 1\n"
_JAVA = "java.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\n"
_PYTHON = 'Traceback (most recent call last):\n  File "a.py", line 1, in f\n'
_JS = "TypeError: x\n    at f (a.js:1:1)\n"
_GO = "panic: x\n\ngoroutine 1 [running]:\nmain.f()\n\t/a/b.go:1 +0x1\n"
_RUBY = "a.rb:1:in `f': x (E)\n\tfrom a.rb:1:in `f'\n"
_PHP = "PHP Fatal error:  Uncaught E: x in /a.php:1\nStack trace:\n#0 /a.php(1): f()\n"
_TRACES = {"dotnet": _NET, "java": _JAVA, "python": _PYTHON, "js": _JS, "go": _GO}
_TRACES |= {"ruby": _RUBY, "php": _PHP}
_FRAME_LINES = {
    "dotnet": "   at A.B.C()\n",
    "java": "\tat a.B.c(B.java:1)\n",
    "python": '  File "a.py", line 1, in f\n',
    "js": "    at f (a.js:1:1)\n",
    "go": "main.f()\n\t/a/b.go:1 +0x1\n",
    "ruby": "\tfrom a.rb:1:in `f'\n",
    "php": "#0 /a.php(1): f()\n",
}
HOSTILE: dict[str, str] = {
    **{f"1 MB of spaces in a {k} trace": t + " " * MB + "\n" + t for k, t in _TRACES.items()},
    **{f"1 MB of tabs in a {k} trace": t + "\t" * MB + "x\n" + t for k, t in _TRACES.items()},
    **{f"300,000 {k} frames": _TRACES[k] + line * 300_000 for k, line in _FRAME_LINES.items()},
    "Key<5,000 spaces>:<5,000 spaces> lines": ("Key" + " " * 5000 + ":" + " " * 5000 + "\n") * 100,
    "300,000 frames on one line": _NET.replace("\n", " ") + " at A.B.C()" * 300_000,
    "a 1 MB line of one letter": "x" * MB,
    "a 1 MB line of words": "ab " * (MB // 3),
    "a 1 MB line of dotted names": "a." * (MB // 2),
    "deep parentheses": "(" * (MB // 2) + ")" * (MB // 2),
    "deep brackets": "[" * (MB // 2) + "]" * (MB // 2),
    "deep braces": "{" * (MB // 2) + "}" * (MB // 2),
    "deep angle brackets": "<" * (MB // 2) + ">" * (MB // 2),
    "unclosed tags": "<a" * (MB // 2),
    "unclosed comments": "<!--" * (MB // 4),
    "a line of builtin frames": "x (native)" * (MB // 10),
    "a line of log tags": _RUBY + "[a] " * (MB // 4),
    "a line of PHP causes": "Next E: " * (MB // 8),
    "recovered panics": "panic: x [recovered]\n" * 50_000 + _GO,
    "frame-like words": "at a.b(" * (MB // 7),
    "quoted lines": "> " * (MB // 2),
}


def _mail(body: str, content_type: str = "text/plain") -> bytes:
    return (
        "From: app@example.test\r\nTo: helpdesk@example.test\r\nSubject: Error report\r\n"
        f"Message-ID: <a@example.test>\r\nContent-Type: {content_type}; charset=utf-8\r\n\r\n{body}"
    ).encode()


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    rules = Path(__file__).parent.parent / "rules"
    return Pipeline.from_config(config_from_dict({"rules": {"path": str(rules)}}))


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_text_parses_within_the_limit(case: str, pipeline: Pipeline) -> None:
    """Every language parser and marker, ``parse_message`` (plain text and HTML), the whole
    analysis with its signature, and reply trimming of the parsed body stay in time."""
    text = HOSTILE[case]
    calls: list[tuple[str, Callable[[Any], object], Any]] = [
        (language.id, language.parse, text) for language in LANGUAGES.values()
    ]
    calls += [(f"{language.id} marker", language.marker, text) for language in LANGUAGES.values()]
    calls += [
        ("parse_message", parse_message, _mail(text)),
        ("parse_message (HTML)", parse_message, _mail(text, "text/html")),
        ("Pipeline.analyse", pipeline.analyse, _mail(text)),
        ("reply.new_text", lambda raw: new_text(parse_message(raw).body), _mail(text)),
    ]
    for label, call, argument in calls:
        seconds = _seconds(call, argument, MAIL_LIMIT)
        assert seconds <= MAIL_LIMIT, f"{label} takes {seconds:.2f} s on {case}"


# Runs of the pieces above inside a mail: what hypothesis varies is which pieces, how long, how
# they are wrapped and where the mail's structure goes.
_PIECES = st.sampled_from([unit for unit in _UNITS if unit.strip()] + [" ", "\t", "\n"])
_RUNS = st.lists(st.tuples(_PIECES, st.integers(1, 20_000)), min_size=1, max_size=6)


@settings(
    max_examples=60,
    deadline=timedelta(seconds=MAIL_LIMIT),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    _RUNS,
    st.sampled_from(["text/plain", "text/html"]),
    st.sampled_from(list(_TRACES.values())),
    st.binary(max_size=64),
)
def test_parse_message_survives_long_runs(
    runs: list[tuple[str, int]], content_type: str, trace: str, junk: bytes
) -> None:
    """``parse_message`` gives a report, without an internal error, in time, for any mix of
    long runs around a trace (plus arbitrary bytes)."""
    body = trace.join(piece * count for piece, count in runs)
    report = parse_message(_mail(body, content_type) + junk)
    assert not report.reason.startswith("parser error"), report.reason


@settings(max_examples=200, deadline=timedelta(seconds=1))
@given(st.binary(max_size=64 * 1024))
def test_parse_message_survives_arbitrary_bytes(raw: bytes) -> None:
    """``parse_message`` gives a report for any bytes, quickly, without an internal error."""
    report = parse_message(raw)
    assert report.message_id
    assert not report.reason.startswith("parser error"), report.reason
