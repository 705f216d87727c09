"""Bugsnag's dashboard copied as text is read: the class before the middle dot, the frames as
``file:line · method``, built as the GitHub integration's (``triagebot.stack.extra.
bugsnag_dashboard``)."""

from __future__ import annotations

import time

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import bugsnag_dashboard
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/java/glpi-httpinventory-run-npe.txt
GLPI = """java.lang.NullPointerException \u00b7LauncherAttempt to invoke virtual method 'java.lang.String java.net.URL.toExternalForm()' on a null object reference
--

HttpInventory.java:160 \u00b7 org.flyve.inventory.agent.utils.HttpInventory$1.run
"""  # noqa: E501


def test_class_message_and_frames_are_read() -> None:
    trace = find_trace(GLPI)
    assert trace is not None and trace.language == "java"
    (exc,) = trace.exceptions
    assert exc.type == "java.lang.NullPointerException"
    assert exc.message.startswith("LauncherAttempt to invoke virtual method")
    assert [(f.module, f.function, f.file, f.line) for f in exc.frames] == [
        ("org.flyve.inventory.agent.utils.HttpInventory$1", "run", "HttpInventory.java", 160)
    ]


def test_a_copy_that_lost_its_line_breaks_is_the_same_bug() -> None:
    joined = " ".join(line.strip() for line in GLPI.split("\n") if line.strip())
    values = {
        SIGNER.sign(t).value for t in map(find_trace, (GLPI, f"Error report\n\n{joined}")) if t
    }
    assert len(values) == 1


def test_several_frames_are_read_in_order_and_capped() -> None:
    more = GLPI + "Thread.java:818 \u00b7 java.lang.Thread.run\n"
    trace = bugsnag_dashboard.read(more)
    assert trace is not None
    assert [f.qualified for f in trace.exceptions[0].frames] == [
        "org.flyve.inventory.agent.utils.HttpInventory$1.run",
        "java.lang.Thread.run",
    ]
    capped = bugsnag_dashboard.read(more, max_frames=1)
    assert capped is not None and capped.frame_count == 1


def test_text_without_dashboard_frames_is_not_read() -> None:
    assert bugsnag_dashboard.read("Prices \u00b7 Terms \u00b7 Privacy") is None
    assert bugsnag_dashboard.read(GLPI.split("--", maxsplit=1)[0]) is None


def test_long_and_repeated_input_is_read_in_linear_time() -> None:
    """Many headers far above one frame, and runs of separators, cost linear CPU time."""
    hostile = (
        "a.B \u00b7x\n" * 30_000
        + "- " * 100_000
        + "a:1 \u00b7 " * 30_000
        + "\nA.java:1 \u00b7 a.B.c\n"
    )
    started = time.process_time()
    bugsnag_dashboard.read(hostile)
    assert time.process_time() - started < 2.0
