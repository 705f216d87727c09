"""Sentry issues exported to Markdown (exception bullets, a frame table) are read by the
language's parser, with the frames the table lists (``triagebot.stack.extra.sentry_markdown``)."""

from __future__ import annotations

import time

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import sentry_markdown
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/go/sentry-webhook-simulatepanic-goroutine.txt (the exception part)
GO = """## Stack Trace

### Exception 1
- **Type**: `*xerrors.noWrapError`
- **Value**: `goroutine panic recovered: something went horribly wrong (rand=9437)`

| File | Function | Line | Context |
|------|----------|------|---------|
| `/Users/user/code_personal/sentry_github_integration/lib/errorsim.go` | `simulatePanicInGoroutine.func1.1` | `29` | `                ch <- xerrors.Errorf("goroutine panic recovered: %v", r)`|
"""  # noqa: E501
# the same export from a JVM service, columns in another order, a cell holding "|"
JAVA = """### Exception 1
- **Type**: `java.lang.IllegalStateException`
- **Value**: `Order 42 is closed`

| Function | Line | File | Context |
|----------|------|------|---------|
| `com.acme.orders.OrderService.close` | `88` | `OrderService.java` | `if (a || b) throw ...` |
| `com.acme.orders.OrderController.post` | `31` | `OrderController.java` | `service.close(id);` |
"""


def test_go_export_is_a_go_trace() -> None:
    trace = find_trace(GO)
    assert trace is not None and trace.language == "go"
    (error,) = trace.exceptions
    assert (error.type, error.message) == (
        "*xerrors.noWrapError",
        "goroutine panic recovered: something went horribly wrong (rand=9437)",
    )
    assert [(f.module, f.function, f.line) for f in error.frames] == [
        ("lib", "simulatePanicInGoroutine.func1.1", 29)
    ]


def test_another_home_directory_is_the_same_bug() -> None:
    moved = GO.replace("/Users/user/code_personal", "/home/jdoe/work")
    first, second = find_trace(GO), find_trace(moved)
    assert first is not None and second is not None
    assert SIGNER.sign(first).value == SIGNER.sign(second).value


def test_columns_are_found_by_their_headers() -> None:
    trace = find_trace(JAVA)
    assert trace is not None and trace.language == "java"
    (error,) = trace.exceptions
    assert (error.type, error.message) == ("java.lang.IllegalStateException", "Order 42 is closed")
    assert [(f.qualified, f.line) for f in error.frames] == [
        ("com.acme.orders.OrderService.close", 88),
        ("com.acme.orders.OrderController.post", 31),
    ]


def test_a_table_without_frame_columns_is_not_read() -> None:
    table = "| File | Size |\n|---|---|\n| `a.go` | `12` |\n"
    assert sentry_markdown.read(table) is None


def test_long_and_repeated_input_is_read_in_linear_time() -> None:
    """Long rows, runs of pipes, backticks and blanks cost CPU time in proportion to their
    length."""
    header = "| File | Function | Line |\n|---|---|---|\n"
    hostile = header + ("|" * 100_000 + "`" * 100_000 + " " * 100_000 + "\n") * 3
    hostile += "| `a.go` | `f` | `1` |\n" * 20_000 + "**Type**: `" * 30_000
    started = time.process_time()
    sentry_markdown.read(hostile)
    assert time.process_time() - started < 2.0
