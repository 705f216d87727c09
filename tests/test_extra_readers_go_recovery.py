"""Go panics recovered by web frameworks (Macaron, Martini, Gin) are read as Go traces: frames
``file:line (0xPC)`` keyed by package and function, whatever log prefix each line carries
(``triagebot.stack.extra.go_recovery``)."""

from __future__ import annotations

import time

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import go_recovery
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/go/mottainai-arangodb-task-nil-map.txt (cut): syslog prefix, Macaron's
# recovery without function lines (the source files were not readable)
MACARON = """Feb 26 07:08:28 mottainai-server mottainai-server[13880]: [Macaron] PANIC: assignment to entry in nil map
Feb 26 07:08:28 mottainai-server mottainai-server[13880]: /usr/lib/go/src/runtime/map_faststr.go:204 (0x4144ac)
Feb 26 07:08:28 mottainai-server mottainai-server[13880]: /luetbuild/go/src/github.com/MottainaiCI/mottainai-server/pkg/db/arangodb/arangodb.go:260 (0x1c6a8e4)
Feb 26 07:08:28 mottainai-server mottainai-server[13880]: /luetbuild/go/src/github.com/MottainaiCI/mottainai-server/pkg/db/arangodb/task.go:86 (0x1c74fe4)
Feb 26 07:08:28 mottainai-server mottainai-server[13880]: /luetbuild/go/src/github.com/MottainaiCI/mottainai-server/routes/api/tasks/update.go:151 (0x1dc3e0d)
Feb 26 07:08:28 mottainai-server mottainai-server[13880]: /usr/lib/go/src/reflect/value.go:476 (0x4d6546)
"""  # noqa: E501
# Gin's recovery middleware: the error on the line above the stack, a function line per frame
GIN = """[Recovery] 2020/04/10 - 10:00:00 panic recovered:
runtime error: invalid memory address or nil pointer dereference
/usr/local/go/src/runtime/panic.go:199 (0x44a1c2)
\tpanicmem: panic(memoryError)
/usr/local/go/src/runtime/signal_unix.go:394 (0x44a1b2)
\tsigpanic: panicmem()
/go/src/github.com/acme/api/handlers/user.go:55 (0x8c1f2e)
\t(*UserHandler).Get: name := h.db.Find(id).Name
/root/go/pkg/mod/github.com/gin-gonic/gin@v1.6.2/context.go:161 (0x8a9c39)
\t(*Context).Next: c.handlers[c.index](c)
"""


def test_macaron_panic_behind_a_syslog_prefix() -> None:
    trace = find_trace(MACARON)
    assert trace is not None and trace.language == "go"
    (panic,) = trace.exceptions
    assert (panic.type, panic.message) == ("panic", "assignment to entry in nil map")
    assert [f.module for f in panic.frames][:3] == [
        "runtime",
        "github.com/MottainaiCI/mottainai-server/pkg/db/arangodb",
        "github.com/MottainaiCI/mottainai-server/pkg/db/arangodb",
    ]
    assert [f.function for f in panic.frames][:3] == ["map_faststr.go", "arangodb.go", "task.go"]
    assert panic.frames[1].line == 260
    signature = SIGNER.sign(trace)
    assert signature.in_app_frames[0] == (
        "github.com/MottainaiCI/mottainai-server/pkg/db/arangodb.arangodb.go"
    )


def test_gin_function_lines_give_the_runtime_keys() -> None:
    trace = find_trace(GIN)
    assert trace is not None
    (panic,) = trace.exceptions
    assert (panic.type, panic.message) == (
        "runtime.Error",
        "invalid memory address or nil pointer dereference",
    )
    assert [f.qualified for f in panic.frames] == [
        "runtime.panicmem",
        "runtime.sigpanic",
        "github.com/acme/api/handlers.(*UserHandler).Get",
        "github.com/gin-gonic/gin.(*Context).Next",
    ]
    assert SIGNER.sign(trace).in_app_frames == ("github.com/acme/api/handlers.(*UserHandler).Get",)


def test_another_prefix_and_other_addresses_are_the_same_bug() -> None:
    plain = MACARON.replace("Feb 26 07:08:28 mottainai-server mottainai-server[13880]: ", "")
    moved = MACARON.replace("(0x1c74fe4)", "(0x1d00000)").replace(":260 ", ":262 ")
    values = {SIGNER.sign(t).value for t in map(find_trace, (MACARON, plain, moved)) if t}
    assert len(values) == 1


def test_frame_cap_keeps_the_innermost_calls() -> None:
    trace = go_recovery.read(GIN, max_frames=2)
    assert trace is not None
    assert [f.function for f in trace.exceptions[0].frames] == ["panicmem", "sigpanic"]
    assert trace.dropped == 2


def test_text_without_such_a_stack_is_not_read() -> None:
    assert go_recovery.read("see /srv/app/main.go:12 (0x4) in the log, line 3\nthanks") is None
    assert go_recovery.read("PANIC: nothing below") is None


def test_long_and_repeated_input_is_read_in_linear_time() -> None:
    """Runs of blanks, slashes and frame-like lines cost CPU time in proportion to their length."""
    hostile = (
        " " * 200_000
        + "\t" * 100_000
        + "/" * 200_000
        + "a:/b" * 50_000
        + "/x.go:1 (0x1)\n" * 20_000
        + "p: \t  " * 30_000
        + "(0x" * 50_000
    )
    started = time.process_time()
    go_recovery.read(hostile)
    assert time.process_time() - started < 2.0
