"""Bugsnag's Markdown reports (``**Type** in **context**``, the message, ``location - name``
frames) and its notifiers' JSON payloads are read as JVM and .NET traces
(``triagebot.stack.extra.bugsnag``, ``bugsnag_payload``); the Markdown reports also as PHP and Go
traces."""

from __future__ import annotations

import pytest

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import bugsnag, bugsnag_payload
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/java/autoaccounting-datafragment-loadmoredata-npe.txt
LOAD_MORE = """## Error in 自动记账

**java.lang.NullPointerException** in **MainActivity**
Attempt to invoke virtual method 'java.lang.String net.ankio.auto.database.table.AppData.hash()' on a null object reference

[View on Bugsnag](https://app.bugsnag.com/auto/zi-dong-ji-zhang/errors/663ef0afae33270007f4ecbe?event_id=663ef0ae00e6d65550bb0000&i=gh&m=ci)

## Stacktrace

    DataFragment.kt:177 - net.ankio.auto.ui.fragment.DataFragment$loadMoreData$1$1.invokeSuspend

[View full stacktrace](https://app.bugsnag.com/auto/zi-dong-ji-zhang/errors/663ef0afae33270007f4ecbe?event_id=663ef0ae00e6d65550bb0000&i=gh&m=ci)

*Created automatically via Bugsnag*
"""  # noqa: E501

# bench/realworld/traces/java/autoaccounting-datafragment-loadmoredata-npe@980.txt (stack part)
LOAD_MORE_980 = """**java.lang.NullPointerException** in **MainActivity**
Attempt to invoke virtual method 'java.lang.String net.ankio.auto.database.table.AppData.hash()' on a null object reference

[View on Bugsnag](https://app.bugsnag.com/auto/zi-dong-ji-zhang/errors/679da3f8efe4771e137d3324?event_id=679da3f70112532ac13d0000&i=gh&m=ci)

## Stacktrace

    DataFragment.kt:226 - net.ankio.auto.ui.fragment.DataFragment$loadMoreData$1$1.invokeSuspend
"""  # noqa: E501

# bench/realworld/traces/dotnet/inkycal-sqlinternalconnection-onerror-timeout@fetchdata.txt
SQL_TIMEOUT = """## Error in InkyCal

**Microsoft.Data.SqlClient.SqlException** in **/fetchdata**
Connection Timeout Expired.  The timeout period elapsed during the post-login phase.  The connection could have timed out while waiting for server to complete the login process and respond; Or it could have timed out while attempting to create multiple active connections.  The duration spent while attempting to connect to this server was - [Pre-Login] initialization=412; handshake=12929; [Login] initialization=0; authentication=0; [Post-Login] complete=1328; 

[View on Bugsnag](https://app.bugsnag.com/noyb-1/inkycal/errors/5f790358aec1710017493acb?event_id=5f79035800614b0f84100000&i=gh&m=ci)

## Stacktrace

    :0 - Microsoft.Data.SqlClient.SqlInternalConnection.OnError(SqlException exception, bool breakConnection, Action<T> wrapCloseInAction)

[View full stacktrace](https://app.bugsnag.com/noyb-1/inkycal/errors/5f790358aec1710017493acb?event_id=5f79035800614b0f84100000&i=gh&m=ci)
"""  # noqa: E501, W291

# bench/realworld/traces/java/frost-jobcancellation-unknown-method.txt (stack part)
UNKNOWN_ONLY = """**kotlinx.coroutines.JobCancellationException** in **unknown method:0**
Job was cancelled

## Stacktrace

    unknown file:0 - unknown method
"""

