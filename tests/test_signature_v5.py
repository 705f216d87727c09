"""Signature v5 on real traces: a console script's launcher is keyed by its name alone, Go's
old closure counters and local packages' folders are folded, a message is read as one wording
whatever the runtime's release that printed it and without the closing backtick of a Markdown
code span pasted with it, and an indented Python traceback is named by its type line.

The excerpts are copied verbatim from public issue threads (each one's source is named above
it); a variant made from one says what was changed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triagebot.stack.detect import find_trace
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer, explain, reworded

V4, V5 = Signer("v4"), Signer("v5")

# One user's pip and pip3 launchers, Python 2 and 3, after upgrading pip over the system's
# (pypa/packaging-problems issue 166).
PIP2 = """\
Traceback (most recent call last):
  File "/usr/bin/pip", line 9, in <module>
    from pip import main
ImportError: cannot import name main
"""
PIP3 = """\
Traceback (most recent call last):
  File "/usr/bin/pip3", line 9, in <module>
    from pip import main
ImportError: cannot import name 'main'
"""
# pip's own launcher script, installed by pip 9 into /usr/local (pypa/pip issue 5240).
PIP3_LOCAL = """\
$ pip3
Traceback (most recent call last):
  File "/usr/local/bin/pip3", line 7, in <module>
    from pip import main
ImportError: cannot import name 'main'
"""
# Python 3.7 says where it looked (a public blog post on installing Python 3.7 on Ubuntu).
PIP_PY37 = (
    "\tTraceback (most recent call last):\n"
    '\t  File "/usr/bin/pip", line 9, in <module>\n'
    "\t    from pip import main\n"
    "\tImportError: cannot import name 'main' from 'pip'"
    " (/usr/bin/python3.7/lib/python3.7/site-packages/pip/__init__.py)\n"
)
# The Python 2 one pasted inside a Markdown code span (pypa/pip issue 5240).
PIP2_TICKED = """\
+ pip install awscli requests simplejson
Traceback (most recent call last):
  File "/usr/bin/pip", line 9, in <module>
    from pip import main
ImportError: cannot import name main`
"""
# A library's failure on node 0.10 (tonistiigi/mega issue 10): no in-app frame, so the
# message is signed with the library's frame.
MEGA = """\
TypeError: Cannot read property 'length' of undefined
    at Request._callback (~/node_modules/mega/lib/api.js:56:13)
    at Request.self.callback (~/node_modules/request/index.js:148:22)
    at Request.EventEmitter.emit (events.js:98:17)
    at Request.<anonymous> (~/node_modules/request/index.js:876:14)
"""
# The same failure as V8 9.x (node 16) words it.
MEGA_V8_9 = MEGA.replace(
    "Cannot read property 'length' of undefined",
    "Cannot read properties of undefined (reading 'length')",
)


def parsed(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_one_launcher_under_its_versioned_names_on_python_2_and_3_is_one_bug() -> None:
    texts = (PIP2, PIP3, PIP3_LOCAL, PIP_PY37, PIP2_TICKED)
    assert len({V5.sign(parsed(t)).value for t in texts}) == 1
    assert len({V4.sign(parsed(t)).value for t in texts}) == 4


def test_explain_says_the_launchers_folder_and_version_were_dropped() -> None:
    shown = explain(V5.sign(parsed(PIP3)))
    assert "+ [0] pip.<module>" in shown
    assert "a launcher, keyed by its name alone" in shown
    assert "cannot import name <str>" in shown


@pytest.mark.parametrize(
    "path",
    [
        "/usr/local/bin/pip3.8",
        "/opt/venv/bin/pip-3",
        "C:\\Python37\\Scripts\\pip3",
    ],
)
def test_launchers_in_any_layout_drop_their_version(path: str) -> None:
    assert V5.sign(parsed(PIP3.replace("/usr/bin/pip3", path))).value == V5.sign(parsed(PIP2)).value


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/usr/bin/pip3", "/usr/bin/pipenv"),  # another program
        ("/usr/bin/pip3", "/srv/app/pip3"),  # not a launcher: a module of an app
        ("cannot import name 'main'", "cannot import name 'main'; 'pip' is not a package"),
        ("ImportError: cannot import name", "ImportError: could not import name"),
    ],
)
def test_what_v5_reads_as_one_still_tells_bugs_apart(old: str, new: str) -> None:
    assert old in PIP3
    assert V5.sign(parsed(PIP3.replace(old, new))).value != V5.sign(parsed(PIP3)).value


def test_an_apps_own_module_keeps_its_digits() -> None:
    """Only a launcher's name loses its version: ``worker2.py`` is not ``worker.py``."""
    one = PIP3.replace("/usr/bin/pip3", "/srv/app/worker2.py")
    two = PIP3.replace("/usr/bin/pip3", "/srv/app/worker.py")
    assert V5.sign(parsed(one)).value != V5.sign(parsed(two)).value


def test_v8s_two_wordings_of_one_failure_are_one_bug() -> None:
    assert V5.sign(parsed(MEGA)).value == V5.sign(parsed(MEGA_V8_9)).value
    assert V4.sign(parsed(MEGA)).value != V4.sign(parsed(MEGA_V8_9)).value
    null = MEGA_V8_9.replace("of undefined", "of null")
    assert V5.sign(parsed(null)).value != V5.sign(parsed(MEGA)).value


@pytest.mark.parametrize(
    ("language", "message", "read"),
    [
        ("python", "cannot import name main", "cannot import name 'main'"),
        ("python", "No module named pupylib.PupyCmd", "No module named 'pupylib.PupyCmd'"),
        ("python", "No module named 'yaml'", "No module named 'yaml'"),
        ("python", "cannot import name 'x' from 'a' (unknown location)", "cannot import name 'x'"),
        ("javascript", "cannot import name main", "cannot import name main"),
        ("javascript", "Cannot read properties of null (reading 'x')", "Cannot read property 'x' of null"),  # noqa: E501
        ("ruby", "undefined method `name' for nil`", "undefined method `name' for nil"),
        ("ruby", "undefined method `name' for nil", "undefined method `name' for nil"),
        ("go", "`a` and `b` differ", "`a` and `b` differ"),
    ],
)  # fmt: skip
def test_reworded(language: str, message: str, read: str) -> None:
    assert reworded(language, message) == read


