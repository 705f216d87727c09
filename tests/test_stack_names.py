"""A trace whose parser could not name its exception is signed by v3 under the name its text
gives in a shape the parser does not take as a type line (``Trace.named``, ``Language.names``);
older versions sign it as they always did.

Excerpts are copied verbatim from the real-trace corpus (sources in ``bench/realworld/INDEX.tsv``).
"""

from __future__ import annotations

import pytest

from triagebot.stack.detect import find_trace
from triagebot.stack.model import UNKNOWN_TYPE, ExceptionInfo
from triagebot.stack.signature import Signer

V2, V3 = Signer("v2"), Signer("v3")

# A Windows Application event log entry (MarkPad).
EVENT_LOG = """\
Application: MarkPad.exe
Framework Version: v4.0.30319
Description: The process was terminated due to an unhandled exception.
Exception Info: System.IO.FileNotFoundException
Stack:
    at MarkPad.Preview.HtmlPreview.Init()
    at MarkPad.App..ctor()
    at MarkPad.App.Main()
"""
# Ruby 3.1 names its built-in code "<internal:...>" (jekyll in docker).
RUBY_INTERNAL = """\
<internal:/usr/local/lib/ruby/site_ruby/3.1.0/rubygems/core_ext/kernel_require.rb>:37:in `require': cannot load such file -- webrick (LoadError)
\tfrom <internal:/usr/local/lib/ruby/site_ruby/3.1.0/rubygems/core_ext/kernel_require.rb>:37:in `require'
\tfrom /usr/local/bundle/gems/jekyll-4.0.1/lib/jekyll/commands/serve/servlet.rb:3:in `<top (required)>'
\tfrom /usr/local/bundle/gems/jekyll-4.0.1/lib/jekyll/commands/serve.rb:179:in `require_relative'
\tfrom /usr/local/bundle/gems/jekyll-4.0.1/lib/jekyll/commands/serve.rb:179:in `setup'
"""  # noqa: E501
# CocoaPods' error report (AFNetworking).
COCOAPODS = """\
### Error

```
RuntimeError - [Xcodeproj] Unknown object version.
/Users/user/.rvm/gems/ruby-2.2.2@global/gems/xcodeproj-1.3.0/lib/xcodeproj/project.rb:217:in `initialize_from_file'
/Users/user/.rvm/gems/ruby-2.2.2@global/gems/xcodeproj-1.3.0/lib/xcodeproj/project.rb:102:in `open'
"""  # noqa: E501
# k9s recovers the panic in a deferred handler, logs the value and prints debug.Stack: the
# handlers' frames come first, above the last panic(...).
GO_HANDLED = """\
11:39AM ERR Boom! runtime error: index out of range [0] with length 0
11:39AM ERR goroutine 1 [running]:
runtime/debug.Stack()
\truntime/debug/stack.go:24 +0x5e
github.com/derailed/k9s/cmd.run.func2()
\tgithub.com/derailed/k9s/cmd/root.go:84 +0xa5
panic({0x4ab7340?, 0xc007f590f8?})
\truntime/panic.go:914 +0x21f
github.com/derailed/tview.(*Application).Run.func1()
\tgithub.com/derailed/tview@v0.8.2/application.go:243 +0x45
panic({0x4ab7340?, 0xc007f590f8?})
\truntime/panic.go:914 +0x21f
github.com/derailed/tview.(*TextView).reindexBuffer(0xc000ca99e0, 0x9c)
\tgithub.com/derailed/tview@v0.8.2/textview.go:901 +0xef0
github.com/derailed/tview.(*TextView).Draw(0xc000ca99e0, {0x58a3ad0?, 0xc0008d5200})
\tgithub.com/derailed/tview@v0.8.2/textview.go:991 +0x173
"""


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (" ".join(EVENT_LOG.split()), ExceptionInfo("System.IO.FileNotFoundException")),
        (RUBY_INTERNAL, ExceptionInfo("LoadError", "cannot load such file -- webrick")),
        (COCOAPODS, ExceptionInfo("RuntimeError", "[Xcodeproj] Unknown object version.")),
        (GO_HANDLED, ExceptionInfo("runtime.Error", "index out of range [0] with length 0")),
    ],
    ids=["dotnet-event-log", "ruby-internal", "cocoapods", "go-recovered"],
)
def test_the_name_the_text_gives_is_signed_by_v3_only(text: str, named: ExceptionInfo) -> None:
    trace = find_trace(text)
    assert trace is not None and trace.frame_count
    assert trace.exceptions[0].type in ("", UNKNOWN_TYPE)
    assert trace.named == named
    new = V3.sign(trace)
    assert new.exception_types == (named.type,)
    assert new.title.startswith(named.short_type + " in ")
    assert V2.sign(trace).exception_types == (trace.exceptions[0].type,)


def test_an_event_log_that_lost_its_line_breaks_is_signed_as_the_one_that_kept_them() -> None:
    """The parser reads "Exception Info:" on its own line; joined, only the name finds it."""
    kept, joined = find_trace(EVENT_LOG), find_trace(" ".join(EVENT_LOG.split()))
    assert kept is not None and joined is not None
    assert kept.exceptions[0].type == "System.IO.FileNotFoundException" and kept.named is None
    assert V3.sign(joined).value == V3.sign(kept).value
    assert V2.sign(joined).value != V2.sign(kept).value


def test_cocoapods_joined_into_one_line_gets_the_same_name() -> None:
    kept, joined = find_trace(COCOAPODS), find_trace(" ".join(COCOAPODS.split()))
    assert kept is not None and joined is not None
    assert joined.named == kept.named is not None


def test_a_trace_its_parser_named_is_not_renamed() -> None:
    """The same top line with a file the frame pattern reads: the parser names it."""
    internal = "<internal:/usr/local/lib/ruby/site_ruby/3.1.0/rubygems/core_ext/kernel_require.rb>"
    trace = find_trace(RUBY_INTERNAL.replace(internal, "/usr/lib/ruby/3.1.0/kernel_require.rb", 1))
    assert trace is not None
    assert trace.exceptions[0].type == "LoadError"
    assert trace.named is None


def test_a_text_that_names_nothing_leaves_the_trace_unnamed() -> None:
    trace = find_trace(GO_HANDLED.replace("runtime error: ", "oops: "))
    assert trace is not None and trace.named is None
    assert V3.sign(trace).exception_types == V2.sign(trace).exception_types