# bench/realworld/traces/php/faveo-location-getuserlocations-undefined.txt: PHP frames are not
# this reader's (first frame)
PHP = """**ErrorException** in **GET /location**
Undefined variable: data

## Stacktrace

    \\app\\Http\\Controllers\\Agent\\helpdesk\\LocationController.php:41 - App\\Http\\Controllers\\Agent\\helpdesk\\LocationController::getUserLocations
"""  # noqa: E501


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_jvm_report_is_read_as_a_java_trace() -> None:
    trace = _found(LOAD_MORE)
    assert (trace.language, trace.frame_count) == ("java", 1)
    assert trace.root is not None and trace.root.type == "java.lang.NullPointerException"
    assert trace.root.message.startswith("Attempt to invoke virtual method")
    top = trace.root.frames[0]
    assert (top.module, top.function, top.file, top.line) == (
        "net.ankio.auto.ui.fragment.DataFragment$loadMoreData$1$1",
        "invokeSuspend",
        "DataFragment.kt",
        177,
    )


def test_another_build_is_the_same_bug() -> None:
    assert SIGNER.sign(_found(LOAD_MORE_980)).value == SIGNER.sign(_found(LOAD_MORE)).value


def test_report_and_stack_trace_of_one_crash_are_the_same_bug() -> None:
    """The frames are the JVM parser's own: the crash mailed as ``printStackTrace`` groups."""
    printed = (
        "java.lang.NullPointerException: Attempt to invoke virtual method 'java.lang.String "
        "net.ankio.auto.database.table.AppData.hash()' on a null object reference\n"
        "\tat net.ankio.auto.ui.fragment.DataFragment$loadMoreData$1$1.invokeSuspend"
        "(DataFragment.kt:177)\n"
    )
    assert SIGNER.sign(_found(printed)).value == SIGNER.sign(_found(LOAD_MORE)).value


def test_lookalike_crash_is_another_bug() -> None:
    """Same exception and message, another failing function."""
    other = LOAD_MORE.replace("$loadMoreData$1$1.invokeSuspend", "$refresh$1$1.invokeSuspend")
    assert SIGNER.sign(_found(other)).value != SIGNER.sign(_found(LOAD_MORE)).value


def test_report_that_lost_its_line_breaks_is_the_same_bug() -> None:
    joined = " ".join(line.strip() for line in LOAD_MORE.split("\n") if line.strip())
    assert SIGNER.sign(_found(joined)).value == SIGNER.sign(_found(LOAD_MORE)).value


def test_dotnet_report_is_read_as_a_dotnet_trace() -> None:
    trace = _found(SQL_TIMEOUT)
    assert (trace.language, trace.frame_count) == ("dotnet", 1)
    assert trace.root is not None and trace.root.type == "Microsoft.Data.SqlClient.SqlException"
    top = trace.root.frames[0]
    assert (top.module, top.function, top.file) == (
        "Microsoft.Data.SqlClient.SqlInternalConnection",
        "OnError",
        None,
    )


def test_dotnet_report_with_other_timings_is_the_same_bug() -> None:
    """The driver's message carries per-connection timings; they do not split the bug."""
    other = SQL_TIMEOUT.replace(
        "initialization=412; handshake=12929", "initialization=50; handshake=13283"
    )
    assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(SQL_TIMEOUT)).value


def test_reports_without_a_frame_of_its_languages_are_not_read() -> None:
    assert bugsnag.read(UNKNOWN_ONLY) is None
    assert (
        bugsnag.read(PHP.replace("LocationController.php:41", "location_controller.rb:41")) is None
    )
    assert bugsnag.read("## Stacktrace\n\n    Foo.java:1 - a.b.C.d\n") is None  # no exception


# bench/realworld/traces/java/glpi-httpinventory-run-npe@json.txt (the exception object)
PAYLOAD = """```JSON
{
  "events": [
    {
      "exceptions": [
        {
          "errorClass": "java.lang.NullPointerException",
          "message": "Attempt to invoke virtual method 'java.lang.String java.net.URL.toExternalForm()' on a null object reference",
          "stacktrace": [
            {
              "method": "org.flyve.inventory.agent.utils.HttpInventory$1.run",
              "file": "HttpInventory.java",
              "lineNumber": 160,
              "inProject": true
            },
            {
              "method": "java.lang.Thread.run",
              "file": "Thread.java",
              "lineNumber": 818
            }
          ]
        }
      ],
"""  # noqa: E501


