"""Go stacks pasted without their file lines, and often without the panic line, are read from
the goroutine header and the calls alone (``triagebot.stack.extra.go_calls_only``)."""

from __future__ import annotations

import time

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import go_calls_only
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/go/scaffold-genformstaticfile-nil.txt: the panic line stayed in the
# issue's title; the body starts at the signal line and keeps one call without its file line
SCAFFOLD = """[signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0x113e0c5]

goroutine 1 [running]:
github.com/catchplay/scaffold/scaffold.(*scaffold).genFormStaticFle.func1(0xc0000aa580, 0x3b, 0x0, 0x0, 0x12328d8, 0xc0000988a0, 0x0, 0x0)
"""  # noqa: E501
# the same crash with the panic line and a caller above, file lines still missing
WITH_PANIC = (
    "panic: runtime error: invalid memory address or nil pointer dereference\n"
    + SCAFFOLD
    + "github.com/catchplay/scaffold/scaffold.(*scaffold).Generate(0xc0000aa580)\n"
    + "created by main.main in goroutine 1\n"
)


def test_the_calls_are_the_frames_and_the_signal_the_type() -> None:
    trace = find_trace(SCAFFOLD)
    assert trace is not None and trace.language == "go"
    (panic,) = trace.exceptions
    assert (panic.type, panic.message) == (
        "signal SIGSEGV",
        "segmentation violation code=0x1 addr=0x28 pc=0x113e0c5",
    )
    assert [(f.module, f.function, f.line) for f in panic.frames] == [
        ("github.com/catchplay/scaffold/scaffold", "(*scaffold).genFormStaticFle.func1", None)
    ]
    assert SIGNER.sign(trace).in_app_frames == (
        "github.com/catchplay/scaffold/scaffold.(*scaffold).genFormStaticFle.func",
    )


def test_a_panic_line_above_gives_the_type_as_the_go_parser_does() -> None:
    trace = go_calls_only.read(WITH_PANIC)
    assert trace is not None
    (panic,) = trace.exceptions
    assert (panic.type, panic.message) == (
        "runtime.Error",
        "invalid memory address or nil pointer dereference",
    )
    assert [f.qualified for f in panic.frames] == [
        "github.com/catchplay/scaffold/scaffold.(*scaffold).genFormStaticFle.func1",
        "github.com/catchplay/scaffold/scaffold.(*scaffold).Generate",
        "main.main",
    ]


def test_a_stack_with_file_lines_is_left_to_the_go_parser() -> None:
    full = SCAFFOLD + "\t/go/src/github.com/catchplay/scaffold/scaffold/static.go:55 +0x1c5\n"
    assert go_calls_only.read(full) is None
    trace = find_trace(full)
    assert trace is not None and trace.exceptions[0].frames[0].line == 55


def test_frame_cap_and_text_without_such_a_stack() -> None:
    trace = go_calls_only.read(WITH_PANIC, max_frames=1)
    assert trace is not None and trace.frame_count == 1 and trace.dropped == 2
    assert go_calls_only.read("goroutine 1 [running]:\nthat was all we saw") is None
    assert go_calls_only.read("call main.run(1) from goroutine 5") is None


def test_long_and_repeated_input_is_read_in_linear_time() -> None:
    """Runs of calls, parentheses and headers cost CPU time in proportion to their length."""
    hostile = (
        "goroutine 1 [running]:\n"
        + "a(" * 100_000
        + "\n"
        + "main.f(0x1)\n" * 20_000
        + "a.b" * 50_000
        + "\n"
        + "goroutine 1 [" * 20_000
        + "\n"
        + "[signal SIG" * 20_000
    )
    started = time.process_time()
    go_calls_only.read(hostile)
    assert time.process_time() - started < 2.0
