"""Bugsnag and Rollbar issues whose every frame the tracker could not resolve are reports,
grouped by type and message: their frames are read as unresolved and signing skips them
(``triagebot.stack.extra.tracker_unresolved``)."""

from __future__ import annotations

import time

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import tracker_unresolved
from triagebot.stack.model import UNKNOWN_TYPE, UNRESOLVED_FUNCTION
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/java/frost-jobcancellation-unknown-method.txt (cut)
FROST = """## Error in Frost for Facebook

**kotlinx.coroutines.JobCancellationException** in **unknown method:0**
Job was cancelled

[View on Bugsnag](https://app.bugsnag.com/pitched-apps/frost-for-facebook/errors/5c2c59cbc4352500198a983d?event_id=5c2c59cb0031fc0ed5ec0000&i=gh&m=ci)

## Stacktrace

    unknown file:0 - unknown method

*Created automatically via Bugsnag*
"""
# bench/realworld/traces/js/rollbar-unknown-script-error.txt
ROLLBAR = """View details in Rollbar: [https://rollbar.com/fixate.io/testproject/items/49/](https://rollbar.com/fixate.io/testproject/items/49/)

```

(unknown): Script error.
  File "(unknown)", line unknown, in [anonymous]
```
"""


def test_bugsnag_unknown_method_is_an_unresolved_frame() -> None:
    trace = find_trace(FROST)
    assert trace is not None
    (exc,) = trace.exceptions
    assert (exc.type, exc.message) == (
        "kotlinx.coroutines.JobCancellationException",
        "Job was cancelled",
    )
    assert [f.function for f in exc.frames] == [UNRESOLVED_FUNCTION]
    signature = SIGNER.sign(trace)
    assert (signature.basis, signature.in_app_frames) == ("message", ())


def test_rollbar_unknown_file_is_an_unresolved_frame() -> None:
    trace = find_trace(ROLLBAR)
    assert trace is not None
    (exc,) = trace.exceptions
    assert (exc.type, exc.message) == (UNKNOWN_TYPE, "Script error.")
    assert [(f.function, f.raw) for f in exc.frames] == [
        (UNRESOLVED_FUNCTION, 'File "(unknown)", line unknown, in [anonymous]')
    ]


def test_messages_tell_unresolved_reports_apart() -> None:
    other = FROST.replace("Job was cancelled", "Parent job is Cancelling")
    values = {SIGNER.sign(t).value for t in map(find_trace, (FROST, other)) if t}
    assert len(values) == 2


def test_a_resolved_frame_is_left_to_the_other_readers() -> None:
    resolved = FROST.replace(
        "    unknown file:0 - unknown method\n",
        "    unknown file:0 - unknown method\n    Job.kt:12 - com.acme.Job.run\n",
    )
    assert tracker_unresolved.read(resolved) is None
    assert tracker_unresolved.read(ROLLBAR.replace("(unknown): Script error.", "")) is None


def test_long_and_repeated_input_is_read_in_linear_time() -> None:
    """Runs of frame-like lines, colons and blanks cost CPU time in proportion to their length."""
    hostile = (
        "a:" * 100_000
        + "\n"
        + '  File "(unknown)", line unknown\n' * 20_000
        + " " * 200_000
        + "## Stacktrace\n"
        + "unknown method - " * 20_000
    )
    started = time.process_time()
    tracker_unresolved.read(hostile)
    assert time.process_time() - started < 2.0
