"""Python traceback parsing and frame normalisation."""
# ruff: noqa: E501  (real traces have long lines)

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers import must_parse
from triagebot.stack import python
from triagebot.stack.model import Trace

SIMPLE = """\
Hello team, the nightly import failed again:

Traceback (most recent call last):
  File "/srv/releases/20261127/app/importer/run.py", line 88, in <module>
    main()
  File "/srv/releases/20261127/app/importer/run.py", line 80, in main
    load_cases(path)
  File "/srv/releases/20261127/app/cases/loader.py", line 12, in load_cases
    return [parse_row(r) for r in rows]
  File "/srv/releases/20261127/app/cases/loader.py", line 12, in <listcomp>
    return [parse_row(r) for r in rows]
  File "/usr/lib/python3.11/json/decoder.py", line 337, in decode
    obj, end = self.raw_decode(s, idx=_w(s, 0).end())
ValueError: invalid literal for int() with base 10: 'abc'

Regards,
ops
"""

CHAINED = """\
Traceback (most recent call last):
  File "/home/alice/app/venv/lib/python3.11/site-packages/urllib3/connection.py", line 203, in _new_conn
    sock = connection.create_connection(
  File "/home/alice/app/venv/lib/python3.11/site-packages/urllib3/util/connection.py", line 85, in create_connection
    raise err
ConnectionRefusedError: [Errno 111] Connection refused

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/home/alice/app/venv/lib/python3.11/site-packages/requests/adapters.py", line 486, in send
    resp = conn.urlopen(
urllib3.exceptions.MaxRetryError: HTTPConnectionPool(host='x', port=80): Max retries exceeded

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/home/alice/app/sync/client.py", line 41, in fetch
    return session.get(url, timeout=5)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/home/alice/app/venv/lib/python3.11/site-packages/requests/adapters.py", line 519, in send
    raise ConnectionError(e, request=request)
requests.exceptions.ConnectionError: HTTPConnectionPool(host='x', port=80): Max retries exceeded
"""

DIRECT_CAUSE = """\
Traceback (most recent call last):
  File "C:\\inetpub\\app\\billing\\invoice.py", line 10, in total
    return sum(lines) / count
           ~~~~~~~~~~~^~~~~~~
ZeroDivisionError: division by zero

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "C:\\inetpub\\app\\billing\\views.py", line 22, in show
    raise InvoiceError("cannot total") from exc
billing.errors.InvoiceError: cannot total
"""

RECURSION = """\
Traceback (most recent call last):
  File "/app/tree.py", line 9, in <module>
    walk(root)
  File "/app/tree.py", line 5, in walk
    return walk(node.child)
           ^^^^^^^^^^^^^^^^
  File "/app/tree.py", line 5, in walk
    return walk(node.child)
           ^^^^^^^^^^^^^^^^
  [Previous line repeated 996 more times]
RecursionError: maximum recursion depth exceeded
"""

SYNTAX = """\
Traceback (most recent call last):
  File "/srv/app/manage.py", line 3, in <module>
    import settings
  File "/srv/app/settings.py", line 14
    DEBUG = (True
            ^
SyntaxError: '(' was never closed
"""

GROUP = """\
  + Exception Group Traceback (most recent call last):
  |   File "/srv/app/jobs/batch.py", line 30, in run
  |     async with asyncio.TaskGroup() as tg:
  |   File "/usr/lib/python3.11/asyncio/taskgroups.py", line 135, in __aexit__
  |     raise me from None
  | ExceptionGroup: unhandled errors in a TaskGroup (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/srv/app/jobs/batch.py", line 12, in fetch
    |     raise ValueError("bad id")
    | ValueError: bad id
    +---------------- 2 ----------------
    | TypeError: nope
    +------------------------------------
"""


parse = must_parse(python.parse)


