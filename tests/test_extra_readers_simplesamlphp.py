"""SimpleSAMLphp's logged backtraces are read as PHP exception chains, whatever log prefix
their lines carry (``triagebot.stack.extra.simplesamlphp``)."""

from __future__ import annotations

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import simplesamlphp
from triagebot.stack.signature import Signer

SIGNER = Signer()

_PREFIX = "Aug  7 17:52:05 webapp-10 simplesamlphp-idp[39313]: 3 [6810ea4612] "
# bench/realworld/traces/php/simplesamlphp-admin-config-undefined-function.txt (install path
# shortened)
LINES = [
    "SimpleSAML\\Error\\Error: UNHANDLEDEXCEPTION",
    "Backtrace:",
    "2 /apps/simplesamlphp/www/_include.php:20 (SimpleSAML_exception_handler)",
    "1 /apps/simplesamlphp/vendor/symfony/error-handler/ErrorHandler.php:589"
    " (Symfony\\Component\\ErrorHandler\\ErrorHandler::handleException)",
    "0 [builtin] (N/A)",
    "Caused by: Symfony\\Component\\ErrorHandler\\Error\\UndefinedFunctionError: Attempted to call"
    ' function "callSomething" from namespace "SimpleSAML\\Module\\admin\\Controller".',
    "Backtrace:",
    "5 /apps/simplesamlphp/modules/admin/lib/Controller/Config.php:114"
    " (SimpleSAML\\Module\\admin\\Controller\\Config::main)",
]
SYSLOG = "\n".join(_PREFIX + line for line in LINES)
# the same error logged by another host and request, the controller edited since
AGAIN = (
    SYSLOG.replace("webapp-10", "webapp-3")
    .replace("6810ea4612", "a1b2c3d4e5")
    .replace("Config.php:114", "Config.php:120")
)
# the same undefined function called by another controller
OTHER = SYSLOG.replace("Controller\\Config::main", "Controller\\Federation::main")


def test_backtraces_are_a_php_chain_outermost_first() -> None:
    trace = find_trace(SYSLOG)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("php", 3)
    assert [exc.type for exc in trace.exceptions] == [
        "SimpleSAML\\Error\\Error",
        "Symfony\\Component\\ErrorHandler\\Error\\UndefinedFunctionError",
    ]
    assert SIGNER.sign(trace).title == "UndefinedFunctionError in Config.main"


def test_same_error_is_one_signature_and_another_controller_another() -> None:
    assert _value(SYSLOG) == _value(AGAIN)
    assert _value(SYSLOG) != _value(OTHER)
    assert _value(SYSLOG) == _value("\n".join(LINES))


def test_backtrace_without_frames_or_exception_is_not_read() -> None:
    assert simplesamlphp.read("Backtrace:\nnothing logged\n") is None
    assert simplesamlphp.read("Job done\nBacktrace:\n2 /www/a.php:20 (main)\n") is None


def _value(text: str) -> str:
    trace = find_trace(text)
    assert trace is not None
    return SIGNER.sign(trace).value
