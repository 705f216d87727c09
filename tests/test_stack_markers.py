"""The marker scan never changes a result: a parser or extra reader whose marker a text lacks
finds nothing in it, so ``find_trace`` with the scan equals ``find_trace`` with every parser and
reader run (``scan=False``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.stack import Language, Reader
from triagebot.stack.detect import LANGUAGES, find_trace
from triagebot.stack.extra import READERS
from triagebot.stack.unwrap import unwrap

REPO = Path(__file__).resolve().parent.parent
#: Trace and non-report corpora, read as text, and mails, read as triagebot reads them.
TEXT_FOLDERS = ("bench/heldout", "bench/realworld", "tests/data")
MAIL_FOLDERS = ("samples", "tests/mails", "tests/corpus")

#: Lines of every language's traces (frames of each layout, headers, chain and section lines),
#: and of the mails around them.
FRAGMENTS = {
    "dotnet": (
        "System.InvalidOperationException: Sequence contains no elements",
        "   at Acme.Cases.CaseViewModel.Load(Int32 id) in C:\\src\\CaseViewModel.cs:line 42",
        "   bei Acme.X.Load(Object , Object[] ) in C:\\src\\X.cs:Zeile 7",
        "  at Acme.X.Load (System.Int32 id) [0x00012] in /src/X.cs:42",
        "  at (wrapper managed-to-native) System.Object.Invoke(object,object[])",
        " ---> System.IO.IOException: Disk full",
        "   --- End of inner exception stack trace ---",
        "---> (Inner Exception #1) System.IO.IOException: Disk full<---",
        "NullReferenceException: Object reference not set to an instance of an object",
        "PlayerController.Update () (at Assets/Scripts/PlayerController.cs:25)",
        "Task.Execute () [0x00000] in <00000000000000000000000000000000>:0",
        "UnityEngine.Debug:Log (object)",
        "Rethrow as TargetInvocationException: Exception has been thrown",
    ),
    "java": (
        'Exception in thread "main" java.lang.IllegalStateException: Queue full',
        "\tat com.acme.Foo.bar(Foo.java:42)",
        "\tat java.base/java.lang.Thread.run(Thread.java:833)",
        "\tat\tcom.acme.Worker.run(Worker.java:7)",
        "\tat com.acme.Foo$$Lambda$123/0x0000000801234.apply(Unknown Source)",
        "Caused by: java.io.IOException: Broken pipe",
        "\tSuppressed: java.io.IOException: close",
        "\t... 12 more",
        "11-27 10:00:01.123  1234  1234 E AndroidRuntime: \tat com.acme.Main.onCreate(Main.kt:9)",
    ),
    "python": (
        "Traceback (most recent call last):",
        '  File "/srv/app/cases/views.py", line 12, in load',
        '  File "<frozen importlib._bootstrap>", line 1, in _find',
        "    return Case.objects.get(pk=pk)",
        "ValueError: invalid literal for int()",
        "During handling of the above exception, another exception occurred:",
        "  | ExceptionGroup: boom (1 sub-exception)",
        "Exception Type: ZeroDivisionError at /x/",
    ),
    "javascript": (
        "TypeError: Cannot read properties of undefined (reading 'id')",
        "    at Object.load (/srv/app/src/cases.js:42:17)",
        "    at async Promise.all (index 0)",
        "    at /srv/app/x.js:1:2",
        "    at node:internal/process/task_queues:95:5 {",
        "  [cause]: Error: connect ECONNREFUSED",
        "load@https://app.example.com/static/js/main.3f9a1c.js:2:1234",
        "Uncaught (in promise) Error: x",
    ),
    "go": (
        "panic: runtime error: index out of range [5] with length 3",
        "goroutine 1 [running]:",
        "main.(*Server).handle(0xc000010000, {0x5c2f80, 0xc000120000})",
        "\t/home/u/app/server.go:42 +0x1d",
        "created by net/http.(*Server).Serve in goroutine 1",
        "fatal error: concurrent map writes",
    ),
    "ruby": (
        "/srv/app/models/user.rb:12:in `save': undefined method `x' for nil (NoMethodError)",
        "\tfrom /srv/app/x.rb:5:in 'User#save'",
        "NoMethodError (undefined method `name' for nil:NilClass):",
        "activerecord (7.0.4) lib/active_record/core.rb:284:in `find'",
        "[req-1a2b] app/controllers/x_controller.rb:10:in `show'",
    ),
    "php": (
        "PHP Fatal error:  Uncaught Exception: msg in /var/www/x.php:12",
        "Stack trace:",
        "#0 /var/www/html/app/Y.php(5): App\\Service->load(Array)",
        "#1 [internal function]: f()",
        "#2 {main}",
        "Next RuntimeException: m in /var/www/x.php:3",
        "  thrown in /var/www/x.php on line 12",
    ),
    "mail": (
        "",
        "Hello team,",
        "at the moment the client is slow (new) in the search window",
        "in foo(bar) at baz (qux)",
        "Time: 10:30:45 Version: 4.2.1",
        "[2026-11-27 10:00:01] ERROR app: ",
        "> ",
        "x" * 320,
    ),
}
#: Lines of every extra reader's format (``stack.extra``), from the excerpts its tests read, by
#: the reader's module.
READER_FRAGMENTS = {
    "appcenter": (
        "### Stacktrace ###",
        "SimpleWeather.Maui.App..ctor() in /Users/u/App.xaml.cs:line 88;SimpleWeather.Maui.App",
        "在 Acme.MessageBox..ctor(String Text, String Caption);Acme.MessageBox",
        "Contoso.Demo.Page.Trigger () [0x0001b] in <0c185152babc4929909e2e2b7cc15966>:0;Contoso",
        "### Reason ###",
        "System.NullReferenceException: Object reference not set to an instance of an object.",
    ),
    "bugsnag": (
        "**java.lang.NullPointerException** in **MainActivity**",
        "Attempt to invoke virtual method 'java.lang.String AppData.hash()' on a null object",
        "[View on Bugsnag](https://app.bugsnag.com/auto/errors/663ef0afae33270007f4ecbe)",
        "## Stacktrace",
        "    DataFragment.kt:177 - net.ankio.auto.ui.fragment.DataFragment$loadMoreData$1.invoke",
        "    :0 - Microsoft.Data.SqlClient.SqlInternalConnection.OnError(SqlException exception)",
        "    \\app\\Http\\Controllers\\Places.php:47 - App\\Http\\Controllers\\Places::index",
        "    main.go:8 - main",
    ),
    "bugsnag_dashboard": (
        "java.lang.NullPointerException \u00b7LauncherAttempt to invoke virtual method 'x'",
        "--",
        "HttpInventory.java:160 \u00b7 org.flyve.inventory.agent.utils.HttpInventory$1.run",
        "Thread.java:818 \u00b7 java.lang.Thread.run",
    ),
    "bugsnag_payload": (
        '"exceptions": [',
        '{"errorClass": "java.lang.NullPointerException",',
        '"message": "Attempt to invoke virtual method on a null object reference",',
        '"stacktrace": [',
        '{"method": "org.flyve.agent.HttpInventory$1.run", "file": "HttpInventory.java",'
        ' "lineNumber": 160, "inProject": true},',
        '{"method": "java.lang.Thread.run", "file": "Thread.java", "lineNumber": 818}',
        "]}]",
        '{"errorClass":"java.lang.IllegalStateException","message":"closed","stacktrace":['
        '{"method":"a.B.c","file":"B.java","lineNumber":3}]}',
    ),
    "heap_dump": (
        "  at java.lang.OutOfMemoryError.<init>()V (OutOfMemoryError.java:48)",
        "  at java.util.Arrays.copyOf([CI)[C (Arrays.java:3332)",
        "  at java.lang.StringBuilder.append(Ljava/lang/String;)Ljava/lang/StringBuilder;"
        " (StringBuilder.java:136)",
    ),
    "play_console": (
        "Exception java.lang.NullPointerException: Attempt to invoke virtual method 'boolean j()'",
        "  at org.cocos2dx.cpp.AppActivity.onCreate (AppActivity.kt:135)",
        "java.lang.RuntimeException: Unable to start activity",
        "  at java.lang.reflect.Method.invoke (Native Method)",
        "java.lang.IllegalStateException: Already attached",
        "com.instabug.bug.view.e.h (e.java:303)",
        "  at android.app.ActivityThread.-wrap14 (ActivityThread.java)",
        "Caused by: java.lang.IllegalStateException: ",
        "  at com.google.firebase.FirebaseApp.getInstance",
    ),
    "ruby_trackers": (
        "**Error type:** `ActiveRecord::RecordNotFound`",
        "**Error message:** `` Couldn't find Account with 'id'=100 ``",
        "[GEM_ROOT]/gems/activerecord-4.2.7.1/lib/active_record/core.rb:155:in find",
        "[PROJECT_ROOT]/app/controllers/admin/accounts_controller.rb:37:in show",
        "**NoMethodError** in **sidekiq#default**",
        "app/workers/get_more_email_worker.rb:7 - perform",
        "569:  [GEM_ROOT]/gems/actionmailer-4.2.3/lib/action_mailer/base.rb -> **deliver**",
        "line 109 of [PROJECT_ROOT]/app/views/report/bulk.html.erb: _app_views_report_bulk",
        "lib/tasks/import.rake:12:in`block in <top>'",
    ),
    "rails_template": (
        "ActionView::TemplateError (undefined method `html_safe' for #<String:0x6229344>) on line"
        " #42 of app/views/home/_index.html.erb:",
        "42:  data: <%= @statuses.inspect.html_safe %>",
        "    app/views/home/_index.html.erb:42",
        "    app/views/home/index.html.erb:3",
    ),
    "js_console": (
        "native-player.js:89 Uncaught TypeError: Cannot read property 'addEventListener' of null",
        "    at e.value (native-player.js:89)",
        "    at index.html:18",
        "    at Array.forEach (<anonymous>)",
    ),
    "js_pretty": (
        "Error: error:0308010C:digital envelope routines::unsupported",
        "  - node:crypto:133 Object.createHash",
        "    node:crypto:133:10",
        "  - webpack:///lib/x.js:7 X.run",
        "    [app]/[webpack]/lib/x.js:7:3",
        "  - hash:71 new Hash",
        "    node:internal/crypto/hash:71:19",
        "  - createHash.js:145 BulkUpdateDecorator.hashFactory",
        "    [cff-initializer-javascript]/[webpack]/lib/util/createHash.js:145:18",
    ),
    "jupyter": (
        "KeyError                                  Traceback (most recent call last)",
        "/tmp/ipykernel_11250/671792838.py in <module>",
        "----> 1 ab_df.loc['2019-04-10']",
        "~/venv/lib/python3.8/site-packages/pandas/core/indexing.py in __getitem__(self, key)",
        "--> 931             return self._getitem_axis(maybe_callable, axis=axis)",
        "KeyError: '2019-04-10'",
        "During handling of the above exception, another exception occurred:",
    ),
    "lambda_json": (
        '{"errorMessage": "\'s3\'", "errorType": "KeyError",',
        '"stackTrace": [',
        '["/var/task/s3_lambda_es.py", 64, "lambda_handler", "bucket = event[\'Records\']"]',
        '"  File \\"/var/task/lambda_function.py\\", line 10, in lambda_handler\\n    x = 1\\n"',
        "]}",
    ),
    "python_cut": (
        'Anaconda3\\envs\\yolo\\site-packages\\keras\\engine\\saving.py", line 1004, in load',
        "    original_keras_version = f.attrs['keras_version'].decode('utf8')",
        "line 296, in get_throttling_function_name",
        "    raise RegexMatchError(",
        "AttributeError: 'str' object has no attribute 'decode'",
    ),
    "python_dedented": (
        "Traceback (most recent call last):",
        'File "/usr/lib/python3.6/json/__init__.py", line 354, in loads',
        "return _default_decoder.decode(s)",
        'File "/usr/lib/python3.6/json/decoder.py", line 355, in raw_decode',
        "obj, end = self.scan_once(s, idx)",
        "json.decoder.JSONDecodeError: Expecting ',' delimiter: line 1 column 777 (char 776)",
    ),
    "react_overlay": (
        "TypeError: Cannot read property 'map' of undefined",
        "Products.render",
        "C:/Users/x/myprojects/shop/src/components/Products.js:5",
        "  4 |     render() {",
        "> 5 |         const productItems = this.props.products.map( product=> (",
        "     | ^  6 |    {products.map(product=>",
        "View compiled",
        "▶ 17 stack frames were collapsed.",
        "(anonymous function)",
        "./src/pages/register.jsx:62",
    ),
    "python_oneline": (
        'Traceback (most recent call last): File "/usr/bin/pip", line 9, in <module> from pip'
        " import main ImportError: cannot import name main",
    ),
    "php_error_line": (
        "[Mon Dec 09 17:43:26 2013] [error] PHP Notice:  Undefined index: user_id in"
        " /var/www/api/responder.php on line 86",
        "PHP Fatal error:  Uncaught Error: Call to a member function x() on null in"
        " /var/www/app/commands/Dispatch.php:49",
        ' |ERROR| PHP Uncaught PHP Exception Exception: "boo" at /src/HelloController.php line 15',
        '{"exception":"[object] (Exception(code: 0): Item exists. at /x/Data/Collection.php:404)"}',
        "PHP Fatal error:  Uncaught exception 'Exception' with message 'x' in /x/y.php5:3",
        "Parse error: syntax error, unexpected '}' in /var/www/x.phtml on line 3",
        "Warning: include(a.inc): failed to open stream in /var/www/lib/util.inc:7",
        "PHP Strict Standards:  Non-static method A::b() in /x/y.php on line 2",
        "Deprecated: Function split() is deprecated in /x/z.php on line 9",
    ),
    "go_c_frames": (
        "panic: runtime error: slice bounds out of range",
        "goroutine 1 [running]:",
        "runtime.panic(0x6a9cc0, 0xa270aa)",
        "    /usr/lib/go/src/pkg/runtime/panic.c:266 +0xb6",
        "main.splitDockerImage(0xc21006e3c0, 0x20)",
        "    GOPATH/src/github.com/jwilder/docker-gen/docker-gen.go:80 +0x251",
        "\t/go/src/pkg/runtime/asm_amd64.s:2232",
    ),
    "delve": (
        'Exception has occurred: panic "runtime error: index out of range [1] with length 1"',
        "Stack:",
        "\t3  0x0000000000c16509 in roaster.initialize",
        "\t    at C:/Projects/Go/src/roaster/roaster.go:88",
        "\t4  0x0000000000c18037 in roaster.Roast",
        "\t    at C:/Projects/Go/src/roaster/roaster.go:238",
    ),
    "go_debug_stack": (
        "        runtime/debug.Stack(0xc4201c4030, 0x9472c1, 0xe)",
        "                /root/.gvm/gos/go1.9.2/src/runtime/debug/stack.go:24 +0xa7",
        "        main.logPanicExitPeer(0xc42028a0c0)",
        "                /var/omnibus/src/github.com/sni/lmd/lmd/peer.go:2754 +0x12f",
    ),
    "go_recovery": (
        "[Macaron] PANIC: assignment to entry in nil map",
        "/usr/lib/go/src/runtime/map_faststr.go:204 (0x4144ac)",
        "/go/src/github.com/acme/server/pkg/db/task.go:86 (0x1c74fe4)",
        "\ttask.(*Store).Update: t.Fields[key] = value",
        "[Recovery] 2020/04/10 - 10:00:00 panic recovered:",
    ),
    "go_calls_only": (
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x28 pc=0x113e0c5]",
        "goroutine 1 [running]:",
        "github.com/catchplay/scaffold.(*scaffold).genFormStaticFle.func1(0xc0000aa580, 0x3b)",
        "created by main.main in goroutine 1",
    ),
    "php_json": (
        '"Exception": "Error", "Message": "Trying to access array offset on value of type null",',
        '"Trace": [{"file": "/var/www/html/test.php", "line": 15, "function": "onAll",'
        ' "class": "OC\\\\Log\\\\ErrorHandler", "type": "::"}]',
        '"class": "Error", "message": "Call to a member function user() on null",',
        '"file": "/app/src/Command/CommentCommand.php:122", "trace": ["/app/src/Kernel.php:75"]',
    ),
    "sentry_markdown": (
        "- **Type**: `*xerrors.noWrapError`",
        "- **Value**: `goroutine panic recovered: something went horribly wrong`",
        "| File | Function | Line | Context |",
        "|------|----------|------|---------|",
        "| `/Users/user/app/lib/errorsim.go` | `simulatePanic.func1.1` | `29` | `ch <- x`|",
        "| `OrderService.java` | `com.acme.orders.OrderService.close` | `88` | `if (a || b)` |",
    ),
    "simplesamlphp": (
        "SimpleSAML\\Error\\Error: UNHANDLEDEXCEPTION",
        "Backtrace:",
        "2 /apps/simplesamlphp/www/_include.php:20 (SimpleSAML_exception_handler)",
        "0 [builtin] (N/A)",
        "Caused by: Symfony\\Component\\ErrorHandler\\Error\\UndefinedFunctionError: x",
        "5 /apps/simplesamlphp/lib/Controller/Config.php:114 (SimpleSAML\\Config::main)",
    ),
    "xdebug": (
        "( ! ) Fatal error: Call to a member function getName() on null in /x/page.php on line 6",
        "Call Stack",
        "# Time    Memory  Function    Location",
        "1   0.0000  232744  {main}( )   ../index.php:0",
        "2   0.0124  778584  RWF\\Request\\RequestHandler::handleRequest( )    ../index.php:25",
        "PHP Stack trace:",
        "PHP   1. {main}() /srv/app/public/index.php:0",
        "    0.0001     393000   1. {main}() /srv/app/public/index.php:0",
    ),
    "wer_clr20r3": (
        "  Problem Event Name:\tCLR20r3",
        "  Problem Signature 01:\tunband.exe",
        "  Problem Signature 04:\tmscorlib",
        "  Problem Signature 07:\t26aa",
        "  Problem Signature 08:\t0",
        "  Problem Signature 09:\tSystem.IO.FileNotFoundException",
        "P1: unband.exe",
    ),
    "tracker_unresolved": (
        "**kotlinx.coroutines.JobCancellationException** in **unknown method:0**",
        "Job was cancelled",
        "## Stacktrace",
        "    unknown file:0 - unknown method",
        "(unknown): Script error.",
        '  File "(unknown)", line unknown, in [anonymous]',
    ),
    "logged_record": (
        "production.ERROR: exception 'Symfony\\Component\\Debug\\Exception\\FatalErrorException'"
        " with message 'Call to a member function first() on null'",
        "F, [2019-08-15T15:10:54.717460 #1] FATAL -- : [e964437f-f02d] ActionView::Template::Error"
        " (undefined method `includes' for nil:NilClass):",
    ),
}
#: What joins the lines: line breaks, blanks (a trace that lost its breaks, or a long line),
#: nothing, or an escaped break.
SEPARATORS = ("\n", "\r\n", " ", "  ", "\t", "", "\\n")

#: Every format's lines: the languages' and the extra readers'.
_FORMATS = [*FRAGMENTS.values(), *READER_FRAGMENTS.values()]
_LINES = st.one_of(
    st.sampled_from([line for lines in _FORMATS for line in lines]),
    st.text(max_size=12),
)
#: A run of one format's lines, all joined alike (a trace as printed, or as it lost its breaks).
_BLOCKS = st.tuples(
    st.sampled_from(_FORMATS).flatmap(
        lambda lines: st.lists(st.sampled_from(lines), min_size=1, max_size=12)
    ),
    st.sampled_from(SEPARATORS),
).map(lambda block: block[1].join(block[0]))
_TEXTS = st.lists(
    st.tuples(st.one_of(_LINES, _BLOCKS), st.sampled_from(SEPARATORS)), max_size=12
).map(lambda parts: "".join(line + separator for line, separator in parts))


def _name(reader: Reader) -> str:
    return reader.read.__module__.rpartition(".")[2]


#: The extra readers by module name, as ``READER_FRAGMENTS`` names them.
BY_MODULE = {_name(reader): reader for reader in READERS}


def _unmarked_parses(text: str) -> list[str]:
    """Ids of the languages, and modules of the extra readers, that find a trace in ``text``
    although it lacks their marker (readers read the unwrapped text too, so both are tried)."""
    unmarked = [
        language.id
        for language in LANGUAGES.values()
        if not language.marker(text) and language.parse(text) is not None
    ]
    for read in {text, unwrap(text)}:
        unmarked += [
            name
            for name, reader in BY_MODULE.items()
            if not reader.marker(read) and reader.read(read) is not None
        ]
    return unmarked


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXTS)
# Traces that hold only the rarer half of a marker: a tab after "at", a quote after ":in ", a
# frame on the text's first line, a .NET trace that lost its line breaks, Firefox frames only,
# "{main}" without a call site, a goroutine that is not the first.
@example("\tat\tcom.acme.Worker.run(Worker.java:7)")
@example("\tfrom /srv/app/x.rb:5:in 'User#save'")
@example("at Acme.X.Load() in C:\\src\\X.cs:line 1")
@example("System.TimeoutException: timed out" + " at Acme.Db.Query(String sql)" * 12)
@example("load@https://app.example.com/main.js:2:1234\nrun@https://app.example.com/main.js:9:1")
@example("Exception: x in /var/www/x.php:12\nStack trace:\n#0 {main}")
@example("panic: x\n\ngoroutine 34 [chan receive]:\nmain.f()\n\t/a/b.go:1 +0x1\n")
# Readers' rarer shapes: an error code before the bare line's colon, a template extension,
# items whose locations hold a colon before their line, a frame of a Bugsnag export without a
# header, the rarer endings of a bare exception line's type.
@example("System.ComponentModel.Win32Exception (0x80004005): Access is denied")
@example("Parse error: syntax error in /var/www/x.phtml on line 3")
@example("x\n  - webpack:///a.js:1 f\n    a.js:1:2\n  - node:b:2 g\n    b.js:2:3\n")
@example("SoapFault: Could not connect to host")
@example("KernelPanic: not syncing")
@example("## Stacktrace\n    DataFragment.kt:177 - a.B.c")
def test_scan_never_changes_the_trace(text: str) -> None:
    """For texts built from lines of every language's traces and every extra reader's formats,
    a parser or reader whose marker is absent finds nothing, and ``find_trace`` with the scan
    equals it with every parser and reader run."""
    assert _unmarked_parses(text) == []
    assert find_trace(text) == find_trace(text, scan=False)


@cache
def corpus() -> dict[str, str]:
    """Every text of the trace corpora and every sample mail's searched text, by path."""
    texts: dict[str, str] = {}
    for folder in TEXT_FOLDERS:
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".txt", ".html"):
                texts[str(path.relative_to(REPO))] = path.read_text("utf-8", errors="replace")
    for folder in MAIL_FOLDERS:
        for path in sorted((REPO / folder).rglob("*.eml")):
            report = parse_message(path.read_bytes(), ParseSettings())
            texts[str(path.relative_to(REPO))] = report.text
    return texts


