"""Signature v4 on real traces: a Python runtime module below a ``lib`` folder of any case is the
runtime's own, a chain of the runtime's frames only is signed by its innermost three, a Ruby
library by the file it failed in, and PHP's uncaught errors whose header its parser could not
read are named as PHP printed them (and are reports).

The excerpts are copied verbatim from the real-trace corpus (``bench/realworld/INDEX.tsv`` gives
each one's public issue thread)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triagebot.config import config_from_dict
from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Kind
from triagebot.pipeline import Pipeline
from triagebot.rules import RuleSet
from triagebot.stack import php
from triagebot.stack.detect import find_trace
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer, explain

V3, V4 = Signer("v3"), Signer("v4")

# One tkinter failure from a Windows install (``lib``, lower case), a conda environment on
# Linux, and a Windows install that spells the folder ``Lib``.
TK_WINDOWS = """\
Traceback (most recent call last):
  File "C:\\Program Files\\Python37\\lib\\tkinter\\__init__.py", line 332, in __del__
    if self._tk.getboolean(self._tk.call("info", "exists", self._name)):
RuntimeError: main thread is not in main loop
"""
TK_CONDA = """\
Traceback (most recent call last):
  File "/home/user/anaconda3/envs/loftr1/lib/python3.8/tkinter/__init__.py", line 4017, in __del__
    self.tk.call('image', 'delete', self.name)
RuntimeError: main thread is not in main loop
"""
TK_LIB = """\
Traceback (most recent call last):
  File "C:\\Program Files (x86)\\Python36-32\\Lib\\tkinter\\__init__.py", line 329, in __del__
    if self._tk.getboolean(self._tk.call("info", "exists", self._name)):
