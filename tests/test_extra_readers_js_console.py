"""JavaScript stacks without columns (``stack.extra.js_console``), read as mails carry them:
through ``find_trace``. Examples are verbatim excerpts of ``bench/realworld``."""

from __future__ import annotations

from tests.parsers import NO_TRACE_BODY
from triagebot.stack import js
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import js_console
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/js/flvjs-native-player-addeventlistener-null.txt
CHROME = """native-player.js:89 Uncaught TypeError: Cannot read property 'addEventListener' of null
    at e.value (native-player.js:89)
    at index.html:18
value @ native-player.js:89
(anonymous) @ index.html:18
"""

# bench/realworld/traces/js/zone-long-stack-trace-creation-trace.txt
ZONE = """zone.js:655 Unhandled Promise rejection: Cannot create property '__creationTrace__' on string '__zone_symbol__optimizedZoneEventTask' ; Zone: <root> ; Task: Promise.then ; Value: TypeError: Cannot create property '__creationTrace__' on string '__zone_symbol__optimizedZoneEventTask'
    at Object.onScheduleTask (long-stack-trace-zone.js:115)
    at ZoneDelegate.scheduleTask (zone.js:404)
    at Object.onScheduleTask (zone.js:300)
    at ZoneDelegate.scheduleTask (zone.js:404)
    at Zone.scheduleTask (zone.js:235)
    at Zone.scheduleEventTask (zone.js:261)
    at HTMLElement.addEventListener (zone.js:1561)
    at DomEventsPlugin.addEventListener (dom_events.ts:37)
    at EventManager.addEventListener (event_manager.ts:32)
    at DefaultDomRenderer2.listen (dom_renderer.ts:113)
"""  # noqa: E501


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


class TestChromeConsole:
    def test_reads_frames_without_column_and_the_uncaught_header(self) -> None:
        trace = _found(CHROME)
        assert trace.language == "javascript"
        assert trace.frame_count == 2
        root = trace.exceptions[0]
        assert (root.type, root.message) == (
            "TypeError",
            "Cannot read property 'addEventListener' of null",
        )
        assert [(f.function, f.file, f.line) for f in root.frames] == [
            ("e.value", "native-player.js", 89),
            ("", "index.html", 18),
        ]

    def test_frames_key_as_the_js_parser_keys_them(self) -> None:
        parsed = js.parse("TypeError: x\n    at e.value (native-player.js:89:12)")
        assert parsed is not None
        key = js.normalize_frame(_found(CHROME).exceptions[0].frames[0]).key
        assert key == js.normalize_frame(parsed.exceptions[0].frames[0]).key

    def test_another_occurrence_is_the_same_bug(self) -> None:
        other = CHROME.replace(":89", ":91").replace("html:18", "html:23")
        assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(CHROME)).value

    def test_a_lookalike_on_another_element_is_another_bug(self) -> None:
        # bench/realworld/traces/js/puppertino-modals-addeventlistener-null.txt: same message
        lookalike = CHROME.replace("e.value (native-player.js", "openModal (modals.js")
        assert SIGNER.sign(_found(lookalike)).value != SIGNER.sign(_found(CHROME)).value


def test_zone_long_stack_reads_the_value_after_the_zone_summary() -> None:
    trace = _found(ZONE)
    assert trace.language == "javascript"
    assert trace.frame_count == 10
    assert trace.exceptions[0].type == "TypeError"
    assert trace.exceptions[0].frames[-1].file == "dom_renderer.ts"


def test_a_text_that_gave_a_bare_reading_keeps_it_for_v1() -> None:
    """``TypeError: x`` alone on its line was read, and signed, as a bare exception line: v2
    signs the reader's frames, v1 that first reading."""
    text = "TypeError: Cannot read property 'update' of undefined\n    at e.update (m.js:5)\n"
    assert js_console.read(text) is not None
    trace = find_trace(text)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("javascript", 1)
    first = trace.first_reading
    assert first is not None and (first.language, first.frame_count) == ("unknown", 0)
    assert Signer("v1").sign(trace).value == Signer("v1").sign(first).value


def test_located_columns_prose_and_other_languages_are_left_alone() -> None:
    assert js_console.read(NO_TRACE_BODY) is None
    assert (
        js_console.read("x.js:1 Uncaught Error: y\n    at f (a.js:1:2)\n    at g (b.js:3:4)\n")
        is None
    )
    assert js_console.read("x Error: y\n    at com.acme.A.b(A.java:12)\n") is None
    assert js_console.read("Meeting at 10:30\nat noon:12\n") is None