class TestParse:
    def test_simple_trace_in_mail_body(self) -> None:
        """Frames come most recent first; module/function/line are split."""
        trace = parse(SIMPLE)
        assert trace.language == "python"
        (exc,) = trace.exceptions
        assert exc.type == "ValueError"
        assert exc.message == "invalid literal for int() with base 10: 'abc'"
        assert [f.function for f in exc.frames] == [
            "decode",
            "<listcomp>",
            "load_cases",
            "main",
            "<module>",
        ]
        top = exc.frames[0]
        assert (top.module, top.file, top.line) == (
            "json.decoder",
            "/usr/lib/python3.11/json/decoder.py",
            337,
        )
        assert exc.frames[2].module == "cases.loader"
        assert exc.frames[2].raw.startswith('File "/srv/releases/')

    def test_chain_is_outermost_first(self) -> None:
        """The last printed traceback is the outermost exception, the first the root cause."""
        trace = parse(CHAINED)
        assert [e.type for e in trace.exceptions] == [
            "requests.exceptions.ConnectionError",
            "urllib3.exceptions.MaxRetryError",
            "ConnectionRefusedError",
        ]
        assert trace.exceptions[-1].message == "[Errno 111] Connection refused"
        assert trace.exceptions[0].frames[0].module == "requests.adapters"
        assert trace.exceptions[0].frames[1].module == "sync.client"
        assert trace.exceptions[2].frames[0].module == "urllib3.util.connection"
        assert trace.frame_count == 5

    def test_direct_cause_and_windows_paths(self) -> None:
        """``raise ... from`` chains and 3.11 ``~~^~~`` markers parse; backslash paths too."""
        trace = parse(DIRECT_CAUSE)
        assert [e.type for e in trace.exceptions] == [
            "billing.errors.InvoiceError",
            "ZeroDivisionError",
        ]
        assert trace.exceptions[1].frames[0].module == "billing.invoice"
        assert trace.exceptions[0].frames[0].function == "show"

    def test_repeated_line_marker(self) -> None:
        trace = parse(RECURSION)
        (exc,) = trace.exceptions
        assert exc.type == "RecursionError"
        assert len(exc.frames) == 3
        assert exc.frames[-1].function == "<module>"

    def test_syntax_error_location_is_a_frame(self) -> None:
        trace = parse(SYNTAX)
        (exc,) = trace.exceptions
        assert exc.type == "SyntaxError"
        assert exc.message == "'(' was never closed"
        assert (exc.frames[0].module, exc.frames[0].function, exc.frames[0].line) == (
            "app.settings",
            "",
            14,
        )

    def test_exception_group_yields_group_type(self) -> None:
        trace = parse(GROUP)
        assert trace.exceptions[0].type == "ExceptionGroup"
        assert trace.exceptions[0].message.startswith("unhandled errors in a TaskGroup")
        assert [f.function for f in trace.exceptions[0].frames] == ["__aexit__", "run"]

    def test_collapsed_trace(self) -> None:
        """A chained trace joined into one line by a log shipper parses like the original."""
        collapsed = " ".join(line.strip() for line in CHAINED.splitlines() if line.strip())
        trace = parse("log: " + collapsed)
        assert [e.type for e in trace.exceptions] == [
            "requests.exceptions.ConnectionError",
            "urllib3.exceptions.MaxRetryError",
            "ConnectionRefusedError",
        ]
        assert trace.frame_count == 5
        assert trace.exceptions[-1].message == "[Errno 111] Connection refused"

    def test_no_trace(self) -> None:
        assert python.parse("Traceback mentioned in prose, but nothing else.") is None
        assert python.parse("Traceback (most recent call last):\nthen nothing\n") is None


class TestNormalize:
    def test_same_key_across_install_paths(self) -> None:
        """One frame printed on three machines gives one key, with no line number in it."""
        texts = [
            SIMPLE,
            SIMPLE.replace("/srv/releases/20261127/app/", "/home/alice/app/"),
            SIMPLE.replace("/srv/releases/20261127/app/", "C:\\inetpub\\wwwroot\\").replace(
                "line 12,", "line 14,"
            ),
        ]
        keys = {python.normalize_frame(parse(t).exceptions[0].frames[2]).key for t in texts}
        assert keys == {"cases.loader.load_cases"}

    def test_site_packages_module(self) -> None:
        a = parse(CHAINED).exceptions[0].frames[0]
        b = (
            parse(
                CHAINED.replace(
                    "/home/alice/app/venv/lib/python3.11/site-packages/",
                    "/usr/local/lib/python3.12/dist-packages/",
                )
            )
            .exceptions[0]
            .frames[0]
        )
        norm = python.normalize_frame(a)
        assert norm.key == python.normalize_frame(b).key == "requests.adapters.send"
        assert "line" in norm.hint


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises(text: str) -> None:
    result = python.parse(text)
    assert result is None or isinstance(result, Trace)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(SIMPLE.splitlines() + CHAINED.splitlines() + ["", "x"])))
def test_parse_never_raises_on_trace_fragments(lines: list[str]) -> None:
    result = python.parse("\n".join(lines))
    assert result is None or result.frame_count > 0