RuntimeError: main thread is not in main loop
"""
# One WPF failure pasted with three, four and five of its frames (PowerToys issues 36881,
# 36604 and 45447).
WPF = """\
System.InvalidOperationException: Cyclic reference found while evaluating the Style property on element 'System.Windows.Controls.ScrollViewer'.
   at System.Windows.FrameworkElement.UpdateStyleProperty()
   at System.Windows.TreeWalkHelper.InvalidateStyleAndReferences(DependencyObject d, ResourcesChangeInfo info, Boolean containsTypeOfKey)
   at System.Windows.TreeWalkHelper.OnResourcesChanged(DependencyObject d, ResourcesChangeInfo info, Boolean raiseResourceChangedEvent)
   at System.Windows.TreeWalkHelper.OnResourcesChangedCallback(DependencyObject d, ResourcesChangeInfo info, Boolean visitedViaVisualTree)
   at System.Windows.DescendentsWalker`1._VisitNode(DependencyObject d, Boolean visitedViaVisualTree)
"""  # noqa: E501


def parsed(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def cut(text: str, frames: int) -> str:
    """The exception line and the first ``frames`` frames, as a reporter shortens a paste."""
    return "\n".join(text.splitlines()[: 1 + frames]) + "\n"


def python_frame(path: str, function: str = "__del__") -> str:
    return f'Traceback (most recent call last):\n  File "{path}", line 7, in {function}\n    x()\n'


def test_a_runtime_module_in_a_lowercase_lib_folder_is_the_runtimes_own() -> None:
    windows, conda, lib = (parsed(t) for t in (TK_WINDOWS, TK_CONDA, TK_LIB))
    assert V3.sign(windows).basis == "app-frames"  # v3 took the install's tkinter for the app's
    assert len({V3.sign(t).value for t in (windows, conda, lib)}) == 2
    signed = [V4.sign(t) for t in (windows, conda, lib)]
    assert len({s.value for s in signed}) == 1
    assert signed[0].basis == "library-frames"
    assert "a runtime module in a lib folder" in explain(signed[0])


@pytest.mark.parametrize(
    "path",
    [
        "C:\\Python27\\lib\\threading.py",  # a module file right below lib
        "D:\\anaconda\\envs\\torch\\lib\\json\\decoder.py",
        "/opt/python/lib/asyncio/events.py",
    ],
)
def test_runtime_modules_below_lib_in_any_layout(path: str) -> None:
    frame = parsed(python_frame(path, "run") + "ValueError: x\n").exceptions[0].frames[0]
    assert V4.classifier.classify("python", frame)[0] is False
    assert V4.classifier.runtime("python", frame)
    assert V3.classifier.classify("python", frame)[0] is True


@pytest.mark.parametrize(
    "path",
    [
        "C:\\src\\shop\\lib\\orders.py",  # the app's own lib folder: not a runtime module
        "C:\\src\\shop\\library\\tkinter_view.py",
        "C:\\src\\shop\\lib\\tkinter_views\\main.py",
        "C:\\src\\shop\\glib\\json\\x.py",  # "glib" is not "lib"
    ],
)
def test_the_apps_own_modules_in_a_lib_folder_stay_in_app(path: str) -> None:
    frame = parsed(python_frame(path, "load") + "ValueError: x\n").exceptions[0].frames[0]
    assert V4.classifier.classify("python", frame)[0] is True


def test_the_lib_folder_rule_is_pythons_only() -> None:
    """node's core module names are ordinary file names in an app's ``lib`` (``lib/fs.js``)."""
    text = "TypeError: x is not a function\n    at read (/srv/app/lib/fs.js:3:9)\n"
    frame = parsed(text).exceptions[0].frames[0]
    assert V4.classifier.classify("js", frame)[0] is True


def test_configured_app_frames_win_over_the_lib_folder_rule() -> None:
    signer = Signer("v4", app_frames=("*\\lib\\tkinter\\*",))
    assert signer.sign(parsed(TK_WINDOWS)).basis == "app-frames"


def test_a_runtime_only_chain_cut_at_three_four_or_five_frames_is_one_bug() -> None:
    traces = [parsed(cut(WPF, n)) for n in (3, 4, 5)]
    assert len({V3.sign(t).value for t in traces}) == 3
    signed = [V4.sign(t) for t in traces]
    assert len({s.value for s in signed}) == 1
    assert signed[0].basis == "library-frames"
    assert explain(signed[0]).count("\n  + ") == 3


def test_a_runtime_only_chain_cut_shorter_than_three_frames_is_not_joined() -> None:
    assert V4.sign(parsed(cut(WPF, 2))).value != V4.sign(parsed(cut(WPF, 3))).value


def test_a_runtime_only_chain_without_a_message_keeps_five_frames() -> None:
    """Without a message, the caller five frames down is all that tells two bugs apart."""
    bare = WPF.replace(
        WPF.splitlines()[0], "System.InvalidOperationException:"
    )  # the message line without its message
    signed = V4.sign(parsed(bare))
    assert explain(signed).count("\n  + ") == 5
    assert signed.value != V4.sign(parsed(cut(bare, 3))).value


def test_a_library_below_the_runtime_is_still_signed_by_its_innermost_frame() -> None:
    """v4 keeps v3's rule for chains with other libraries' frames: those sign one frame."""
    text = cut(WPF, 2) + "   at Contoso.Grid.Layout.Measure(Size s)\n"
    signed = Signer("v4", library_frames=("Contoso.*",)).sign(parsed(text))
    assert signed.basis == "library-frames"
    assert explain(signed).count("\n  + ") == 1


# One LoadError pasted whole under Ruby 3.0 (jekyll issue 9078) and cut to its first line,
# which Ruby before 3.1 prints at the caller's line with Kernel#require's name (Libera-Chat's
# site, issue 96).
JEKYLL_WHOLE = """\
<internal:/usr/lib/ruby/3.0.0/rubygems/core_ext/kernel_require.rb>:85:in `require': cannot load such file -- webrick (LoadError)
        from <internal:/usr/lib/ruby/3.0.0/rubygems/core_ext/kernel_require.rb>:85:in `require'
        from /home/user/.local/share/gem/ruby/3.0.0/gems/jekyll-4.2.2/lib/jekyll/commands/serve/servlet.rb:3:in `<top (required)>'
        from /home/user/.local/share/gem/ruby/3.0.0/gems/jekyll-4.2.2/lib/jekyll/commands/serve.rb:179:in `require_relative'
        from /home/user/.local/share/gem/ruby/3.0.0/gems/jekyll-4.2.2/lib/jekyll/commands/serve.rb:179:in `setup'