@given(
    st.sampled_from(("python", "javascript", "go")),
    st.text(alphabet="`' .abc()\nx", max_size=60),
)
def test_reworded_reads_its_own_reading_unchanged(language: str, message: str) -> None:
    once = reworded(language, message)
    assert reworded(language, once) == once


def test_a_traceback_indented_as_a_whole_is_named_by_its_type_line() -> None:
    trace = parsed(PIP_PY37)
    assert trace.exceptions[0].type == "<unknown>"  # as every version before v5 reads it
    assert V5.sign(trace).title == "ImportError in pip.<module>: cannot import name <str>"
    assert V4.sign(trace).title.startswith("Unnamed exception")
    spaced = parsed(PIP_PY37.replace("\t", "    "))
    assert V5.sign(spaced).value == V5.sign(trace).value


def test_an_indented_traceback_cut_before_its_type_line_stays_unnamed() -> None:
    cut = "\n".join(PIP_PY37.splitlines()[:3]) + "\n\tthen pip stopped\n"
    assert V5.sign(parsed(cut)).title.startswith("Unnamed exception")


# Go 1.2 numbered closures (gliderlabs/logspout issue 37); another build numbers them anew.
LOGSPOUT = """\
runtime error: slice bounds out of range

goroutine 133 [running]:
runtime.panic(0x717920, 0x91fdaf)
    /usr/local/go/src/pkg/runtime/panic.c:279 +0xf5
main.func·001()
    /home/user/gopath/src/github.com/bountylabs/logspout/attacher.go:35 +0x370
created by main.NewAttachManager
     /home/user/gopath/src/github.com/bountylabs/logspout/attacher.go:41 +0x2bb
"""
# A package built outside GOPATH is named by its folder (DataDog/kvexpress issue 73).
KVEXPRESS = """\
panic: runtime error: index out of range

goroutine 1 [running]:
_/home/user/kvexpress/commands.init.8()
    /home/user/kvexpress/commands/root.go:78 +0x7df
_/home/user/kvexpress/commands.init()
    /home/user/kvexpress/commands/util.go:156 +0x1b9
main.init()
    /home/user/kvexpress/main.go:46 +0x47
"""


def test_an_old_go_closure_is_one_bug_in_any_build() -> None:
    rebuilt = LOGSPOUT.replace("func·001", "func·951")
    assert V5.sign(parsed(LOGSPOUT)).value == V5.sign(parsed(rebuilt)).value
    assert V4.sign(parsed(LOGSPOUT)).value != V4.sign(parsed(rebuilt)).value
    assert "old compiler's counter folded" in explain(V5.sign(parsed(LOGSPOUT)))


def test_a_local_go_package_is_one_bug_on_any_machine() -> None:
    elsewhere = KVEXPRESS.replace("/home/user/", "/srv/build/")
    assert V5.sign(parsed(KVEXPRESS)).value == V5.sign(parsed(elsewhere)).value
    assert V4.sign(parsed(KVEXPRESS)).value != V4.sign(parsed(elsewhere)).value
    assert "local package's folder dropped" in explain(V5.sign(parsed(KVEXPRESS)))


@pytest.mark.parametrize(
    ("text", "old", "new"),
    [
        (LOGSPOUT, "main.func·001", "main.init·001"),
        (LOGSPOUT, "main.func·001", "worker.func·001"),
        (KVEXPRESS, "kvexpress/commands.init", "kvexpress/cmd.init"),
        (KVEXPRESS, "_/home/user/kvexpress/commands.init.8", "_/home/user/kv/commands.init.8"),
    ],
)
def test_what_v5_folds_in_go_still_tells_bugs_apart(text: str, old: str, new: str) -> None:
    """Another function, package or project folder is another bug."""
    assert old in text
    assert V5.sign(parsed(text.replace(old, new))).value != V5.sign(parsed(text)).value


