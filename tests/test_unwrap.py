"""Traces hidden by how they were logged or pasted are found once the wrapping is undone:
a log layout's prefix on every line, numbered lines, a whole trace on one line with escaped
line breaks (``triagebot.stack.unwrap``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from triagebot.stack.detect import find_trace
from triagebot.stack.signature import Signer
from triagebot.stack.unwrap import unwrap

SIGNER = Signer()

DATA = Path(__file__).parent / "data" / "wrapped"
EXAMPLES = {path.stem: path.read_text("utf-8") for path in sorted(DATA.glob("*.txt"))}

EXPECTED = {
    "pentaho": ("java", 5, "KettleDatabaseException in Database.openQuery"),
    "php_errorlog": ("php", 3, "Exception in Invoice.close"),
    "numbered": ("java", 4, "IndexOutOfBoundsException in ListAdapter.getItem"),
    "syslog_go": ("go", 2, "Error in (*Router).Route"),
    "json": ("javascript", 2, "TypeError in CartService.total"),
    "docker_py": ("python", 2, "KeyError in invoice.finalize"),
    # bench/realworld/traces/go/postfix-exporter-file-start-nil.txt: file lines space-indented
    "compose_go": ("go", 2, "Error in start.func"),
}


def test_every_example_has_its_expectation() -> None:
    assert EXAMPLES.keys() == EXPECTED.keys()


@pytest.mark.parametrize("name", list(EXPECTED))
def test_wrapped_trace_is_found(name: str) -> None:
    language, frames, title = EXPECTED[name]
    trace = find_trace(EXAMPLES[name])
    assert trace is not None
    assert (trace.language, trace.frame_count) == (language, frames)
    assert SIGNER.sign(trace).title == title


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_wrapping_does_not_change_the_signature(name: str) -> None:
    """The same trace logged plainly and wrapped is one bug."""
    plain = find_trace(unwrap(EXAMPLES[name]))
    wrapped = find_trace(EXAMPLES[name])
    assert plain is not None and wrapped is not None
    assert SIGNER.sign(plain).value == SIGNER.sign(wrapped).value


def test_text_without_wrapping_is_returned_as_it_is() -> None:
    text = "System.InvalidOperationException: x\n   at Acme.A.B()\n   at Acme.C.D()\n"
    assert unwrap(text) is text
    prose = "It failed at startup.\nThen it failed at login.\nSee the log at noon.\n"
    assert unwrap(prose) == prose


def test_one_prefixed_line_is_not_a_layout() -> None:
    """Two frame lines at least must share a prefix's shape before anything is stripped."""
    text = "2019-11-25 13:16:58 INFO worker started at boot\nnothing else\n"
    assert unwrap(text) == text


def test_windows_folders_starting_with_n_are_not_escaped_breaks() -> None:
    """bench/realworld/traces/js/npm-tarballtoversion-match-undefined@helix-windows.txt: an npm
    debug log prefixes every line; ``\\nodejs\\node_modules\\npm`` is a path, not three breaks."""
    text = (
        "2352 verbose stack TypeError: Cannot read property 'match' of undefined\n"
        "2352 verbose stack     at tarballToVersion (C:\\Program Files (x86)\\nodejs"
        "\\node_modules\\npm\\lib\\install\\inflate-shrinkwrap.js:87:20)\n"
        "2352 verbose stack     at inflatableChild (C:\\Program Files (x86)\\nodejs"
        "\\node_modules\\npm\\lib\\install\\inflate-shrinkwrap.js:99:22)\n"
    )
    assert "\\nodejs\\node_modules\\npm\\lib" in unwrap(text)
    trace = find_trace(text)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("javascript", 2)
    assert trace.exceptions[0].frames[0].file == (
        "C:\\Program Files (x86)\\nodejs\\node_modules\\npm\\lib\\install\\inflate-shrinkwrap.js"
    )
    escaped = "Error: x\\n    at a (C:\\\\app\\\\nightly\\\\a.js:1:2)\\n    at b (b.js:3:4)\\n"
    assert (
        unwrap(escaped) == "Error: x\n    at a (C:\\app\\nightly\\a.js:1:2)\n    at b (b.js:3:4)\n"
    )


def test_ruby_frames_after_a_log_prefix_are_found() -> None:
    """bench/realworld/traces/ruby/chaskiq-messenger-data-app-nil.txt: Heroku's and Rails' tagged
    logger prefixes on every line, frames that start with a bare path."""
    prefix = "2020-07-26T10:16:07.791097+00:00 app[web.1]: [acf816f5-3ffa-4d18-abde-717fd8c03d3a] "
    text = (
        f"{prefix}NoMethodError (undefined method `app' for nil:NilClass):\n"
        f"{prefix}app/controllers/articles_controller.rb:15:in `messenger_data'\n"
        f"{prefix}app/controllers/articles_controller.rb:7:in `show'\n"
    )
    assert unwrap(text).startswith("NoMethodError (undefined method")
    trace = find_trace(text)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("ruby", 2)
    assert trace.exceptions[0].type == "NoMethodError"
    plain = find_trace(unwrap(text))
    assert plain is not None
    assert SIGNER.sign(plain).value == SIGNER.sign(trace).value