"""  # noqa: E501
JEKYLL_CUT = """\
`/usr/local/lib/ruby/gems/3.0.0/gems/jekyll-3.9.0/lib/jekyll/commands/serve/servlet.rb:3:in `require': cannot load such file -- webrick (LoadError)`
"""  # noqa: E501


def test_a_ruby_library_is_signed_by_the_file_it_failed_in() -> None:
    whole, cut_short = parsed(JEKYLL_WHOLE), parsed(JEKYLL_CUT)
    assert V3.sign(whole).value != V3.sign(cut_short).value
    signed = V4.sign(whole), V4.sign(cut_short)
    assert signed[0].value == signed[1].value
    assert signed[0].basis == "library-frames"
    shown = explain(signed[1])
    assert "+ [0] jekyll/lib/jekyll/commands/serve/servlet  (" in shown
    assert "signed by its file" in shown


def test_the_runtimes_own_files_never_stand_for_a_library() -> None:
    """A chain of the standard library's frames only is still signed by its methods."""
    text = (
        "/usr/lib/ruby/3.0.0/net/http.rb:987:in `initialize': Connection refused - connect(2)"
        ' for "localhost" port 80 (Errno::ECONNREFUSED)\n'
        "\tfrom /usr/lib/ruby/3.0.0/net/http.rb:987:in `open'\n"
        "\tfrom /usr/lib/ruby/3.0.0/net/http.rb:987:in `block in connect'\n"
    )
    signed = V4.sign(parsed(text))
    assert signed.basis == "library-frames"
    shown = explain(signed)
    assert "+ [0] net/http:initialize  (" in shown
    assert "+ [0] net/http:open  (" in shown
    assert "signed by its file" not in shown


# PHP's uncaught error copied from a browser onto one line (StudiousMe issue 2), as PHP's CLI
# prints it, and an error handler's JSON record of another (UnityHPC account-portal PR 750).
PHP_ONE_LINE = (
    "Fatal error: Uncaught Error: Call to undefined function mysql_connect() in "
    "/opt/lampp/htdocs/st/userlogin.php:66 Stack trace: #0 {main} thrown in "
    "/opt/lampp/htdocs/st/userlogin.php on line 66\n"
)
PHP_PRINTED = (
    "PHP Fatal error:  Uncaught Error: Call to undefined function mysql_connect() in "
    "/opt/lampp/htdocs/st/userlogin.php:66\nStack trace:\n#0 {main}\n"
    "  thrown in /opt/lampp/htdocs/st/userlogin.php on line 66\n"
)
PHP_JSON = (
    "`[Wed Jun 17 18:38:20.682892 2026] [php:notice] [pid 25] [client 172.18.0.1:58194] internal"
    ' server error: {"message":"","error":{"class":"DivisionByZeroError","msg":"Division by'
    ' zero","trace":["#0 {main}"]},"REMOTE_USER":"user@example.com","REMOTE_ADDR":"172.18.0.1",'
    '"errorid":"6a32e99ca6b59"}, referer: http://127.0.0.1:8000/panel/account.php`\n'
)


def mail(body: str) -> bytes:
    return (
        "From: portal@example.com\r\nTo: helpdesk@example.com\r\nSubject: error\r\n"
        "Message-ID: <php-1@example.com>\r\n\r\n" + body
    ).encode()


def test_a_php_error_on_one_line_is_named_as_php_printed_it() -> None:
    one_line, printed = parsed(PHP_ONE_LINE), parsed(PHP_PRINTED)
    assert one_line.exceptions[0].type == "<unknown>"  # the parser reads no header on one line
    assert V3.sign(one_line).value != V3.sign(printed).value
    signed = V4.sign(one_line)
    assert signed.value == V4.sign(printed).value
    assert signed.exception_types == ("Error",)
    assert signed.title == "Error: Call to undefined function mysql_connect()"


def test_an_error_record_in_json_is_named_by_its_class_and_message() -> None:
    record = parsed(PHP_JSON)
    signed = V4.sign(record)
    assert signed.exception_types == ("DivisionByZeroError",)
    where = '"location":"/var/www/account.php:15",'
    located = PHP_JSON.replace('"trace"', where + '"trace"')
    assert V4.sign(parsed(located)).value == signed.value
    assert V3.sign(record).exception_types == ("<unknown>",)


@pytest.mark.parametrize("body", [PHP_ONE_LINE, PHP_JSON])
def test_a_named_php_printout_is_a_report_only_where_the_version_reads_its_name(
    body: str,
) -> None:
    """Under v3 every such error would be signed nameless, as one defect: not reports there."""
    report = parse_message(mail(body))
    assert report.kind is Kind.ERROR_REPORT
    assert report.reason == "exception named by its php printout"
    v3 = ParseSettings(signature_version="v3")
    assert parse_message(mail(body), v3).kind is Kind.OTHER
    for version, kind in (("v3", Kind.OTHER), ("v4", Kind.ERROR_REPORT)):
        config = config_from_dict({"signature": {"version": version}})
        settings = Pipeline(config, RuleSet()).parse_settings
        assert parse_message(mail(body), settings).kind is kind


