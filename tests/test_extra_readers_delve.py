"""Go stacks printed by the Delve debugger are read with the Go parser's frame keys and panic
types (``triagebot.stack.extra.delve``)."""

from __future__ import annotations

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import delve
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/go/roaster-initialize-index.txt
ROASTER = """Exception has occurred: panic "runtime error: index out of range [1] with length 1"
Stack:
\t3  0x0000000000c16509 in roaster.initialize
\t    at C:/Projects/Go/src/roaster/roaster.go:88
\t4  0x0000000000c18037 in roaster.Roast
\t    at C:/Projects/Go/src/roaster/roaster.go:238
\t5  0x0000000000c19277 in main.main
\t    at C:/Projects/Go/src/main/main.go:22
"""
# the same crash in another build and input: other counters, lines, index
ROASTER_AGAIN = (
    ROASTER.replace("[1] with length 1", "[3] with length 3")
    .replace("0x0000000000c16509", "0x0000000000c2a4f1")
    .replace("roaster.go:88", "roaster.go:91")
)
# the same panic one function further out: another bug
ROAST = ROASTER.replace("\t3  0x0000000000c16509 in roaster.initialize\n", "").replace(
    "\t    at C:/Projects/Go/src/roaster/roaster.go:88\n", ""
)


def test_delve_stack_is_a_go_trace_typed_as_the_parser_types_it() -> None:
    trace = find_trace(ROASTER)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("go", 3)
    root = trace.exceptions[0]
    assert (root.type, root.message) == ("runtime.Error", "index out of range [1] with length 1")
    assert SIGNER.sign(trace).in_app_frames == ("roaster.initialize", "roaster.Roast", "main.main")


def test_same_crash_is_one_signature_and_another_function_another() -> None:
    assert _value(ROASTER) == _value(ROASTER_AGAIN)
    assert _value(ROASTER) != _value(ROAST)


def test_stack_without_header_has_an_unknown_type_and_prose_is_not_read() -> None:
    trace = delve.read(ROASTER.partition("Stack:\n")[2])
    assert trace is not None
    assert trace.exceptions[0].type == "<unknown>"
    assert delve.read("It crashed in 0x1 of 3 runs, in roaster.go:88.\n") is None


def _value(text: str) -> str:
    trace = find_trace(text)
    assert trace is not None
    return SIGNER.sign(trace).value
