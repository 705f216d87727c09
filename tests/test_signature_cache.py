"""A signer judges each distinct frame once and reuses the judgement for the same frame in
later traces (line numbers left out: every build shifts them). The reuse must never change a
signature: a frame whose judgement reads more than its names (a .NET runtime wrapper, which
only its printed line shows; a JavaScript frame without a line, a builtin) is another frame."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.signature import Signer


def trace(language: str, *frames: Frame) -> Trace:
    return Trace(language, (ExceptionInfo("System.InvalidOperationException", "boom", frames),))


def signed_alone(t: Trace) -> str:
    return Signer().sign(t).value


APP = Frame("Acme.Cases.CaseViewModel", "Load", "CaseViewModel.cs", 42, "at Acme...:line 42")
WRAPPER = Frame(
    "Acme.Cases.CaseViewModel",
    "Load",
    "CaseViewModel.cs",
    42,
    "(wrapper managed-to-native) Acme.Cases.CaseViewModel:Load",
)
JS_SOURCE = Frame(
    "", "render", "/app/static/js/main.js", 10, "at render (/app/static/js/main.js:10:3)"
)
JS_BUILTIN = Frame(
    "", "render", "/app/static/js/main.js", None, "at render (/app/static/js/main.js)"
)


SHELL = Frame(
    "Acme.Cases.Shell", "Open", "Shell.cs", 7, "at Acme.Cases.Shell.Open() in Shell.cs:line 7"
)


def test_a_runtime_wrapper_is_not_taken_for_the_method_of_the_same_name() -> None:
    """The wrapper is skipped; judged first, its judgement must not skip the method."""
    signer = Signer()
    first, second = trace("dotnet", WRAPPER, SHELL), trace("dotnet", APP, SHELL)
    assert signer.sign(first).value == signed_alone(first)
    assert signer.sign(second).value == signed_alone(second)
    assert signed_alone(first) != signed_alone(second)


def test_a_frame_without_a_line_is_not_taken_for_one_with_a_line() -> None:
    """A frame without a line is a builtin, skipped; the same names with a line count."""
    signer = Signer()
    first, second = trace("javascript", JS_BUILTIN), trace("javascript", JS_SOURCE)
    assert signer.sign(first).value == signed_alone(first)
    assert signer.sign(second).value == signed_alone(second)
    assert signed_alone(first) != signed_alone(second)


@settings(max_examples=50, deadline=None)
@given(lines=st.lists(st.integers(min_value=1, max_value=10**6), min_size=2, max_size=6))
def test_the_same_frames_on_other_lines_sign_the_same_reused_or_not(lines: list[int]) -> None:
    signer = Signer()
    for line in lines:
        moved = trace(
            "dotnet",
            Frame("Acme.Cases.CaseViewModel", "Load", "CaseViewModel.cs", line, f"at ...:{line}"),
            Frame("Acme.Cases.Shell", "Open", "Shell.cs", line + 7, f"at ...:{line + 7}"),
        )
        assert signer.sign(moved).value == signed_alone(moved)
