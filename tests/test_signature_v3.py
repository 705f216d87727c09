"""Signature v3 on real traces: a chain without in-app frames is signed by the innermost frames
of the libraries that called the runtime, not by the runtime's own.

The excerpts are copied verbatim from the real-trace corpus (``bench/realworld/INDEX.tsv`` gives
each one's public issue thread)."""

from __future__ import annotations

from tests.test_stack_names import GO_HANDLED, RUBY_INTERNAL
from triagebot.stack.detect import find_trace
from triagebot.stack.signature import Signer, explain

V2, V3 = Signer("v2"), Signer("v3")

# chokidar on node 18 and on node 12: the runtime's frames were renamed in between
# (``fs.js:Object.watch`` became ``node:fs:Object.watch``), and the reports stop at other depths.
CHOKIDAR_NODE18 = """\
Error: ENOSPC: System limit for number of file watchers reached, watch '/home/user/tmp/too_many_open_files/requests1/1670337180_4783964_http_www_example_com.appmap.json'
    at FSWatcher.<computed> (node:internal/fs/watchers:244:19)
    at Object.watch (node:fs:2315:34)
    at createFsWatchInstance (/home/user/src/appmap-js/node_modules/chokidar/lib/nodefs-handler.js:119:15)
    at setFsWatchListener (/home/user/src/appmap-js/node_modules/chokidar/lib/nodefs-handler.js:166:15)
    at NodeFsHandler._watchWithNodeFs (/home/user/src/appmap-js/node_modules/chokidar/lib/nodefs-handler.js:331:14)
"""  # noqa: E501
CHOKIDAR_NODE12 = """\
Error: ENOSPC: System limit for number of file watchers reached, watch '/home///bfx-hf-ui/public/assets/FUN-alt.svg'
    at FSWatcher.start (internal/fs/watchers.js:169:26)
    at Object.watch (fs.js:1415:11)
    at createFsWatchInstance (/home///bfx-hf-ui/node_modules/chokidar/lib/nodefs-handler.js:38:15)
    at setFsWatchListener (/home///bfx-hf-ui/node_modules/chokidar/lib/nodefs-handler.js:81:15)
    at FSWatcher.NodeFsHandler._watchWithNodeFs (/home///bfx-hf-ui/node_modules/chokidar/lib/nodefs-handler.js:233:14)
    at FSWatcher.NodeFsHandler._handleFile (/home///bfx-hf-ui/node_modules/chokidar/lib/nodefs-handler.js:262:21)
    at FSWatcher.<anonymous> (/home///bfx-hf-ui/node_modules/chokidar/lib/nodefs-handler.js:495:21)
"""  # noqa: E501
# Two bugs of two libraries that fail in the same runtime function with the same message.
WEBPACK = """\
Error: error:0308010C:digital envelope routines::unsupported
    at new Hash (node:internal/crypto/hash:71:19)
    at Object.createHash (node:crypto:133:10)
    at module.exports (/home/user/Desktop/scratch-gui/node_modules/webpack/lib/util/createHash.js:135:53)
    at NormalModule._initBuildHash (/home/user/Desktop/scratch-gui/node_modules/webpack/lib/NormalModule.js:417:16)
    at handleParseError (/home/user/Desktop/scratch-gui/node_modules/webpack/lib/NormalModule.js:471:10)
"""  # noqa: E501
ETAG = """\
Error: error:0308010C:digital envelope routines::unsupported
   at new Hash (node:internal/crypto/hash:71:19)
   at Object.createHash (node:crypto:140:10)
   at weakhash (/Users/user/Documents/sites/anushaFork/node-chat/node_modules/etag/index.js:163:6)
   at etag (/Users/user/Documents/sites/anushaFork/node-chat/node_modules/etag/index.js:59:7)
   at wetag (/Users/user/Documents/sites/anushaFork/node-chat/node_modules/express/lib/utils.js:54:10)
"""  # noqa: E501
# A Go panic inside text/template, reported once with reflect's frames below hugo's and once
# without them.
HUGO_PAGER = """\
panic: runtime error: invalid memory address or nil pointer dereference [recovered]
\tpanic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4d6ac4]

goroutine 1 [running]:
text/template.errRecover(0xc42012f0c8)
\t/usr/local/go/src/text/template/exec.go:140 +0x2ad
panic(0xf1f5e0, 0x1a3d1c0)
\t/usr/local/go/src/runtime/panic.go:489 +0x2cf
github.com/spf13/hugo/hugolib.(*pager).Pages(0x0, 0x0, 0x0, 0x0)
\t/go/src/github.com/spf13/hugo/hugolib/pagination.go:78 +0x24
"""