def test_scan_never_changes_a_corpus_trace() -> None:
    """Every corpus text gives the same trace with and without the scan (whole ``Trace``s,
    frames and first readings included), and no parser or reader finds one where its marker is
    absent."""
    texts = corpus()
    assert len(texts) > 500
    for path, text in texts.items():
        assert _unmarked_parses(text) == [], path
        assert find_trace(text) == find_trace(text, scan=False), path


def test_scan_skips_most_parser_runs_on_real_traces() -> None:
    """On the real-trace corpus, the markers leave fewer than a third of the parser runs (each
    text holds one language's trace, and the markers of the others mostly fail)."""
    texts = [text for path, text in corpus().items() if path.startswith("bench/realworld/")]
    runs = sum(language.marker(text) for text in texts for language in LANGUAGES.values())
    assert runs < len(texts) * len(LANGUAGES) / 3


@pytest.mark.parametrize("name", list(BY_MODULE))
def test_no_run_of_a_format_lines_is_read_without_its_marker(name: str) -> None:
    """Every run of consecutive lines of a reader's fragments, joined by line breaks or blanks,
    is read by no reader or parser whose marker it lacks (each shape of a format alone, which
    random texts seldom hold without another shape's mark)."""
    lines = READER_FRAGMENTS[name]
    for start in range(len(lines)):
        for end in range(start + 1, len(lines) + 1):
            for separator in ("\n", " "):
                text = separator.join(lines[start:end])
                assert _unmarked_parses(text) == [], text