def test_payload_is_read_as_a_java_trace() -> None:
    trace = _found(PAYLOAD)
    assert (trace.language, trace.frame_count) == ("java", 2)
    assert trace.root is not None and trace.root.type == "java.lang.NullPointerException"
    assert trace.root.message.startswith("Attempt to invoke virtual method 'java.lang.String")
    assert [(f.module, f.function, f.line) for f in trace.root.frames] == [
        ("org.flyve.inventory.agent.utils.HttpInventory$1", "run", 160),
        ("java.lang.Thread", "run", 818),
    ]


def test_payload_and_stack_trace_of_one_crash_are_the_same_bug() -> None:
    printed = (
        "java.lang.NullPointerException: Attempt to invoke virtual method 'java.lang.String "
        "java.net.URL.toExternalForm()' on a null object reference\n"
        "\tat org.flyve.inventory.agent.utils.HttpInventory$1.run(HttpInventory.java:160)\n"
        "\tat java.lang.Thread.run(Thread.java:818)\n"
    )
    assert SIGNER.sign(_found(printed)).value == SIGNER.sign(_found(PAYLOAD)).value


def test_payload_cut_inside_a_frame_keeps_the_frames_before() -> None:
    cut = PAYLOAD[: PAYLOAD.index('"file": "Thread.java"')]
    trace = _found(cut)
    assert trace.frame_count == 1
    assert SIGNER.sign(trace).value != SIGNER.sign(_found(PAYLOAD)).value  # one frame less
    other_build = PAYLOAD.replace('"lineNumber": 160', '"lineNumber": 171')
    assert SIGNER.sign(_found(other_build)).value == SIGNER.sign(_found(PAYLOAD)).value


def test_payload_lookalike_is_another_bug() -> None:
    other = PAYLOAD.replace("HttpInventory$1.run", "HttpInventory$1.send")
    assert SIGNER.sign(_found(other)).value != SIGNER.sign(_found(PAYLOAD)).value


def test_payload_causes_are_read_as_the_chain() -> None:
    cause = PAYLOAD.replace(
        "          ]\n        }\n      ],",
        '          ]\n        },\n        {\n          "errorClass": "java.io.IOException",\n'
        '          "message": "closed",\n          "stacktrace": [\n            {"method": '
        '"org.flyve.inventory.agent.utils.Http.open", "file": "Http.java", "lineNumber": 9}\n'
        "          ]\n        }\n      ],",
    )
    trace = _found(cause)
    assert [exc.type for exc in trace.exceptions] == [
        "java.lang.NullPointerException",
        "java.io.IOException",
    ]
    assert trace.root is not None and trace.root.frames[0].function == "open"


def test_text_without_a_payload_is_not_read() -> None:
    assert bugsnag_payload.read('{"errorClass": "java.lang.Error", "message": "x"}') is None


