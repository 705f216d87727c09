"""Xdebug's call stacks are read as PHP traces, innermost first, whatever their time and memory
columns say (``triagebot.stack.extra.xdebug``)."""

from __future__ import annotations

import re

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import xdebug
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/php/shc-assignmentpage-processdata-getname-null.txt (cut)
TABLE = """( ! ) Fatal error: Call to a member function getName() on null in /media/projects/PHP/shcFramework/shc/data/commands/web/acp/switchables/assignmentpage.class.php on line 106
Call Stack
# Time    Memory  Function    Location

1   0.0000  232744  {main}( )   ../index.php:0
2   0.0124  778584  RWF\\Request\\RequestHandler::handleRequest( )    ../index.php:25
3   0.0124  778880  RWF\\Request\\RequestHandler->__construct( )  ../requesthandler.class.php:91
4   0.0124  779120  RWF\\Request\\RequestHandler->handleWebRequest( ) ../requesthandler.class.php:133
5   0.0300  799360  RWF\\Request\\AbstractCommand->execute( ) ../requesthandler.class.php:184
6   0.0311  855344  RWF\\Request\\Commands\\PageCommand->executeCommand( ) ../abstractcommand.class.php:77
7   0.0311  856056  SHC\\Command\\Web\\AssignmentPage->processData( )  ../pagecommand.class.php:45
"""  # noqa: E501
# the same error on another run: other times, memory and lines
AGAIN = re.sub(r"0\.0\d{3}  \d{6}", "0.1782  912304", TABLE).replace("line 106", "line 110")
# the same failure in another page's command
OTHER = TABLE.replace("AssignmentPage->processData", "SwitchablesPage->processData")
# Xdebug's lines in error_log under a warning, and its CLI call stack
ERROR_LOG = """PHP Warning:  Undefined variable $job in /srv/app/src/Queue.php on line 31
PHP Stack trace:
PHP   1. {main}() /srv/app/public/index.php:0
PHP   2. App\\Kernel->handle($request = class App\\Request) /srv/app/public/index.php:12
PHP   3. App\\Queue->push($job = 'mail') /srv/app/src/Kernel.php:40
"""
CLI = """Warning: Undefined variable $job in /srv/app/src/Queue.php on line 31
Call Stack:
    0.0001     393000   1. {main}() /srv/app/public/index.php:0
    0.0032     401120   2. App\\Kernel->handle($request = class App\\Request) /srv/app/public/index.php:12
    0.0040     405880   3. App\\Queue->push($job = 'mail') /srv/app/src/Kernel.php:40
"""  # noqa: E501


def test_table_is_a_php_trace_innermost_first() -> None:
    trace = find_trace(TABLE)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("php", 7)
    root = trace.exceptions[0]
    assert (root.type, root.message) == (
        "Fatal error",
        "Call to a member function getName() on null",
    )
    signature = SIGNER.sign(trace)
    assert signature.in_app_frames[:2] == (
        "SHC\\Command\\Web\\AssignmentPage::processData",
        "RWF\\Request\\Commands\\PageCommand::executeCommand",
    )


def test_frame_cap_keeps_the_innermost_calls() -> None:
    trace = xdebug.read(TABLE, max_frames=2)
    assert trace is not None
    assert [f.function for f in trace.exceptions[0].frames] == ["processData", "executeCommand"]
    assert trace.dropped == 5


def test_same_error_on_another_run_is_one_signature_and_another_page_another() -> None:
    assert _value(TABLE) == _value(AGAIN)
    assert _value(TABLE) != _value(OTHER)


def test_text_layouts_give_the_same_frames() -> None:
    from_log, from_cli = find_trace(ERROR_LOG), find_trace(CLI)
    assert from_log is not None and from_cli is not None
    assert from_log.frame_count == from_cli.frame_count == 3
    assert SIGNER.sign(from_log).value == SIGNER.sign(from_cli).value
    assert SIGNER.sign(from_log).in_app_frames == ("App\\Queue::push", "App\\Kernel::handle")
    assert from_log.exceptions[0].type == "Warning"


def test_stack_under_php_own_trace_keeps_v1() -> None:
    """PHP's own one-frame trace above Xdebug's stack: v2 reads the richer stack, v1 keeps
    signing what the parser read before the Xdebug reader existed."""
    own = "PHP Fatal error:  Uncaught Exception: Queue is full in /srv/app/src/Queue.php:31\n"
    own += "Stack trace:\n#0 {main}\n  thrown in /srv/app/src/Queue.php on line 31\n"
    trace = find_trace(own + ERROR_LOG.partition("\n")[2])
    assert trace is not None
    assert (trace.frame_count, trace.exceptions[0].type) == (3, "Exception")
    first = trace.first_reading
    # the throw site and "{main}": both skipped when signing, so v1's value is what it was
    assert first is not None and (first.frame_count, first.exceptions[0].type) == (2, "Exception")
    assert Signer("v1").sign(trace).value == Signer("v1").sign(first).value


def test_call_stack_mentioned_in_prose_is_not_read() -> None:
    assert xdebug.read("The Call Stack panel was empty.\n\nfoo() bar.php:3\n") is None
    assert xdebug.read("Call Stack\nnothing here\n") is None


def _value(text: str) -> str:
    trace = find_trace(text)
    assert trace is not None
    return SIGNER.sign(trace).value
