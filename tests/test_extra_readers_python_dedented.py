"""Python tracebacks whose lines lost their indentation are read whole
(``triagebot.stack.extra.python_dedented``): an HTML mail without ``<pre>`` (browsers and
``html_to_text`` collapse leading spaces), a CI console. The reader came with signature v6:
older versions sign what the text gave before it (``Trace.since``).

``JENKINS`` is copied verbatim from the real-trace corpus (``bench/realworld/INDEX.tsv``:
charmed-kubernetes/jenkins pull request 577)."""

from __future__ import annotations

import time
from email.message import EmailMessage

from hypothesis import given
from hypothesis import strategies as st

from triagebot.config import Config
from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Kind
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import python_dedented
from triagebot.stack.model import Trace
from triagebot.stack.signature import DEFAULT_VERSION, Signer

V5, V6 = Signer("v5"), Signer("v6")

JENKINS = """\
Traceback (most recent call last):
File "/var/lib/jenkins/slaves/jenkins-slave-4/workspace/validate-minor-release/jobs/integration/validation.py", line 991, in test_audit_empty_policy
before_date = await get_last_audit_entry_date(app)
File "/var/lib/jenkins/slaves/jenkins-slave-4/workspace/validate-minor-release/jobs/integration/validation.py", line 114, in get_last_audit_entry_date
data = json.loads(raw)
File "/usr/lib/python3.6/json/__init__.py", line 354, in loads
return _default_decoder.decode(s)
File "/usr/lib/python3.6/json/decoder.py", line 339, in decode
obj, end = self.raw_decode(s, idx=_w(s, 0).end())
File "/usr/lib/python3.6/json/decoder.py", line 355, in raw_decode
obj, end = self.scan_once(s, idx)
json.decoder.JSONDecodeError: Expecting ',' delimiter: line 1 column 777 (char 776)
"""  # noqa: E501

INDENTED = """\
Traceback (most recent call last):
  File "/srv/app/cases/views.py", line 12, in load
    return json.loads(raw)
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3.11/json/decoder.py", line 337, in decode
    obj, end = self.raw_decode(s, idx=_w(s, 0).end())
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"""


def dedented(text: str) -> str:
    return "\n".join(line.lstrip() for line in text.splitlines())


def found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def keys(trace: Trace) -> list[str]:
    return [f"{f.module}.{f.function}" for exc in trace.exceptions for f in exc.frames]


def test_v6_is_the_default() -> None:
    assert DEFAULT_VERSION == "v6" == Signer().version.version == Config().signature.version


def test_a_traceback_without_indentation_is_read_whole() -> None:
    trace = found(JENKINS)
    assert trace.root is not None and trace.root.type == "json.decoder.JSONDecodeError"
    assert trace.root.message == "Expecting ',' delimiter: line 1 column 777 (char 776)"
    assert keys(trace) == [
        "json.decoder.raw_decode",
        "json.decoder.decode",
        "json.loads",
        "integration.validation.get_last_audit_entry_date",
        "integration.validation.test_audit_empty_policy",
    ]


def test_it_signs_as_the_indented_traceback_does_carets_included() -> None:
    assert V6.sign(found(dedented(INDENTED))).value == V6.sign(found(INDENTED)).value


def test_versions_before_the_reader_sign_the_text_as_it_read_before() -> None:
    trace = found(JENKINS)
    assert trace.since == "v6" and trace.first_reading is not None
    assert trace.first_reading.frame_count == 1  # the parser stops at the first source line
    assert V5.sign(trace).value == V5.sign(trace.first_reading).value
    assert V6.sign(trace).title == "JSONDecodeError in validation.get_last_audit_entry_date"


