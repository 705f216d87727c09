"""The marker scan never changes a result: a parser whose marker a text lacks finds nothing in
it, so ``find_trace`` with the scan equals ``find_trace`` with every parser run."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.stack import Language
from triagebot.stack.detect import LANGUAGES, find_trace

REPO = Path(__file__).resolve().parent.parent
#: Trace and non-report corpora, read as text, and mails, read as triagebot reads them.
TEXT_FOLDERS = ("bench/heldout", "bench/realworld", "tests/data")
MAIL_FOLDERS = ("samples", "tests/mails", "tests/corpus")

#: Lines of every language's traces (frames of each layout, headers, chain and section lines),
#: and of the mails around them.
FRAGMENTS = {
    "dotnet": (
        "System.InvalidOperationException: Sequence contains no elements",
        "   at Acme.Cases.CaseViewModel.Load(Int32 id) in C:\\src\\CaseViewModel.cs:line 42",
        "   bei Acme.X.Load(Object , Object[] ) in C:\\src\\X.cs:Zeile 7",
        "  at Acme.X.Load (System.Int32 id) [0x00012] in /src/X.cs:42",
        "  at (wrapper managed-to-native) System.Object.Invoke(object,object[])",
        " ---> System.IO.IOException: Disk full",
        "   --- End of inner exception stack trace ---",
        "---> (Inner Exception #1) System.IO.IOException: Disk full<---",
        "NullReferenceException: Object reference not set to an instance of an object",
        "PlayerController.Update () (at Assets/Scripts/PlayerController.cs:25)",
        "Task.Execute () [0x00000] in <00000000000000000000000000000000>:0",
        "UnityEngine.Debug:Log (object)",
        "Rethrow as TargetInvocationException: Exception has been thrown",
    ),
    "java": (
        'Exception in thread "main" java.lang.IllegalStateException: Queue full',
        "\tat com.acme.Foo.bar(Foo.java:42)",
        "\tat java.base/java.lang.Thread.run(Thread.java:833)",
        "\tat\tcom.acme.Worker.run(Worker.java:7)",
        "\tat com.acme.Foo$$Lambda$123/0x0000000801234.apply(Unknown Source)",
        "Caused by: java.io.IOException: Broken pipe",
        "\tSuppressed: java.io.IOException: close",
        "\t... 12 more",
        "11-27 10:00:01.123  1234  1234 E AndroidRuntime: \tat com.acme.Main.onCreate(Main.kt:9)",
    ),
    "python": (
        "Traceback (most recent call last):",
        '  File "/srv/app/cases/views.py", line 12, in load',
        '  File "<frozen importlib._bootstrap>", line 1, in _find',
        "    return Case.objects.get(pk=pk)",
        "ValueError: invalid literal for int()",
        "During handling of the above exception, another exception occurred:",
        "  | ExceptionGroup: boom (1 sub-exception)",
        "Exception Type: ZeroDivisionError at /x/",
    ),
    "javascript": (
        "TypeError: Cannot read properties of undefined (reading 'id')",
        "    at Object.load (/srv/app/src/cases.js:42:17)",
        "    at async Promise.all (index 0)",
        "    at /srv/app/x.js:1:2",
        "    at node:internal/process/task_queues:95:5 {",
        "  [cause]: Error: connect ECONNREFUSED",
        "load@https://app.example.com/static/js/main.3f9a1c.js:2:1234",
        "Uncaught (in promise) Error: x",
    ),
    "go": (
        "panic: runtime error: index out of range [5] with length 3",
        "goroutine 1 [running]:",
        "main.(*Server).handle(0xc000010000, {0x5c2f80, 0xc000120000})",
        "\t/home/u/app/server.go:42 +0x1d",
        "created by net/http.(*Server).Serve in goroutine 1",
        "fatal error: concurrent map writes",
    ),
    "ruby": (
        "/srv/app/models/user.rb:12:in `save': undefined method `x' for nil (NoMethodError)",
        "\tfrom /srv/app/x.rb:5:in 'User#save'",
        "NoMethodError (undefined method `name' for nil:NilClass):",
        "activerecord (7.0.4) lib/active_record/core.rb:284:in `find'",
        "[req-1a2b] app/controllers/x_controller.rb:10:in `show'",
    ),
    "php": (
        "PHP Fatal error:  Uncaught Exception: msg in /var/www/x.php:12",
        "Stack trace:",
        "#0 /var/www/html/app/Y.php(5): App\\Service->load(Array)",
        "#1 [internal function]: f()",
        "#2 {main}",
        "Next RuntimeException: m in /var/www/x.php:3",
        "  thrown in /var/www/x.php on line 12",
    ),
    "mail": (
        "",
        "Hello team,",
        "at the moment the client is slow (new) in the search window",
        "in foo(bar) at baz (qux)",
        "Time: 10:30:45 Version: 4.2.1",
        "[2026-11-27 10:00:01] ERROR app: ",
        "> ",
        "x" * 320,
    ),
}
#: What joins the lines: line breaks, blanks (a trace that lost its breaks, or a long line),
#: nothing, or an escaped break.
SEPARATORS = ("\n", "\r\n", " ", "  ", "\t", "", "\\n")

_LINES = st.one_of(
    st.sampled_from([line for lines in FRAGMENTS.values() for line in lines]),
    st.text(max_size=12),
)
#: A run of one language's lines, all joined alike (a trace as printed, or as it lost its breaks).
_BLOCKS = st.tuples(
    st.sampled_from(list(FRAGMENTS.values())).flatmap(
        lambda lines: st.lists(st.sampled_from(lines), min_size=1, max_size=12)
    ),
    st.sampled_from(SEPARATORS),
).map(lambda block: block[1].join(block[0]))
_TEXTS = st.lists(
    st.tuples(st.one_of(_LINES, _BLOCKS), st.sampled_from(SEPARATORS)), max_size=12
).map(lambda parts: "".join(line + separator for line, separator in parts))


def _unmarked_parses(text: str) -> list[str]:
    """Ids of the languages that find a trace in ``text`` although it lacks their marker."""
    return [
        language.id
        for language in LANGUAGES.values()
        if not language.marker(text) and language.parse(text) is not None
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXTS)
# Traces that hold only the rarer half of a marker: a tab after "at", a quote after ":in ", a
# frame on the text's first line, a .NET trace that lost its line breaks, Firefox frames only,
# "{main}" without a call site, a goroutine that is not the first.
@example("\tat\tcom.acme.Worker.run(Worker.java:7)")
@example("\tfrom /srv/app/x.rb:5:in 'User#save'")
@example("at Acme.X.Load() in C:\\src\\X.cs:line 1")
@example("System.TimeoutException: timed out" + " at Acme.Db.Query(String sql)" * 12)
@example("load@https://app.example.com/main.js:2:1234\nrun@https://app.example.com/main.js:9:1")
@example("Exception: x in /var/www/x.php:12\nStack trace:\n#0 {main}")
@example("panic: x\n\ngoroutine 34 [chan receive]:\nmain.f()\n\t/a/b.go:1 +0x1\n")
def test_scan_never_changes_the_trace(text: str) -> None:
    """For texts built from lines of every language's traces, a parser whose marker is absent
    finds nothing, and ``find_trace`` with the scan equals it with every parser run."""
    assert _unmarked_parses(text) == []
    assert find_trace(text) == find_trace(text, scan=False)


@cache
def corpus() -> dict[str, str]:
    """Every text of the trace corpora and every sample mail's searched text, by path."""
    texts: dict[str, str] = {}
    for folder in TEXT_FOLDERS:
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".txt", ".html"):
                texts[str(path.relative_to(REPO))] = path.read_text("utf-8", errors="replace")
    for folder in MAIL_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.eml")):
            report = parse_message(path.read_bytes(), ParseSettings())
            texts[str(path.relative_to(REPO))] = report.text
    return texts


