"""Readers for trace formats no language parser reads: error-tracker exports, crash-reporter
layouts, one-line error logs. They run only on the second reading (``detect.find_trace``),
when the parsers found no trace or almost none; signature versions older than v2 sign the
first reading, so what they stored never changes (a reader added later needs a new signature
version the same way). Each reader is ``read(text, max_frames) -> Trace | None`` in its own
module, with the cheap test ``has_marker`` that is false only where it finds nothing; both make
its ``READER``, and a new one is one line in ``READERS``.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
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
    python_cut,
    python_dedented,
    python_oneline,
    rails_template,
    react_overlay,
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
#: The extra readers, tried in order on the unwrapped text (the richest trace wins), each only
#: where its marker is.
READERS: tuple[Reader, ...] = (
    appcenter.READER,
    bugsnag.READER,
    bugsnag_dashboard.READER,
    bugsnag_payload.READER,
    heap_dump.READER,
    play_console.READER,
    ruby_trackers.READER,
    rails_template.READER,
    js_console.READER,
    js_pretty.READER,
    react_overlay.READER,
    jupyter.READER,
    lambda_json.READER,
    python_oneline.READER,
    python_cut.READER,
    python_dedented.READER,
    php_error_line.READER,
    go_c_frames.READER,
    delve.READER,
    go_debug_stack.READER,
    go_recovery.READER,
    go_calls_only.READER,
    php_json.READER,
    sentry_markdown.READER,
    simplesamlphp.READER,
    xdebug.READER,
    wer_clr20r3.READER,
    tracker_unresolved.READER,
    logged_record.READER,
)