class TestRealWorldLayouts:
    """Layouts seen in real reports that once lost frames or the exception type."""

    def test_django_technical_summary(self) -> None:
        """Django's technical 500 text names the exception in "Exception Type:" lines."""
        text = (
            "Traceback (most recent call last):\n"
            '  File "/var/www/analytics/reports/views.py", line 77, in conversion\n'
            "    rate = metrics.conversion_rate(visits, orders)\n"
            "\n"
            "Exception Type: ZeroDivisionError at /reports/conversion/\n"
            "Exception Value: division by zero\n"
        )
        for body in (text, " ".join(text.split())):  # as sent, and as an HTML textarea flattens it
            exc = must_parse(python.parse)(body).exceptions[0]
            assert (exc.type, exc.message) == ("ZeroDivisionError", "division by zero")
            assert [f.function for f in exc.frames] == ["conversion"]

    def test_collapsed_chain_with_qualified_exception_names(self) -> None:
        """``psycopg.errors.UniqueViolation`` has no Error suffix; collapsed, the chain holds."""
        text = (
            'Traceback (most recent call last): File "/app/.venv/lib/python3.12/site-packages/'
            'django/db/backends/utils.py", line 105, in _execute return self.cursor.execute(sql) '
            "psycopg.errors.UniqueViolation: duplicate key value "
            "The above exception was the direct cause of the following exception: "
            'Traceback (most recent call last): File "/app/accounts/tasks.py", line 27, in '
            "create_profile Profile.objects.create(user_id=user_id) "
            "django.db.utils.IntegrityError: duplicate key value"
        )
        trace = must_parse(python.parse)(text)
        assert [e.type for e in trace.exceptions] == [
            "django.db.utils.IntegrityError",
            "psycopg.errors.UniqueViolation",
        ]

    def test_collapsed_exception_group_keeps_frames(self) -> None:
        text = (
            "Report: + Exception Group Traceback (most recent call last): |   File "
            '"/home/svc/crawler/main.py", line 33, in main |     async with asyncio.TaskGroup() '
            'as tg: |   File "/usr/lib/python3.12/asyncio/taskgroups.py", line 145, in __aexit__ '
            "|     raise me from None | ExceptionGroup: unhandled errors in a TaskGroup "
            "(1 sub-exception)"
        )
        exc = must_parse(python.parse)(text).exceptions[0]
        assert exc.type == "ExceptionGroup"
        assert [f.function for f in exc.frames] == ["__aexit__", "main"]

    def test_collapsed_trace_in_a_code_block_keeps_its_message(self) -> None:
        """The backtick that closes a Markdown code block, run into the exception line once the
        breaks were lost, is not part of the message (swiss-territorial-data-lab/proj-qalidar#3)."""
        printed = (
            "`Traceback (most recent call last):\n"
            '  File "/root/autodl-tmp/proj/scripts/substeps/decision_tree.py", line 188, in main\n'
            "    if not df[df[f'{CLS_DICT[\"unclassified\"]}_new']>0].empty: # Only execute if there is some unclassified points in the new point cloud\n"
            '  File "/root/miniconda3/envs/vim/lib/python3.10/site-packages/pandas/core/indexes/base.py", line 3798, in get_loc\n'
            "    raise KeyError(key) from err\n"
            "KeyError: '1_new'\n"
            "`\n"
        )
        for fence in ("`", "```"):
            text = printed.replace("\n`\n", f"\n{fence}\n")
            collapsed = " ".join(line.strip() for line in text.splitlines())
            exc = must_parse(python.parse)(collapsed).exceptions[0]
            assert (exc.type, exc.message) == ("KeyError", "'1_new'")
            assert exc.message == must_parse(python.parse)(text).exceptions[0].message
        code = must_parse(python.parse)(printed.replace("'1_new'", "'1_new' `a`"))
        assert code.exceptions[0].message == "'1_new' `a`"

    def test_collapsed_exceptions_ignored_end_at_the_next_one(self) -> None:
        """The interpreter's "Exception ignored in:" line starts the next report, so a collapsed
        run of them keeps the first one's message (PySimpleGUI/PySimpleGUI#1304)."""
        printed = (
            "Exception ignored in: <bound method Variable.__del__ of <tkinter.StringVar object at 0x27D15850>>\n"
            "Traceback (most recent call last):\n"
            '  File "C:\\Program Files (x86)\\Python36-32\\Lib\\tkinter\\__init__.py", line 329, in __del__\n'
            '    if self._tk.getboolean(self._tk.call("info", "exists", self._name)):\n'
            "RuntimeError: main thread is not in main loop\n"
        ) * 2
        collapsed = " ".join(line.strip() for line in printed.splitlines())
        exc = must_parse(python.parse)(collapsed).exceptions[0]
        assert (exc.type, exc.message) == ("RuntimeError", "main thread is not in main loop")
        assert [f.function for f in exc.frames] == ["__del__"]