def test_reader_markers_skip_most_reader_runs_on_real_traces() -> None:
    """On the unwrapped texts of the real-trace corpus, the readers' markers leave fewer than one
    reader run in ten (a text holds one format, and literal marks of the others mostly fail)."""
    texts = [unwrap(text) for path, text in corpus().items() if path.startswith("bench/realworld/")]
    runs = sum(reader.marker(text) for text in texts for reader in READERS)
    assert runs < len(texts) * len(READERS) / 10


HELPDESK_MAIL = (
    "Guten Tag,\n\ndie Anwendung ist seit heute Morgen langsam (Version 4.2.1).\n"
    "Beim Öffnen eines Falls dauert es eine Minute.\nViele Grüße, Jürgen\n"
)


@pytest.mark.parametrize("language", list(LANGUAGES.values()), ids=list(LANGUAGES))
def test_marker_fails_on_a_mail_without_a_trace_and_holds_on_a_trace(language: Language) -> None:
    """A marker that always held would skip nothing; one that never held would lose traces."""
    assert not language.marker(HELPDESK_MAIL)
    trace = "\n".join(FRAGMENTS[language.name])
    assert language.marker(trace)
    assert language.parse(trace) is not None


@pytest.mark.parametrize("name", list(BY_MODULE))
def test_reader_marker_fails_on_a_mail_without_a_trace_and_holds_on_its_format(name: str) -> None:
    """Every reader has fragments, and its marker holds on them, where it reads a trace, but not
    on a mail without one."""
    reader = BY_MODULE[name]
    assert not reader.marker(HELPDESK_MAIL)
    trace = "\n".join(READER_FRAGMENTS[name])
    assert reader.marker(trace)
    assert reader.read(trace) is not None