def test_scan_never_changes_a_corpus_trace() -> None:
    """Every corpus text gives the same trace with and without the scan (whole ``Trace``s,
    frames and first readings included), and no parser finds one where its marker is absent."""
    texts = corpus()
    assert len(texts) > 500
    for path, text in texts.items():
        assert _unmarked_parses(text) == [], path
        assert find_trace(text) == find_trace(text, scan=False), path


def test_scan_skips_most_parser_runs_on_real_traces() -> None:
    """On the real-trace corpus, the markers leave fewer than a third of the parser runs (each
    text holds one language's trace, and the markers of the others mostly fail)."""
    texts = [text for path, text in corpus().items() if path.startswith("bench/realworld/")]
    runs = sum(language.marker(text) for text in texts for language in LANGUAGES.values())
    assert runs < len(texts) * len(LANGUAGES) / 3


HELPDESK_MAIL = (
    "Guten Tag,\n\ndie Anwendung ist seit heute Morgen langsam (Version 4.2.1).\n"
    "Beim Öffnen eines Falls dauert es eine Minute.\nViele Grüße, Jürgen\n"
)


@pytest.mark.parametrize("language", list(LANGUAGES.values()), ids=list(LANGUAGES))
def test_marker_fails_on_a_mail_without_a_trace_and_holds_on_a_trace(language: Language) -> None:
    """A marker that always held would skip nothing; one that never held would lose traces."""
    assert not language.marker(HELPDESK_MAIL)
    trace = "\n".join(FRAGMENTS[language.name])
    assert language.marker(trace)
    assert language.parse(trace) is not None
