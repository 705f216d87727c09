"""JavaScript (V8 and Gecko/WebKit) stack parsing and frame normalisation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parsers import must_parse
from triagebot.stack import js
from triagebot.stack.model import Frame, Trace

NODE = """\
Automated report from case-api (prod-2)

TypeError: Cannot read properties of undefined (reading 'id')
    at Object.load (/srv/app/src/cases.js:42:17)
    at CaseService.open [as show] (/srv/app/src/service.js:10:5)
    at new CaseView (/srv/app/src/view.js:7:11)
    at /srv/app/src/routes.js:1:2
    at Array.forEach (<anonymous>)
    at async Promise.all (index 0)
    at async CaseService.load (file:///app/dist/service.mjs:10:5)
    at Layer.handle [as handle_request] (/srv/app/node_modules/express/lib/router/layer.js:95:5)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)

--
case-api
"""

CAUSE = """\
Error: could not save case 42
    at save (/srv/app/src/save.js:3:9)
    ... 6 lines matching cause stack trace ...
    at node:internal/main/run_main_module:28:49 {
  code: 'E_SAVE',
  [cause]: Error: connect ECONNREFUSED 127.0.0.1:5432
      at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16) {
    errno: -111,
    [cause]: TypeError: socket closed
        at Socket.close (/srv/app/src/db.js:20:3)
  }
}
"""

FIREFOX = """\
Uncaught (in promise) TypeError: e.cases is undefined
load@https://app.example.com/static/js/main.3f9a1c.js:2:1234
render/<@https://app.example.com/static/js/main.3f9a1c.js:2:2001
async*init@https://app.example.com/static/js/main.3f9a1c.js:1:88
@debugger eval code:1:1
"""

SAFARI = """\
TypeError: undefined is not an object (evaluating 'e.cases.length')
load@https://cdn.example.com/static/js/main.8b2e77d1.js:2:1300
global code@https://cdn.example.com/static/js/main.8b2e77d1.js:1:10
"""


parse = must_parse(js.parse)


class TestParse:
    def test_node_trace_in_mail(self) -> None:
        (exc,) = parse(NODE).exceptions
        assert exc.type == "TypeError"
        assert exc.message == "Cannot read properties of undefined (reading 'id')"
        assert len(exc.frames) == 9
        load = exc.frames[0]
        assert (load.function, load.file, load.line) == ("Object.load", "/srv/app/src/cases.js", 42)
        assert exc.frames[2].function == "new CaseView"
        assert (exc.frames[3].function, exc.frames[3].file) == ("", "/srv/app/src/routes.js")
        assert (exc.frames[4].file, exc.frames[4].line) == ("<anonymous>", None)
        assert (exc.frames[5].function, exc.frames[5].file) == ("Promise.all", None)
        assert exc.frames[6].function == "CaseService.load"
        assert exc.frames[6].file == "file:///app/dist/service.mjs"
        assert exc.frames[8].file == "node:internal/process/task_queues"

    def test_cause_chain_is_outer_then_inner(self) -> None:
        trace = parse(CAUSE)
        assert [(e.type, e.message) for e in trace.exceptions] == [
            ("Error", "could not save case 42"),
            ("Error", "connect ECONNREFUSED 127.0.0.1:5432"),
            ("TypeError", "socket closed"),
        ]
        assert [len(e.frames) for e in trace.exceptions] == [2, 1, 1]
        assert trace.exceptions[2].frames[0].function == "Socket.close"

    def test_gecko_frames(self) -> None:
        (exc,) = parse(FIREFOX).exceptions
        assert (exc.type, exc.message) == ("TypeError", "e.cases is undefined")
        assert [f.function for f in exc.frames] == ["load", "render/<", "init", ""]
        assert exc.frames[0].line == 2
        assert exc.frames[3].file == "debugger eval code"

    def test_safari_global_code(self) -> None:
        (exc,) = parse(SAFARI).exceptions
        assert exc.frames[1].function == "global code"
        assert exc.message.startswith("undefined is not an object")

    def test_collapsed_node_trace(self) -> None:
        collapsed = " ".join(line.strip() for line in NODE.splitlines()[2:12])
        (exc,) = parse("2026-11-27T10:00:00Z error " + collapsed).exceptions
        assert exc.type == "TypeError"
        assert len(exc.frames) == 9
        assert exc.frames[1].function == "CaseService.open [as show]"

    def test_builtin_frames_above_first_located_frame(self) -> None:
        (exc,) = parse("Error: boom\n    at <anonymous>\n    at Foo (/srv/a/b.js:1:2)\n").exceptions
        assert (exc.type, exc.message) == ("Error", "boom")
        assert [(f.file, f.line) for f in exc.frames] == [("<anonymous>", None), ("/srv/a/b.js", 1)]

    def test_no_trace(self) -> None:
        assert js.parse("Meeting at 10:30:45\nsee you") is None
        assert js.parse("Nothing to see here.") is None


class TestNormalize:
    def test_bundle_hash_and_host_folded(self) -> None:
        """The same function in two builds served from two hosts gives one key."""
        a = parse(FIREFOX).exceptions[0].frames[0]
        b = parse(SAFARI).exceptions[0].frames[0]
        assert js.normalize_frame(a).key == js.normalize_frame(b).key == "js/main:load"

    def test_install_paths_folded(self) -> None:
        keys = {
            js.normalize_frame(Frame(module=p, function="Object.load", file=p, line=n)).key
            for p, n in [
                ("/srv/app/src/cases.js", 42),
                ("/home/alice/app/src/cases.js", 40),
                ("C:\\inetpub\\app\\src\\cases.js", 41),
                ("webpack:///./src/cases.js?3f9a", 42),
            ]
        }
        assert keys == {"src/cases:Object.load"}

    def test_node_modules_kept_below_root(self) -> None:
        frame = parse(NODE).exceptions[0].frames[7]
        assert js.normalize_frame(frame).key == "express/lib/router/layer:Layer.handle"

    def test_anonymous_keyed_on_file(self) -> None:
        bare = parse(NODE).exceptions[0].frames[3]
        norm = js.normalize_frame(bare)
        assert norm.key == "src/routes:<anonymous>"
        assert "anonymous" in norm.hint
        obj = Frame(module="/x/a/b.js", function="Object.<anonymous>", file="/x/a/b.js", line=3)
        assert js.normalize_frame(obj).key == "a/b:<anonymous>"

    def test_constructor_and_builtin(self) -> None:
        frames = parse(NODE).exceptions[0].frames
        assert js.normalize_frame(frames[2]).key == "src/view:CaseView"
        assert js.normalize_frame(frames[5]).skip
        assert js.normalize_frame(frames[1]).key == "src/service:CaseService.open"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_never_raises(text: str) -> None:
    result = js.parse(text)
    assert result is None or isinstance(result, Trace)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(NODE.splitlines() + CAUSE.splitlines() + FIREFOX.splitlines())))
def test_parse_never_raises_on_trace_fragments(lines: list[str]) -> None:
    result = js.parse("\n".join(lines))
    assert result is None or isinstance(result, Trace)


class TestRealWorldLayouts:
    """Layouts seen in real reports that once lost frames or the exception type."""

    def test_node_error_code_is_not_part_of_the_type(self) -> None:
        trace = must_parse(js.parse)(
            "Error [ERR_HTTP_HEADERS_SENT]: Cannot set headers after they are sent to the client\n"
            "    at ServerResponse.setHeader (node:_http_outgoing:648:11)\n"
            "    at /var/app/routes/orders.js:61:23\n"
        )
        exc = trace.exceptions[0]
        assert (exc.type, exc.message) == (
            "Error",
            "Cannot set headers after they are sent to the client",
        )

    def test_short_collapsed_trace(self) -> None:
        """A three-frame trace joined into one line (under 300 characters) is still found."""
        text = (
            "⨯ TypeError: Cannot read properties of null (reading 'map') at ProductGrid "
            "(webpack-internal:///(rsc)/./app/products/ProductGrid.tsx:21:32) at stringify "
            "(<anonymous>) at process.processTicksAndRejections (node:internal/process/"
            "task_queues:95:5) digest: 2917483650"
        )
        exc = must_parse(js.parse)(text).exceptions[0]
        assert exc.type == "TypeError"
        assert exc.frames[0].function == "ProductGrid"