# An Android build's desugared lambdas (TeamNewPipe/NewPipe issue 7745): R8's bridge method
# and D8's bridge class, both named anew by every build.
NEWPIPE = """\
org.schabi.newpipe.extractor.stream.StreamInfo$StreamExtractException: Could not get any stream. See error variable to get further details.
	at org.schabi.newpipe.extractor.stream.StreamInfo.extractStreams(StreamInfo.java:194)
	at org.schabi.newpipe.extractor.stream.StreamInfo.getInfo(StreamInfo.java:72)
	at org.schabi.newpipe.extractor.stream.StreamInfo.getInfo(StreamInfo.java:64)
	at org.schabi.newpipe.util.ExtractorHelper.lambda$getStreamInfo$3(ExtractorHelper.java:116)
	at org.schabi.newpipe.util.ExtractorHelper.$r8$lambda$YTHJjScxCJNO1LTCqs3IKy35iyY(Unknown Source:0)
	at org.schabi.newpipe.util.ExtractorHelper$$ExternalSyntheticLambda6.call(Unknown Source:4)
	at io.reactivex.rxjava3.internal.operators.single.SingleFromCallable.subscribeActual(SingleFromCallable.java:43)
"""  # noqa: E501
# The same call as an older build's D8 printed it (TeamNewPipe/NewPipe issue 3452).
D8_BRIDGE = "\tat org.schabi.newpipe.util.-$$Lambda$ExtractorHelper$5fJcha6Sq5APJBLdG6osaJby-mc.call(Unknown Source:4)\n"  # noqa: E501


def test_an_android_builds_lambda_names_do_not_split_a_bug() -> None:
    rebuilt = NEWPIPE.replace("YTHJjScxCJNO1LTCqs3IKy35iyY", "Qb3kz0Y1n_oVw8mT2Xh7sLq5aRc").replace(
        "ExternalSyntheticLambda6", "ExternalSyntheticLambda2"
    )
    lines = NEWPIPE.splitlines(keepends=True)
    older = "".join(lines[:5]) + D8_BRIDGE + lines[7]
    values = {V5.sign(parsed(text)).value for text in (NEWPIPE, rebuilt, older)}
    assert len(values) == 1
    assert len({V4.sign(parsed(text)).value for text in (NEWPIPE, rebuilt, older)}) == 3
    shown = explain(V5.sign(parsed(NEWPIPE)))
    assert "+ [0] org.schabi.newpipe.util.ExtractorHelper.getStreamInfo" in shown
    assert "skip: lambda bridge" in shown and "Android build's lambda name folded" in shown


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("lambda$getStreamInfo$3", "lambda$getChannelInfo$3"),
        ("ExtractorHelper.$r8$lambda$YTHJ", "ExtractorHelper.r8lambda$YTHJ"),
    ],
)
def test_the_lambdas_own_body_and_names_like_a_bridge_still_count(old: str, new: str) -> None:
    """The lambda's body is the bug's frame; a method merely named like R8's stays a frame."""
    assert old in NEWPIPE
    assert V5.sign(parsed(NEWPIPE.replace(old, new))).value != V5.sign(parsed(NEWPIPE)).value


# Ruby's own socket library under the 3.3 install prefix (Freika/dawarich issue 376).
RUBY_SOCKET = """\
E, [2024-11-08T14:41:59.706237 #85] ERROR -- : Error performing VisitSuggestingJob (Job ID: 501e5681-ad76-47c9-bacb-eadde4f0fe11) from Sidekiq(visit_suggesting) in 414.37ms: Redis::CannotConnectError (Connection refused - connect(2) for 127.0.0.1:6379 (redis://localhost:6379/1)):
/usr/local/lib/ruby/3.3.0/socket.rb:1219:in `__connect_nonblock'
/usr/local/lib/ruby/3.3.0/socket.rb:1219:in `connect_nonblock'
/usr/local/lib/ruby/3.3.0/socket.rb:60:in `connect_internal'
/usr/local/lib/ruby/3.3.0/socket.rb:141:in `connect'
"""  # noqa: E501


def test_ruby_4s_standard_library_is_the_runtimes_own_as_ruby_3s() -> None:
    """Ruby 4.0 came out in December 2025; v3 and v4 know majors 1 to 3 only, so its socket
    library was a library there (signed by its file), and the same failure two bugs."""
    ruby4 = RUBY_SOCKET.replace("/ruby/3.3.0/", "/ruby/4.0.0/")
    assert V5.sign(parsed(ruby4)).value == V5.sign(parsed(RUBY_SOCKET)).value
    assert V4.sign(parsed(ruby4)).value != V4.sign(parsed(RUBY_SOCKET)).value
    assert "the runtime's own" in explain(V5.sign(parsed(ruby4)))
    gems = RUBY_SOCKET.replace("/lib/ruby/3.3.0/", "/lib/ruby/gems/3.3.0/gems/redis-5.3.0/lib/")
    assert "the runtime's own" not in explain(V5.sign(parsed(gems)))
