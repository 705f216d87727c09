"""Traces hidden by how they were logged or pasted are found once the wrapping is undone:
a log layout's prefix on every line, numbered lines, a whole trace on one line with escaped
line breaks (``triagebot.stack.unwrap``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from triagebot.stack import detect
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


def _joined(text: str) -> str:
    """``text`` as a mail client that lost its line breaks sends it: one line."""
    return "Error report\n\n" + " ".join(row.strip() for row in text.split("\n") if row.strip())


# Short traces whose line breaks were lost: a Unity player log's single frame
# (bench/realworld/traces/dotnet/scpsl-scp049-start-nre.txt), a JVM crash in main
# (java/2006scape-server-main-npe.txt), a Node CLI's (js/pm2-cli-printlogs-pm2env-undefined@...)
LOST = {
    "unity": (
        "NullReferenceException: Object reference not set to an instance of an object\n"
        "  at Scp049PlayerScript.Start () [0x00000] in <filename unknown>:0\n",
        ("dotnet", "NullReferenceException", ("Scp049PlayerScript.Start",)),
    ),
    "java": (
        'Exception in thread "main" java.lang.NullPointerException\n'
        "\tat redone.Server.main(Server.java:161)\n",
        ("java", "java.lang.NullPointerException", ("redone.Server.main",)),
    ),
    "node": (
        "TypeError: Cannot read property 'pm2_env' of undefined\n"
        "    at printLogs (/Users/user/.nvm/versions/node/v0.12.0/lib/node_modules/pm2/lib/"
        "CLI.js:1489:25)\n",
        ("javascript", "TypeError", ()),
    ),
}


@pytest.mark.parametrize("name", list(LOST))
def test_a_short_trace_that_lost_its_line_breaks_is_read_as_it_was(name: str) -> None:
    """The same frames and the same signature as the trace with its lines."""
    text, (language, exception_type, frames) = LOST[name]
    trace, joined = find_trace(text), find_trace(_joined(text))
    assert trace is not None and joined is not None
    assert (joined.language, joined.exceptions[-1].type) == (language, exception_type)
    assert SIGNER.sign(joined).in_app_frames == frames
    assert SIGNER.sign(joined).value == SIGNER.sign(trace).value


def test_lost_breaks_are_not_put_back_in_prose() -> None:
    prose = (
        "We met at the office (2nd floor) at noon and looked at Foo.bar for a while; "
        "the error was gone at 3 pm, see you at the review (Monday)."
    )
    assert find_trace(prose) is None


# bench/realworld/traces/go/kanali-getctxmetric-concurrent-map.txt (cut): a log viewer's export,
# a date before and a column separator after every line
KIBANA = """August 3rd 2017, 19:28:27.000 fatal error: concurrent map read and map write   - 
August 3rd 2017, 19:28:27.000    - 
August 3rd 2017, 19:28:27.000 goroutine 10438 [running]:   - 
August 3rd 2017, 19:28:27.000 runtime.throw(0x2177f86, 0x21)   - 
August 3rd 2017, 19:28:27.000   /usr/local/go/src/runtime/panic.go:596 +0x95 fp=0xc421833960 sp=0xc421833940   - 
"""  # noqa: E501, W291


def test_a_separator_after_every_prefixed_line_goes_with_the_prefix() -> None:
    assert unwrap(KIBANA).split("\n")[:4] == [
        "fatal error: concurrent map read and map write",
        "",
        "goroutine 10438 [running]:",
        "runtime.throw(0x2177f86, 0x21)",
    ]
    trace = find_trace(KIBANA)
    assert trace is not None
    assert (trace.language, trace.exceptions[0].type) == ("go", "fatal error")
    assert trace.exceptions[0].message == "concurrent map read and map write"
    assert [f.qualified for f in trace.exceptions[0].frames] == ["runtime.throw"]


# bench/realworld/traces/js/npm-tarballtoversion-match-undefined@npm-20954.txt (cut): npm's
# debug log, its line number and level before every line
NPM_LOG = """19 verbose stack TypeError: Cannot read property 'match' of undefined
19 verbose stack     at tarballToVersion (/usr/local/lib/node_modules/npm/lib/install/inflate-shrinkwrap.js:87:20)
19 verbose stack     at inflatableChild (/usr/local/lib/node_modules/npm/lib/install/inflate-shrinkwrap.js:99:22)
19 verbose stack     at BB.each (/usr/local/lib/node_modules/npm/lib/install/inflate-shrinkwrap.js:55:12)
19 verbose stack From previous event:
19 verbose stack     at inflateShrinkwrap (/usr/local/lib/node_modules/npm/lib/install/inflate-shrinkwrap.js:51:13)
"""  # noqa: E501


# bench/realworld/traces/go/kanali-getctxmetric-concurrent-map.txt (cut further down than KIBANA)
KIBANA_LONG = """August 3rd 2017, 19:28:27.000 fatal error: concurrent map read and map write   - 
August 3rd 2017, 19:28:27.000    - 
August 3rd 2017, 19:28:27.000 goroutine 10438 [running]:   - 
August 3rd 2017, 19:28:27.000 runtime.throw(0x2177f86, 0x21)   - 
August 3rd 2017, 19:28:27.000   /usr/local/go/src/runtime/panic.go:596 +0x95 fp=0xc421833960 sp=0xc421833940   - 
August 3rd 2017, 19:28:27.000 runtime.mapaccess2_faststr(0x1fa0e00, 0xc420fba7e0, 0x2159ed0, 0x9, 0xc420fba7e0, 0xe7c5b0)  - 
August 3rd 2017, 19:28:27.000   /usr/local/go/src/runtime/hashmap_fast.go:326 +0x50a fp=0xc4218339c0 sp=0xc421833960   - 
August 3rd 2017, 19:28:27.000 github.com/northwesternmutual/kanali/monitor.GetCtxMetric(0x2d3b6a0, 0xc420fba840, 0x2159ed0, 0x9, 0x7, 0xa)  - 
August 3rd 2017, 19:28:27.000 github.com/northwesternmutual/kanali/cmd.glob..func1(0x2d1db40, 0xc42037a900, 0x0, 0x12)  - 
August 3rd 2017, 19:28:27.000   /go/src/github.com/northwesternmutual/kanali/monitor/metrics.go:58 +0xc4 fp=0xc421833a10 sp=0xc4218339c0  - 
August 3rd 2017, 19:28:27.000 github.com/northwesternmutual/kanali/monitor.getFields(0x2d3b6a0, 0xc420fba840, 0xc42147c480)   - 
"""  # noqa: E501, W291


@pytest.mark.parametrize("name", ["NPM_LOG", "KIBANA_LONG", "compose_go"])
def test_a_prefixed_log_that_lost_its_line_breaks_is_read_as_it_was(name: str) -> None:
    """The prefix before every frame of a joined log is where its lines started: the same
    trace and signature as the log with its lines."""
    text = {"NPM_LOG": NPM_LOG, "KIBANA_LONG": KIBANA_LONG}.get(name) or EXAMPLES[name]
    trace, joined = find_trace(text), find_trace("Time: 2026-11-25 17:04 " + _joined(text))
    assert trace is not None and joined is not None
    assert [e.type for e in joined.exceptions] == [e.type for e in trace.exceptions]
    assert joined.frame_count == trace.frame_count >= 1
    assert SIGNER.sign(joined).value == SIGNER.sign(trace).value


def test_a_joined_trace_without_a_prefix_keeps_its_frames() -> None:
    """Frames of one bundle end alike (``(main.js:1:2)``), but a location is no prefix: the
    words before the frames are left where they are."""
    text = (
        "TypeError: Cannot read properties of undefined (reading 'map') "
        + " ".join(f"at f{n} (https://shop.example/static/js/main.js:2:{n}07)" for n in range(5))
        + " at render (https://shop.example/static/js/main.js:2:999)"
    )
    assert unwrap(text) == text
    trace = find_trace(text)
    assert trace is not None and trace.frame_count == 6


# Docker's json-file log: each line of a Go panic as a JSON record
DOCKER_JSON = "\n".join(
    json.dumps({"log": line + "\n", "stream": "stderr", "time": "2026-11-27T10:00:00.1Z"})
    for line in (
        "panic: order 42 not found",
        "",
        "goroutine 1 [running]:",
        "main.(*Store).Close(0xc000010000)",
        "\t/go/src/acme/orders/store.go:88 +0x1d",
        "main.main()",
        "\t/go/src/acme/orders/main.go:12 +0x20",
    )
)


def test_json_log_records_are_read_as_the_lines_they_logged() -> None:
    assert unwrap(DOCKER_JSON).split("\n")[:3] == [
        "panic: order 42 not found",
        "",
        "goroutine 1 [running]:",
    ]
    trace = find_trace(DOCKER_JSON)
    assert trace is not None and trace.language == "go"
    assert [f.function for f in trace.exceptions[0].frames] == ["(*Store).Close", "main"]


def test_json_that_logs_no_line_is_left_as_it_is() -> None:
    text = '{"level":"info","count":3}\n{"level":"info","count":4}\n'
    assert unwrap(text) == text


def test_long_and_repeated_input_is_unwrapped_in_linear_time() -> None:
    """Runs of blanks, separators, frame markers and JSON-like lines cost CPU time in proportion
    to their length, whichever step reads them."""
    breaks = detect._BREAKS
    hostile = (
        ("x " + " " * 50_000 + "-" * 50_000 + " |" * 20_000 + "\n")
        + "p: at a.B(C.java:1) " * 20_000
        + "\n"
        + '{"log":"'
        + "\\n" * 50_000
        + '"}\n'
        + '{"a":1}\n' * 20_000
        + "2026 - at x.y(Z.java:1)   - \n" * 20_000
        + "7 verbose stack at x (a.js:1:2) 7 verbose 7 verbose " * 5_000
        + "a 1 " * 20_000
        + " 1 a at b" * 20_000
        + "\n"
    )
    started = time.process_time()
    unwrap(hostile, breaks)
    find_trace(hostile)
    assert time.process_time() - started < 5.0
