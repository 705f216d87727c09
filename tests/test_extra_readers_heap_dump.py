"""Thread stacks from heap-dump analysers are read as Java traces
(``triagebot.stack.extra.heap_dump``): JVM descriptors dropped, the throwable's constructor on
top names the exception."""

from __future__ import annotations

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import heap_dump
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/java/pulsar-cloudstorage-formatter-oom.txt (first six frames)
OOM = """Complete stack trace for the OOM is: 
`  at java.lang.OutOfMemoryError.<init>()V (OutOfMemoryError.java:48)
  at java.util.Arrays.copyOf([CI)[C (Arrays.java:3332)
  at java.lang.AbstractStringBuilder.ensureCapacityInternal(I)V (AbstractStringBuilder.java:124)
  at java.lang.AbstractStringBuilder.append(Ljava/lang/String;)Ljava/lang/AbstractStringBuilder; (AbstractStringBuilder.java:448)
  at java.lang.StringBuilder.append(Ljava/lang/String;)Ljava/lang/StringBuilder; (StringBuilder.java:136)
  at java.util.Formatter$FormatSpecifier.print(Ljava/lang/String;)V (Formatter.java:2913)
"""  # noqa: E501, W291


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_stack_is_read_as_a_java_trace_of_the_throwable_on_top() -> None:
    trace = _found(OOM)
    assert (trace.language, trace.frame_count) == ("java", 5)
    assert trace.root is not None and trace.root.type == "java.lang.OutOfMemoryError"
    top = trace.root.frames[0]
    assert (top.module, top.function, top.file, top.line) == (
        "java.util.Arrays",
        "copyOf",
        "Arrays.java",
        3332,
    )


def test_stack_and_stack_trace_of_one_error_are_the_same_bug() -> None:
    """``printStackTrace`` never prints the constructor frames; the frames below are the same."""
    printed = (
        "java.lang.OutOfMemoryError\n"
        "\tat java.util.Arrays.copyOf(Arrays.java:3332)\n"
        "\tat java.lang.AbstractStringBuilder.ensureCapacityInternal"
        "(AbstractStringBuilder.java:124)\n"
        "\tat java.lang.AbstractStringBuilder.append(AbstractStringBuilder.java:448)\n"
        "\tat java.lang.StringBuilder.append(StringBuilder.java:136)\n"
        "\tat java.util.Formatter$FormatSpecifier.print(Formatter.java:2913)\n"
    )
    assert SIGNER.sign(_found(printed)).value == SIGNER.sign(_found(OOM)).value


def test_another_jdk_build_is_the_same_bug() -> None:
    other = OOM.replace("Arrays.java:3332", "Arrays.java:3537").replace(":2913)", ":2919)")
    assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(OOM)).value


def test_lookalike_is_another_bug() -> None:
    """Out of memory in the same copy, reached from another caller."""
    other = OOM.replace("java.util.Formatter$FormatSpecifier.print", "java.util.HashMap.resize")
    assert SIGNER.sign(_found(other)).value != SIGNER.sign(_found(OOM)).value


def test_stack_without_a_throwable_is_not_read() -> None:
    without = "\n".join(line for line in OOM.split("\n") if "<init>" not in line)
    assert heap_dump.read(without) is None
    assert heap_dump.read("at a.B.c(Foo.java:1) and ()V (x)\n") is None
