"""Go panic parsing and frame normalisation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers import must_parse
from triagebot.stack import go
from triagebot.stack.model import Trace

NIL_DEREF = """\
The case-sync service crashed on node 3:

panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6b1d2e]

goroutine 1 [running]:
github.com/acme/casesync/internal/store.(*DB).Get(0x0, {0x7a1c20, 0xc000120000}, 0x2a)
\t/home/u/casesync/internal/store/db.go:42 +0x1d
main.(*Server).handle.func1(0xc000010000, {0x5c2f80, 0xc000120000})
\t/home/u/casesync/server.go:88 +0x2c5
main.main()
\t/home/u/casesync/main.go:15 +0x85
exit status 2
"""

HTTP_RECOVERED = """\
panic: case 42 not found [recovered]
\tpanic: case 42 not found

goroutine 34 [running]:
panic({0x6f2a40?, 0xc00009e2a0?})
\t/usr/local/go/src/runtime/panic.go:770 +0x132
github.com/acme/casesync/api.(*Handler).Show(0xc0001a2000, {0x8c3e50, 0xc0002a0000}, 0xc000232100)
\t/srv/casesync/api/handler.go:51 +0x1f4
net/http.HandlerFunc.ServeHTTP(0xc000232000?, {0x8c3e50?, 0xc0002a0000?}, 0x0?)
\t/usr/local/go/src/net/http/server.go:2166 +0x29
...additional frames elided...
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4

goroutine 1 [IO wait]:
internal/poll.runtime_pollWait(0x7f0a, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:345 +0x85
"""

REPANIC = """\
panic: first failure [recovered]
\tpanic: runtime error: index out of range [5] with length 3

goroutine 7 [running]:
main.worker.gowrap1()
\t/app/worker.go:20 +0x25
"""

FATAL = """\
fatal error: concurrent map writes

goroutine 12 [running]:
github.com/acme/casesync/cache.(*Cache).Put(...)
\t/srv/casesync/vendor/github.com/acme/cache/cache.go:31
main.main.func2.1()
\t/srv/casesync/main.go:40 +0x4c
"""


parse = must_parse(go.parse)


class TestParse:
    def test_runtime_error_in_mail(self) -> None:
        (exc,) = parse(NIL_DEREF).exceptions
        assert exc.type == "runtime.Error"
        assert exc.message == "invalid memory address or nil pointer dereference"
        assert len(exc.frames) == 3
        top = exc.frames[0]
        assert (top.module, top.function, top.line) == (
            "github.com/acme/casesync/internal/store",
            "(*DB).Get",
            42,
        )
        assert top.file == "/home/u/casesync/internal/store/db.go"
        assert (exc.frames[1].module, exc.frames[1].function) == ("main", "(*Server).handle.func1")
        assert exc.frames[2].qualified == "main.main"

    def test_only_running_goroutine_and_created_by(self) -> None:
        """Frames of other goroutines are ignored; ``created by`` is the outermost frame."""
        trace = parse(HTTP_RECOVERED)
        (exc,) = trace.exceptions  # identical recovered/re-raised values are one exception
        assert (exc.type, exc.message) == ("panic", "case 42 not found")
        assert [f.qualified for f in exc.frames] == [
            "panic",
            "github.com/acme/casesync/api.(*Handler).Show",
            "net/http.HandlerFunc.ServeHTTP",
            "net/http.(*Server).Serve",
        ]
        assert all("netpoll" not in (f.file or "") for f in exc.frames)

    def test_repanic_chain_outer_first(self) -> None:
        trace = parse(REPANIC)
        assert [(e.type, e.message) for e in trace.exceptions] == [
            ("runtime.Error", "index out of range [5] with length 3"),
            ("panic", "first failure"),
        ]
        assert len(trace.exceptions[0].frames) == 1
        assert trace.exceptions[1].frames == ()

    def test_fatal_error_and_elided_args(self) -> None:
        (exc,) = parse(FATAL).exceptions
        assert (exc.type, exc.message) == ("fatal error", "concurrent map writes")
        assert exc.frames[0].line == 31
        assert exc.frames[0].function == "(*Cache).Put"

    def test_typed_panic_value(self) -> None:
        text = "panic: (main.CaseError) 0xc000010000\n\n" + REPANIC.split("\n\n", 1)[1]
        assert parse(text).exceptions[0].type == "main.CaseError"

    def test_net_http_recovered_panic_log(self) -> None:
        text = (
            "2026/11/27 10:00:00 http: panic serving 10.0.0.7:51234: runtime error: slice bounds"
            " out of range\ngoroutine 34 [running]:\nnet/http.(*conn).serve.func1()\n"
            "\t/usr/local/go/src/net/http/server.go:1898 +0xbe\n"
        )
        (exc,) = parse(text).exceptions
        assert (exc.type, exc.message) == ("runtime.Error", "slice bounds out of range")
        assert exc.frames[0].qualified == "net/http.(*conn).serve.func1"

    def test_collapsed_dump(self) -> None:
        collapsed = " ".join(line.strip() for line in NIL_DEREF.splitlines()[2:])
        (exc,) = parse("level=error msg=crash " + collapsed).exceptions
        assert exc.type == "runtime.Error"
        assert exc.message == "invalid memory address or nil pointer dereference"
        assert [f.line for f in exc.frames] == [42, 88, 15]

    def test_no_trace(self) -> None:
        assert go.parse("panic: nothing else here") is None
        assert go.parse("goroutine 1 [running]:\nnot a frame") is None


class TestNormalize:
    def test_offsets_and_closures_folded(self) -> None:
        frames = parse(NIL_DEREF).exceptions[0].frames
        norm = go.normalize_frame(frames[1])
        assert norm.key == "main.(*Server).handle.func"
        assert "closure" in norm.hint
        moved = (
            parse(
                NIL_DEREF.replace("/home/u/casesync", "/srv/releases/20261127/casesync")
                .replace("+0x2c5", "+0x2d1")
                .replace("func1", "func3")
            )
            .exceptions[0]
            .frames[1]
        )
        assert go.normalize_frame(moved).key == norm.key

    def test_vendor_and_nested_closure(self) -> None:
        frames = parse(FATAL).exceptions[0].frames
        assert go.normalize_frame(frames[1]).key == "main.main.func.func"
        assert go.normalize_frame(frames[0]).key == "github.com/acme/casesync/cache.(*Cache).Put"

    def test_panic_builtin_skipped(self) -> None:
        frame = parse(HTTP_RECOVERED).exceptions[0].frames[0]
        assert go.normalize_frame(frame).skip


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises(text: str) -> None:
    result = go.parse(text)
    assert result is None or isinstance(result, Trace)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(NIL_DEREF.splitlines() + HTTP_RECOVERED.splitlines() + [""])))
def test_parse_never_raises_on_trace_fragments(lines: list[str]) -> None:
    result = go.parse("\n".join(lines))
    assert result is None or result.frame_count > 0
