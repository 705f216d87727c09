"""Windows Error Reporting's ``CLR20r3`` problem signature is read as a .NET crash: the type,
and one frame of application, assembly, method token and IL offset
(``triagebot.stack.extra.wer_clr20r3``)."""

from __future__ import annotations

import time

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import wer_clr20r3
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/dotnet/unband-clr20r3-filenotfound.txt (cut)
UNBAND = """Problem signature:
  Problem Event Name:	CLR20r3
  Problem Signature 01:	unband.exe
  Problem Signature 02:	1.0.0.0
  Problem Signature 03:	548fdf49
  Problem Signature 04:	mscorlib
  Problem Signature 05:	4.0.30319.18063
  Problem Signature 06:	526766b5
  Problem Signature 07:	26aa
  Problem Signature 08:	0
  Problem Signature 09:	System.IO.FileNotFoundException
  OS Version:	6.1.7601.2.1.0.256.1
  Locale ID:	1033
"""
# the Event Viewer's event 1001 writes the same fields as P1 ... P9
EVENT_LOG = """Fault bucket , type 0
Event Name: CLR20r3
Response: Not available
Cab Id: 0

Problem signature:
P1: unband.exe
P2: 1.0.1.0
P3: 55aa0b12
P4: mscorlib
P5: 4.0.30319.34209
P6: 534894cc
P7: 26aa
P8: 0
P9: System.IO.FileNotFoundException
P10:
"""


def test_problem_signature_gives_the_type_and_one_frame() -> None:
    trace = find_trace(UNBAND)
    assert trace is not None and trace.language == "dotnet"
    (exc,) = trace.exceptions
    assert (exc.type, exc.message) == ("System.IO.FileNotFoundException", "")
    assert [(f.module, f.function, f.line) for f in exc.frames] == [
        ("unband!mscorlib", "0x26aa", 0)
    ]


def test_event_log_fields_and_other_versions_are_the_same_bug() -> None:
    values = {SIGNER.sign(t).value for t in map(find_trace, (UNBAND, EVENT_LOG)) if t}
    assert len(values) == 1


def test_another_application_or_method_is_another_bug() -> None:
    other_app = UNBAND.replace("unband.exe", "tuner.exe")
    other_method = UNBAND.replace("26aa", "1b3c")
    values = {SIGNER.sign(t).value for t in map(find_trace, (UNBAND, other_app, other_method)) if t}
    assert len(values) == 3


def test_text_without_a_full_signature_is_not_read() -> None:
    assert wer_clr20r3.read("Problem Event Name: CLR20r3 and nothing else") is None
    assert wer_clr20r3.read(UNBAND.replace("Problem Signature 09:", "Note:")) is None
    assert wer_clr20r3.read(UNBAND.replace("CLR20r3", "APPCRASH")) is None


def test_long_and_repeated_input_is_read_in_linear_time() -> None:
    """Runs of field-like lines and blanks cost CPU time in proportion to their length."""
    hostile = "CLR20r3\n" + "P1:" * 100_000 + "\n" + " " * 200_000 + "\nP7: 1\n" * 50_000
    started = time.process_time()
    wer_clr20r3.read(hostile)
    assert time.process_time() - started < 2.0