# bench/realworld/traces/php/faveo-location-getuserlocations-undefined.txt (links cut)
LOCATION = """## Error in Faveo Community

**Symfony\\Component\\Debug\\Exception\\FatalThrowableError** in **GET /unittest/location**
Call to undefined function App\\Model\\helpdesk\\AMS\\int()

[View on Bugsnag](https://app.bugsnag.com/ladybird-web-solution-pvt-ltd/faveo-community/errors)

## Stacktrace

    \\app\\Model\\helpdesk\\AMS\\location.php:19 - App\\Model\\helpdesk\\AMS\\Location::getUserLocations
    \\app\\Http\\Controllers\\LocationController.php:36 - App\\Http\\Controllers\\LocationController::getlocations
    \\app\\Http\\Middleware\\LanguageMiddleware.php:33 - App\\Http\\Middleware\\LanguageMiddleware::handle
    \\app\\Http\\Middleware\\VerifyCsrfToken.php:33 - App\\Http\\Middleware\\VerifyCsrfToken::handle

[View full stacktrace](https://app.bugsnag.com/ladybird-web-solution-pvt-ltd/faveo-community/errors)
"""  # noqa: E501
# bench/realworld/traces/php/faveo-location-getuserlocations-undefined@6040.txt: the same bug
LOCATION_6040 = LOCATION.replace("AMS\\int()", "AMS\\get()").replace(
    "location.php:19", "location.php:20"
)
# bench/realworld/traces/php/faveo-dashboard-index-undefined-index.txt (links cut)
DASHBOARD = """**ErrorException** in **GET /faveo-helpdesk-master/public/index.php/dashboard**
Undefined index: USER

## Stacktrace

    \\app\\Http\\Controllers\\Agent\\helpdesk\\DashboardController.php:47 - Illuminate\\Foundation\\Bootstrap\\HandleExceptions::handleError
    \\app\\Http\\Controllers\\Agent\\helpdesk\\DashboardController.php:47 - App\\Http\\Controllers\\Agent\\helpdesk\\DashboardController::index
    \\app\\Http\\Middleware\\CheckRoleAgent.php:25 - App\\Http\\Middleware\\CheckRoleAgent::handle
"""  # noqa: E501
# bench/realworld/traces/php/faveo-welcomepage-index-undefined-index.txt: the look-alike, same
# message and handler, another controller
WELCOME = DASHBOARD.replace("Agent\\helpdesk\\DashboardController", "WelcomepageController")
# bench/realworld/traces/go/eris-main-panic-bugsnag.txt (link cut)
ERIS = """**panic** in **main.go:8**
whatever

## Stacktrace

    main.go:8 - main
"""


def test_php_export_is_a_php_trace_named_like_the_parser_names_it() -> None:
    trace = find_trace(LOCATION)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("php", 4)
    root = trace.exceptions[0]
    assert root.type == "Symfony\\Component\\Debug\\Exception\\FatalThrowableError"
    assert root.message == "Call to undefined function App\\Model\\helpdesk\\AMS\\int()"
    signature = SIGNER.sign(trace)
    assert signature.in_app_frames[:2] == (
        "App\\Model\\helpdesk\\AMS\\Location::getUserLocations",
        "App\\Http\\Controllers\\LocationController::getlocations",
    )


def test_framework_frame_on_top_is_a_library_frame() -> None:
    trace = find_trace(DASHBOARD)
    assert trace is not None
    assert SIGNER.sign(trace).title == "ErrorException in DashboardController.index"


def test_same_bug_filed_twice_is_one_signature_and_look_alike_another() -> None:
    assert _value(LOCATION) == _value(LOCATION_6040)
    assert _value(DASHBOARD) != _value(WELCOME)


def test_export_that_lost_its_line_breaks_is_read_the_same() -> None:
    joined = " ".join(line.strip() for line in LOCATION.split("\n") if line.strip())
    assert _value(joined) == _value(LOCATION)


def test_go_export_names_the_package_by_the_file_folder() -> None:
    trace = find_trace(ERIS)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("go", 1)
    assert (trace.exceptions[0].type, trace.exceptions[0].message) == ("panic", "whatever")
    signature = SIGNER.sign(trace)
    assert signature.in_app_frames == ("main.main",)
    nested = ERIS.replace("main.go:8 - main", "github.com/eris-ltd/eris/perform/chain.go:12 - Boot")
    trace = find_trace(nested)
    assert trace is not None
    assert SIGNER.sign(trace).in_app_frames == ("github.com/eris-ltd/eris/perform.Boot",)


@pytest.mark.parametrize(
    "text",
    [
        LOCATION.replace("## Stacktrace", "## Breadcrumbs"),
        LOCATION.replace("**Symfony", "Symfony").replace("Error** in **GET", "Error in GET"),
        # frames of a language this reader does not name
        ERIS.replace("main.go:8 - main", "app/models/user.rb:8 - save"),
    ],
)
def test_text_without_a_bugsnag_export_is_not_read(text: str) -> None:
    assert bugsnag.read(text) is None


def _value(text: str) -> str:
    return SIGNER.sign(_found(text)).value