def sign(version: Signer, text: str) -> str:
    trace = find_trace(text)
    assert trace is not None and trace.frame_count
    return version.sign(trace).value


def test_the_runtimes_renamed_frames_and_another_depth_do_not_split_a_librarys_bug() -> None:
    assert sign(V2, CHOKIDAR_NODE18) != sign(V2, CHOKIDAR_NODE12)
    assert sign(V3, CHOKIDAR_NODE18) == sign(V3, CHOKIDAR_NODE12)
    trace = find_trace(CHOKIDAR_NODE18)
    assert trace is not None
    assert "node:fs:Object.watch  (not in-app: " in explain(V3.sign(trace))
    assert "the runtime's own" in explain(V3.sign(trace))


def test_two_libraries_failing_in_one_runtime_function_are_two_bugs() -> None:
    assert sign(V3, WEBPACK) != sign(V3, ETAG)


def test_a_panic_in_the_standard_library_is_signed_by_the_library_above_it() -> None:
    """text/template's deferred errRecover ran while the panic unwound: hugo's frame signs it."""
    trace = find_trace(HUGO_PAGER)
    assert trace is not None
    signature = V3.sign(trace)
    assert signature.basis == "library-frames"
    counted = [note.key for note in signature.notes if note.contributes]
    assert counted == ["github.com/spf13/hugo/hugolib.(*pager).Pages"]
    assert "text/template.errRecover" in explain(signature)  # shown, as not counted


def test_the_runtimes_frames_sign_a_chain_that_has_no_other() -> None:
    """A crash inside node's own code alone still has a signature made of frames."""
    text = """\
Error: write EPIPE
    at afterWriteDispatched (node:internal/stream_base_commons:160:15)
    at writeGeneric (node:internal/stream_base_commons:151:3)
    at Socket._writeGeneric (node:net:917:11)
"""
    trace = find_trace(text)
    assert trace is not None
    signature = V3.sign(trace)
    assert signature.basis == "library-frames"
    assert [n.key for n in signature.notes if n.contributes][:1] == [
        "node:internal/stream_base_commons:afterWriteDispatched"
    ]


# Ruby 3.0 prints Kernel#require as the caller's line (jekyll); Ruby 3.1 as "<internal:...>".
RUBY_30 = """\
/home/user/src/about.publiccode.net/vendor/bundle/ruby/3.0.0/gems/jekyll-3.9.2/lib/jekyll/commands/serve/servlet.rb:3:in `require': cannot load such file -- webrick (LoadError)
\tfrom /home/user/src/about.publiccode.net/vendor/bundle/ruby/3.0.0/gems/jekyll-3.9.2/lib/jekyll/commands/serve/servlet.rb:3:in `<top (required)>'
\tfrom /home/user/src/about.publiccode.net/vendor/bundle/ruby/3.0.0/gems/jekyll-3.9.2/lib/jekyll/commands/serve.rb:184:in `require_relative'
"""  # noqa: E501


def test_kernel_require_as_either_ruby_prints_it_is_the_runtimes() -> None:
    assert sign(V2, RUBY_30) != sign(V2, RUBY_INTERNAL)
    assert sign(V3, RUBY_30) == sign(V3, RUBY_INTERNAL)


def test_the_deferred_handlers_a_go_panic_ran_through_do_not_count() -> None:
    """The same panic, recovered and printed by a handler or not, is one bug."""
    trace = find_trace(GO_HANDLED)
    assert trace is not None
    signature = V3.sign(trace)
    assert signature.in_app_frames == (
        "github.com/derailed/tview.(*TextView).reindexBuffer",
        "github.com/derailed/tview.(*TextView).Draw",
    )
    unwound = [n.key for n in signature.notes if n.hint == "ran while it unwound"]
    assert "github.com/derailed/k9s/cmd.run.func2" in unwound
    head, _, rest = GO_HANDLED.partition("runtime/debug.Stack()\n")
    unhandled = head + rest.split("\truntime/panic.go:914 +0x21f\n")[-1]
    assert sign(V3, unhandled) == signature.value
    assert sign(V2, unhandled) != sign(V2, GO_HANDLED)


def test_a_title_never_shows_an_unread_type_as_a_name() -> None:
    """Any version: a trace whose type line was not read is titled as such."""
    text = "\tfrom /srv/app/models/user.rb:12:in `save'\n\tfrom /srv/app/jobs/sync.rb:5:in `run'\n"
    trace = find_trace(text)
    assert trace is not None and trace.exceptions[0].type == "<unknown>"
    assert V2.sign(trace).title == V3.sign(trace).title == "Unnamed exception in user.save"
