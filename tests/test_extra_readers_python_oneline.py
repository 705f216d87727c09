"""Python tracebacks on one short line (``stack.extra.python_oneline``), read as mails carry
them: through ``find_trace``. The example is verbatim from ``bench/realworld``."""

from __future__ import annotations

from tests.parsers import NO_TRACE_BODY
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import python_oneline
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/python/pip-launcher-import-main@pwntools-oneline.txt
ONE_LINE = """Error log:
Traceback (most recent call last): File "/usr/bin/pip", line 9, in <module> from pip import main ImportError: cannot import name main

on executing:
$ pip install --upgrade pwntools
"""  # noqa: E501

# bench/realworld/traces/python/pip-launcher-import-main@taco-scripts.txt, as printed
PRINTED = """Traceback (most recent call last):
  File "/usr/bin/pip", line 9, in <module>
    from pip import main
ImportError: cannot import name main
"""


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_reads_a_one_frame_traceback_on_one_line() -> None:
    trace = _found(ONE_LINE)
    assert trace.language == "python"
    assert trace.frame_count == 1
    root = trace.exceptions[0]
    assert (root.type, root.message) == ("ImportError", "cannot import name main")
    assert (root.frames[0].function, root.frames[0].file) == ("<module>", "/usr/bin/pip")


def test_is_the_same_bug_as_the_printed_traceback() -> None:
    assert SIGNER.sign(_found(ONE_LINE)).value == SIGNER.sign(_found(PRINTED)).value


def test_reads_every_frame_innermost_first() -> None:
    text = (
        'Traceback (most recent call last): File "/srv/a/b.py", line 3, in <module> main() '
        'File "/srv/a/c.py", line 9, in main raise KeyError(1) KeyError: 1\n'
    )
    trace = _found(text)
    assert [f.function for f in trace.exceptions[0].frames] == ["main", "<module>"]
    assert trace.exceptions[0].type == "KeyError"


def test_a_lookalike_from_another_script_is_another_bug() -> None:
    """Another program (pip3 is pip under another name since v5: ``test_signature_v5``)."""
    lookalike = ONE_LINE.replace("/usr/bin/pip", "/usr/local/bin/pipenv")
    assert SIGNER.sign(_found(lookalike)).value != SIGNER.sign(_found(ONE_LINE)).value


def test_other_text_is_left_alone() -> None:
    assert python_oneline.read(NO_TRACE_BODY) is None
    assert python_oneline.read("Traceback (most recent call last): see the attachment\n") is None