def test_a_mention_of_an_uncaught_error_without_a_trace_is_no_report() -> None:
    body = "Yesterday we saw Uncaught Error: Call to undefined function x() in /a/b.php:3 again.\n"
    assert parse_message(mail(body)).kind is Kind.OTHER


@pytest.mark.parametrize(
    ("text", "old", "new"),
    [
        (cut(WPF, 3), "Cyclic reference found", "Recursion detected"),
        (cut(WPF, 3), ".OnResourcesChanged(", ".OnThemeChanged("),
        (JEKYLL_CUT, "serve/servlet.rb", "serve/live_reload_reactor.rb"),
        (JEKYLL_CUT, "-- webrick", "-- em-websocket"),
        (PHP_ONE_LINE, "mysql_connect()", "mysql_query()"),
        (PHP_ONE_LINE, "Uncaught Error:", "Uncaught TypeError:"),
    ],
)
def test_what_v4_signs_by_still_tells_bugs_apart(text: str, old: str, new: str) -> None:
    """Another message, frame, file or type than the one v4 now signs by is another bug."""
    assert old in text
    assert V4.sign(parsed(text.replace(old, new))).value != V4.sign(parsed(text)).value


# One crash of one app on two platforms, as App Center exported it to GitHub (SimpleWeather-NET
# issues 1186 and 1187): the same namespaced Program.Main, in each platform's folder.
def app_center(platform: str, namespace: str = "SimpleWeather.Maui.") -> str:
    return (
        "### Stacktrace ###\n\n"
        f"{namespace}Program.Main(String[] args) in /Users/USER/SimpleWeather/SimpleWeather.Maui"
        f"/Maui/SimpleWeather.Maui/Platforms/{platform}/Program.cs:line 13;SimpleWeather.Maui\n\n"
        "### Reason ###\n\n"
        "System.NullReferenceException: Object reference not set to an instance of an object.\n"
    )


def test_a_namespaced_entry_point_is_one_program_in_any_folder() -> None:
    ios, mac = parsed(app_center("iOS")), parsed(app_center("MacCatalyst"))
    assert V3.sign(ios).value != V3.sign(mac).value
    signed = V4.sign(ios)
    assert signed.basis == "entry-point"
    assert signed.value == V4.sign(mac).value


@pytest.mark.parametrize(
    ("language_text", "folders"),
    [
        # No namespace: the file's folder is all that tells two programs apart.
        (lambda folder: app_center(folder, namespace=""), ("iOS", "MacCatalyst")),
        # Go's main.main is every program's: its folder says which.
        (
            lambda folder: (
                "panic: runtime error: invalid memory address or nil pointer dereference\n\n"
                "goroutine 1 [running]:\n"
                f"main.main()\n\t/home/user/{folder}/main.go:12 +0x1d\n"
            ),
            ("mhsendmail", "njump"),
        ),
    ],
)
def test_an_entry_point_that_names_no_program_still_hashes_its_file(
    language_text: Callable[[str], str], folders: tuple[str, str]
) -> None:
    one, other = (parsed(language_text(folder)) for folder in folders)
    assert V4.sign(one).basis == "entry-point"
    assert V4.sign(one).value != V4.sign(other).value


_PHP_PIECES = st.sampled_from(
    [
        "Uncaught ",
        "Error: ",
        "TypeError: ",
        "Fatal error: ",
        " in ",
        "/var/www/a.php",
        ":66",
        "(12)",
        " Stack trace:",
        " #0 {main}",
        "\n",
        "\n\n",
        " ",
        '"class":"',
        '","msg":"',
        '\\"',
        "\\u00e9",
        "\\x",
        '"',
        "x",
        "é",
        ".php",
    ]
)


@given(st.lists(_PHP_PIECES, max_size=40).map("".join))
def test_php_names_reads_any_text_without_failing(text: str) -> None:
    """Whatever the pieces, a name is a PHP class name and its message stays bounded."""
    named = php.names(text)
    if named is not None:
        assert named.type and not named.type[0].isdigit()
        assert len(named.message) <= 500
