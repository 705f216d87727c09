"""Readers for trace formats no language parser reads: error-tracker exports, crash-reporter
layouts, one-line error logs. They run only on the second reading (``detect.find_trace``),
when the parsers found no trace or almost none; signature versions older than v2 sign the
first reading, so what they stored never changes (a reader added later needs a new signature
version the same way). Each reader is ``read(text, max_frames) -> Trace | None`` in its own
module; a new one is one line in ``READERS``.
"""

from __future__ import annotations

import re

from triagebot.stack import TraceParser
from triagebot.stack.extra import (
    appcenter,
    bugsnag,
    bugsnag_dashboard,
    bugsnag_payload,
    delve,
    go_c_frames,
    go_calls_only,
    go_debug_stack,
    go_recovery,
    heap_dump,
    js_console,
    js_pretty,
    jupyter,
    lambda_json,
    logged_record,
    php_error_line,
    php_json,
    play_console,
    python_oneline,
    rails_template,
    ruby_trackers,
    sentry_markdown,
    simplesamlphp,
    tracker_unresolved,
    wer_clr20r3,
    xdebug,
)

#: Where the exports these readers read get lost line breaks back (``detect.find_trace``'s
#: last reading), tried before the languages' own.
BREAKS: tuple[re.Pattern[str], ...] = (ruby_trackers.BREAKS,)
#: The extra readers, tried in order on the unwrapped text (the richest trace wins).
READERS: tuple[TraceParser, ...] = (
    appcenter.read,
    bugsnag.read,
    bugsnag_dashboard.read,
    bugsnag_payload.read,
    heap_dump.read,
    play_console.read,
    ruby_trackers.read,
    rails_template.read,
    js_console.read,
    js_pretty.read,
    jupyter.read,
    lambda_json.read,
    python_oneline.read,
    php_error_line.read,
    go_c_frames.read,
    delve.read,
    go_debug_stack.read,
    go_recovery.read,
    go_calls_only.read,
    php_json.read,
    sentry_markdown.read,
    simplesamlphp.read,
    xdebug.read,
    wer_clr20r3.read,
    tracker_unresolved.read,
    logged_record.read,
)
