"""Signature v2 on parsed traces: the innermost five in-app frames identify a bug, and a trace
whose only in-app frame is an entry point is told apart by its message and library frames."""

from __future__ import annotations

from triagebot.stack.detect import find_trace
from triagebot.stack.signature import Signer

V1, V2 = Signer("v1"), Signer("v2")

# Two different panics whose only in-app frame is main.main (the shape of the merge seen on
# real reports: "Error in main.main" for four bugs).
INDEX_PANIC = """panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.main()
\t/home/user/tool/main.go:{line} +0x1d
exit status 2
"""
NIL_PANIC = """panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x47e0b1]

goroutine 1 [running]:
main.main()
\t/home/user/tool/main.go:{line} +0x31
exit status 2
"""
JSON_PANIC = """panic: json: cannot unmarshal string into Go value of type int

goroutine 1 [running]:
encoding/json.(*decodeState).unmarshal(0xc000104000, {0x4f5e60, 0xc00001c0a8})
\t/usr/local/go/src/encoding/json/decode.go:178 +0x1c5
encoding/json.Unmarshal({0xc000122000, 0x1a, 0x200}, {0x4f5e60, 0xc00001c0a8})
\t/usr/local/go/src/encoding/json/decode.go:108 +0x1b8
main.main()
\t/home/user/tool/main.go:{line} +0x65
"""


def at(text: str, line: int) -> str:
    return text.replace("{line}", str(line))


def sign(signer: Signer, text: str) -> str:
    trace = find_trace(text)
    assert trace is not None and trace.frame_count, text
    return signer.sign(trace).value


def test_entry_point_only_traces_of_different_bugs_differ() -> None:
    index, nil, json_ = at(INDEX_PANIC, 12), at(NIL_PANIC, 12), at(JSON_PANIC, 12)
    assert sign(V1, index) == sign(V1, nil)  # v1 filed both as one defect
    assert len({sign(V2, index), sign(V2, nil), sign(V2, json_)}) == 3


def test_entry_point_only_traces_of_one_bug_still_group() -> None:
    """Line numbers, addresses and the message's numbers vary; the bug is the same."""
    other = at(INDEX_PANIC, 40).replace("[5] with length 3", "[9] with length 2")
    assert sign(V2, at(INDEX_PANIC, 12)) == sign(V2, other)
    signature = V2.sign(find_trace(at(INDEX_PANIC, 12)))  # type: ignore[arg-type]
    assert signature.basis == "entry-point"
    assert signature.title == "Error in main.main: index out of range [<n>] with length <n>"


JAVA_FULL = """java.lang.IllegalStateException: Order 4711 has no lines
\tat com.acme.shop.order.OrderTotals.sum(OrderTotals.java:88)
\tat com.acme.shop.order.OrderTotals.compute(OrderTotals.java:41)
\tat com.acme.shop.order.OrderService.close(OrderService.java:120)
\tat com.acme.shop.order.OrderService.checkout(OrderService.java:97)
\tat com.acme.shop.web.CheckoutController.post(CheckoutController.java:55)
\tat com.acme.shop.web.CheckoutController$$FastClassBySpringCGLIB$$1.invoke(<generated>)
\tat com.acme.shop.web.filters.AuditFilter.doFilter(AuditFilter.java:31)
\tat com.acme.shop.web.filters.TenantFilter.doFilter(TenantFilter.java:22)
\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)
"""


def test_a_trace_cut_at_its_outer_end_keeps_its_signature() -> None:
    """Reporters shorten long traces: the innermost in-app frames are what identify the bug."""
    lines = JAVA_FULL.splitlines()
    cut = "\n".join(lines[:7]) + "\n\t... 12 more\n"
    assert sign(V1, JAVA_FULL) != sign(V1, cut)  # v1 split these
    assert sign(V2, JAVA_FULL) == sign(V2, cut)


def test_another_failing_function_is_another_bug() -> None:
    other = JAVA_FULL.replace("OrderTotals.sum(", "OrderTotals.average(")
    assert sign(V2, JAVA_FULL) != sign(V2, other)


def test_a_title_always_names_what_is_known() -> None:
    trace = find_trace(at(INDEX_PANIC, 3))
    assert trace is not None
    title = V2.sign(trace).title
    assert title and not title.startswith(" ")
    assert "index out of range" in title


ANDROID = (
    (
        "java.lang.RuntimeException: Unable to start activity"
        " ComponentInfo{{{app}/{app}.MainActivity}}: java.lang.NullPointerException\n"
    )
    + """\tat android.app.ActivityThread.performLaunchActivity(ActivityThread.java:{line})
\tat android.app.ActivityThread.handleLaunchActivity(ActivityThread.java:2476)
\tat android.os.Handler.dispatchMessage(Handler.java:102)
\tat android.os.Looper.loop(Looper.java:154)
\tat java.lang.reflect.Method.invoke(Native Method)
Caused by: java.lang.NullPointerException
\tat android.app.Activity.findViewById(Activity.java:2323)
\tat android.app.Instrumentation.callActivityOnCreate(Instrumentation.java:1119)
"""
)


def test_framework_only_traces_of_two_apps_differ() -> None:
    """Every frame is the framework's: the message names which app's activity failed."""
    pubg = ANDROID.format(app="com.pubg.companion", line=2416)
    again = ANDROID.format(app="com.pubg.companion", line=2665)
    tour = ANDROID.format(app="com.tourinfo.app", line=2416)
    assert sign(V1, pubg) == sign(V1, tour)  # v1 filed both as one defect
    assert sign(V2, pubg) == sign(V2, again)
    assert sign(V2, pubg) != sign(V2, tour)


def test_entry_points_of_two_programs_differ() -> None:
    """The same nil dereference in two programs' ``main.main``: their source folders differ."""
    one = at(NIL_PANIC, 12)
    other = one.replace("/home/user/tool/main.go", "/src/github.com/x/mhsendmail/main.go")
    assert sign(V2, one) != sign(V2, other)
    moved = one.replace("/home/user/tool/main.go", "/build/agent7/tool/main.go")
    assert sign(V2, one) == sign(V2, moved)  # another machine's checkout of the same program