def test_source_lines_like_exception_lines_are_source_before_a_frame_or_the_exception() -> None:
    """Annotated assignments read as ``Type: message``; bare words (``raise``) never do."""
    text = (
        "Traceback (most recent call last):\n"
        'File "/srv/app/jobs.py", line 3, in run\n'
        "settings: dict = load_settings()\n"
        'File "/srv/app/jobs.py", line 9, in average\n'
        "mean: float = total / count\n"
        "ZeroDivisionError: division by zero\n"
    )
    trace = found(text)
    assert trace.root is not None and trace.root.type == "ZeroDivisionError"
    assert keys(trace) == ["app.jobs.average", "app.jobs.run"]
    reraised = text.replace("mean: float = total / count", "raise").replace(
        "ZeroDivisionError: division by zero", "RuntimeError: No active exception to reraise"
    )
    assert found(reraised).root.type == "RuntimeError"  # type: ignore[union-attr]


def test_an_exception_right_under_a_frame_is_not_taken_for_its_source() -> None:
    text = (
        "Traceback (most recent call last):\n"
        'File "<frozen runpy>", line 198, in _run_module_as_main\n'
        'File "/srv/app/worker.py", line 40, in loop\n'
        "KeyboardInterrupt\n"
        "Done\n"
    )
    trace = found(text)
    assert trace.root is not None and trace.root.type == "KeyboardInterrupt"
    assert trace.frame_count == 2


def test_a_chained_traceback_without_indentation_keeps_its_chain() -> None:
    text = dedented(INDENTED) + (
        "\nDuring handling of the above exception, another exception occurred:\n\n"
        "Traceback (most recent call last):\n"
        'File "/srv/app/cases/views.py", line 20, in show\n'
        "case = load(raw)\n"
        "app.errors.CaseUnreadable: case 17 cannot be read\n"
    )
    trace = found(text)
    assert [exc.type for exc in trace.exceptions] == [
        "app.errors.CaseUnreadable",
        "json.decoder.JSONDecodeError",
    ]
    assert trace.frame_count == 4


def test_indented_tracebacks_and_prose_are_left_to_the_parser() -> None:
    assert python_dedented.read(INDENTED) is None
    assert python_dedented.read('File "notes.txt" was attached.\nsee you\n') is None
    assert not python_dedented.has_marker(INDENTED)


def html_mail(body: str) -> bytes:
    """An HTML-only mail with a line per ``<div>``, as web mail composers write typed text."""
    message = EmailMessage()
    message["From"] = "ops@customer.example"
    message["To"] = "helpdesk@example.com"
    message["Subject"] = "case page fails"
    message["Message-ID"] = "<dedented-1@customer.example>"
    lines = "".join(f"<div>{line}</div>" for line in body.splitlines())
    message.set_content(f"<html><body><div>The case page shows:</div>{lines}</body></html>", "html")
    return bytes(message)


def test_an_html_mail_without_pre_is_a_report_signed_as_its_plain_text_twin() -> None:
    report = parse_message(html_mail(INDENTED))
    assert report.kind is Kind.ERROR_REPORT
    assert report.trace is not None and report.trace.frame_count == 3
    assert V6.sign(report.trace).value == V6.sign(found(INDENTED)).value
    v5 = parse_message(html_mail(INDENTED), ParseSettings(signature_version="v5"))
    assert v5.trace is not None and V5.sign(v5.trace).value == V5.sign(report.trace).value


def test_many_frame_lines_are_read_in_bounded_time() -> None:
    text = 'File "/srv/x.py", line 1, in f\nx = 1\n' * 20_000 + "ValueError: bad\n"
    started = time.perf_counter()
    trace = python_dedented.read(text)
    assert time.perf_counter() - started < 2.0
    assert trace is not None and trace.frame_count > 0


_PIECES = st.sampled_from(
    ['File "/a/b.py", line 3, in f', "\n", "x = 1", "ValueError: bad", "raise", "^^^", "Done", " "]
)


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_reads_any_text_without_failing(text: str) -> None:
    """Whatever the pieces, a trace it reads has frames, and only where its marker is."""
    trace = python_dedented.read(text)
    if trace is not None:
        assert trace.frame_count > 0
        assert python_dedented.has_marker(text)
