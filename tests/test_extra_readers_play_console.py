"""JVM crashes copied from the Play Console or Crashlytics are read as Java traces
(``triagebot.stack.extra.play_console``): a blank before the location, frames without "at",
frames without location."""

from __future__ import annotations

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import play_console
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/java/instabug-bug-view-ondonebutton-npe.txt (first five frames)
INSTABUG = """Exception java.lang.NullPointerException: Attempt to invoke virtual method 'boolean com.instabug.bug.model.Bug.j()' on a null object reference
com.instabug.bug.view.e.h (e.java:303)
com.instabug.bug.view.c.onDoneButtonClicked (c.java:380)
com.instabug.library.core.ui.ToolbarFragment$1.onClick (ToolbarFragment.java:44)
android.view.View.performClick (View.java:6265)
android.view.View$PerformClick.run (View.java:23764)
"""  # noqa: E501

# bench/realworld/traces/java/firebaseapp-getinstance-ise.txt (outer frames cut)
FIREBASE = """`java.lang.RuntimeException: 
  at android.app.ActivityThread.performLaunchActivity (ActivityThread.java:2927)
  at android.app.ActivityThread.-wrap14 (ActivityThread.java)
  at java.lang.reflect.Method.invoke (Native Method)
Caused by: java.lang.IllegalStateException: 
  at com.google.firebase.FirebaseApp.getInstance
  at com.google.firebase.iid.FirebaseInstanceId.getInstance
  at org.cocos2dx.cpp.AppActivity.onCreate (AppActivity.java:135)
"""  # noqa: W291


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_frames_without_at_are_read_as_a_java_trace() -> None:
    trace = _found(INSTABUG)
    assert (trace.language, trace.frame_count) == ("java", 5)
    assert trace.root is not None and trace.root.type == "java.lang.NullPointerException"
    top = trace.root.frames[0]
    assert (top.module, top.function, top.file, top.line) == (
        "com.instabug.bug.view.e",
        "h",
        "e.java",
        303,
    )


def test_frames_without_location_and_causes_are_read() -> None:
    trace = _found(FIREBASE)
    assert (trace.language, trace.frame_count) == ("java", 6)
    assert [exc.type for exc in trace.exceptions] == [
        "java.lang.RuntimeException",
        "java.lang.IllegalStateException",
    ]
    assert [f.function for f in trace.exceptions[1].frames] == [
        "getInstance",
        "getInstance",
        "onCreate",
    ]
    assert SIGNER.sign(trace).title == "IllegalStateException in AppActivity.onCreate"


def test_console_copy_and_stack_trace_of_one_crash_are_the_same_bug() -> None:
    """The frames are the JVM parser's own: the crash mailed as ``printStackTrace`` groups."""
    lines = INSTABUG.removeprefix("Exception ").split("\n")
    printed = "\n".join(
        [lines[0], *(f"\tat {line.replace(' (', '(')}" for line in lines[1:] if line)]
    )
    assert SIGNER.sign(_found(printed)).value == SIGNER.sign(_found(INSTABUG)).value


def test_another_build_is_the_same_bug() -> None:
    other = INSTABUG.replace("e.java:303", "e.java:311").replace("c.java:380", "c.java:392")
    assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(INSTABUG)).value


def test_lookalike_crash_is_another_bug() -> None:
    """Same exception and message, same caller, another failing method."""
    other = INSTABUG.replace("com.instabug.bug.view.e.h (", "com.instabug.bug.view.e.i (")
    assert SIGNER.sign(_found(other)).value != SIGNER.sign(_found(INSTABUG)).value


def test_prose_with_a_parenthesised_file_is_not_read() -> None:
    assert play_console.read("The fix is in Foo.bar (Foo.java:12), see the review.\n") is None
    no_exception = (
        "com.instabug.bug.view.e.h (e.java:303)\nandroid.os.Looper.loop (Looper.java:1)\n"
    )
    assert play_console.read(no_exception) is None


def test_copy_that_lost_its_line_breaks_is_the_same_bug() -> None:
    joined = " ".join(line.strip() for line in INSTABUG.split("\n") if line.strip())
    trace = _found(f"Error report\n\n{joined}\n")
    assert trace.frame_count == 5
    assert SIGNER.sign(trace).value == SIGNER.sign(_found(INSTABUG)).value
