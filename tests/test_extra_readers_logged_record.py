"""An exception an application's logger wrote at an error level, with no frame and no location,
is read as that exception alone and marked with its level
(``triagebot.stack.extra.logged_record``)."""

from __future__ import annotations

import time

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import logged_record
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/php/vatsim-account-list-first-on-null.txt
LARAVEL = (
    "production.ERROR: exception 'Symfony\\Component\\Debug\\Exception\\FatalErrorException' "
    "with message 'Call to a member function first() on null'\n"
)
# bench/realworld/traces/ruby/heimdall-evaluations-findings-includes-nil.txt (cut): Rails tagged
# log cut inside the template excerpt, before the frames
RAILS = """I, [2019-08-15T15:10:54.716826 #1]  INFO -- : [e964437f-f02d-4e43-933e-e154c3558739] Completed 500 Internal Server Error in 2319ms (ActiveRecord: 500.3ms)
F, [2019-08-15T15:10:54.717407 #1] FATAL -- : [e964437f-f02d-4e43-933e-e154c3558739]   
F, [2019-08-15T15:10:54.717460 #1] FATAL -- : [e964437f-f02d-4e43-933e-e154c3558739] ActionView::Template::Error (undefined method `includes' for nil:NilClass):
F, [2019-08-15T15:10:54.717626 #1] FATAL -- : [e964437f-f02d-4e43-933e-e154c3558739]     62:                       <td>
[e964437f-f02d-4e43-933e-e154c3558739]     63:                         <table id="message_counts" class="cn-msg-table">
"""  # noqa: E501, W291


def test_laravel_record_is_the_exception_at_its_level() -> None:
    trace = find_trace(LARAVEL)
    assert trace is not None and trace.language == "php"
    (exc,) = trace.exceptions
    assert exc.type == "Symfony\\Component\\Debug\\Exception\\FatalErrorException"
    assert exc.message == "Call to a member function first() on null"
    assert (exc.frames, trace.logged_at) == ((), "ERROR")
    assert SIGNER.sign(trace).basis == "message"


def test_rails_fatal_record_is_the_exception_at_its_level() -> None:
    trace = find_trace(RAILS)
    assert trace is not None and trace.language == "ruby"
    (exc,) = trace.exceptions
    assert (exc.type, exc.message) == (
        "ActionView::Template::Error",
        "undefined method `includes' for nil:NilClass",
    )
    assert (exc.frames, trace.logged_at) == ((), "FATAL")


def test_same_record_at_another_time_is_the_same_bug_another_message_another() -> None:
    later = RAILS.replace("15:10:54", "16:02:11").replace("e964437f", "0a1b2c3d")
    other = RAILS.replace("`includes'", "`findings'")
    values = [SIGNER.sign(t).value for t in map(find_trace, (RAILS, later, other)) if t]
    assert values[0] == values[1] != values[2]


def test_records_below_an_error_level_or_with_frames_are_not_read() -> None:
    assert logged_record.read(LARAVEL.replace(".ERROR:", ".INFO:")) is None
    assert logged_record.read(RAILS.replace("FATAL --", "INFO --")) is None
    located = LARAVEL.rstrip("\n") + " in /var/www/app/Http/Controllers/A.php:12\n"
    assert logged_record.read(located) is None


def test_long_and_repeated_input_is_read_in_linear_time() -> None:
    """Runs of channel-like tokens, tags and quotes cost CPU time in proportion to their length."""
    hostile = (
        "a." * 100_000
        + ": exception '"
        + "a" * 100_000
        + "' with message '"
        + "'" * 100_000
        + "\nFATAL -- : "
        + "[a] " * 50_000
        + "A::B (" * 20_000
    )
    started = time.process_time()
    logged_record.read(hostile)
    assert time.process_time() - started < 2.0
