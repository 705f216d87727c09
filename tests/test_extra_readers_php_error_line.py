"""One-line PHP errors with a location and no stack are reports, signed by their file and
message (``triagebot.stack.extra.php_error_line``)."""

from __future__ import annotations

import pytest

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import php_error_line
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/php/buttonmen-responder-undefined-index-notice.txt (lines 1 and 2)
NOTICE = (
    "[Mon Dec 09 17:43:26 2013] [error] [client ELIDED] PHP Notice:  Undefined index: user_id"
    " in /var/www/api/responder.php on line 86, referer: http://alpha.buttonweavers.com/ui/game"
    ".html?game=10"
)
NOTICE_OTHER_LINE = NOTICE.replace("line 86", "line 48").replace("17:43:26", "17:43:53")
# bench/realworld/traces/php/supla-dispatchthermostat-currentdatetime-null.txt
UNCAUGHT = (
    "[22-Oct-2017 11:51:03 UTC] PHP Fatal error:  Uncaught Error: Call to a member function "
    "currentDateTimeInUserTimezone() on null in /var/www/backend/app/commands/"
    "DispatchThermostatCommand.php:49"
)
# bench/realworld/traces/php/symfony-hellocontroller-boo.txt
SYMFONY = (
    ' |ERROR| PHP Uncaught PHP Exception Exception: "boo" at /.../foo/src/Controller/'
    "HelloController.php line 15 "
)
# bench/realworld/traces/php/magento-collection-additem-duplicate-id.txt (cut)
MONOLOG = (
    '[2018-01-11 09:29:22] main.CRITICAL: Item with the same ID "1986" already exists. '
    '{"exception":"[object] (Exception(code: 0): Item (Magento\\\\Catalog\\\\Model\\\\Product'
    '\\\\Interceptor) with the same ID \\"1986\\" already exists. at /home/user/domain.com/'
    'vendor/magento/framework/Data/Collection.php:404)"} []'
)
# bench/realworld/traces/php/magento-collection-additem-duplicate-id@32751.txt (Markdown ate
# the escaping backslashes)
MONOLOG_UNESCAPED = MONOLOG.replace("\\\\", "\\").replace('\\"', '"').replace("1986", "2011")


@pytest.mark.parametrize(
    ("text", "exc_type", "message", "key"),
    [
        (NOTICE, "Notice", "Undefined index: user_id", "api/responder::{main}"),
        (
            UNCAUGHT,
            "Error",
            "Call to a member function currentDateTimeInUserTimezone() on null",
            "commands/DispatchThermostatCommand::{main}",
        ),
        (SYMFONY, "Exception", "boo", "Controller/HelloController::{main}"),
        (
            MONOLOG,
            "Exception",
            'Item (Magento\\Catalog\\Model\\Product\\Interceptor) with the same ID "1986" '
            "already exists.",
            "magento/framework/Data/Collection::{main}",
        ),
    ],
)
def test_one_line_error_is_a_php_trace_of_one_frame(
    text: str, exc_type: str, message: str, key: str
) -> None:
    trace = find_trace(text)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("php", 1)
    root = trace.exceptions[0]
    assert (root.type, root.message) == (exc_type, message)
    signature = SIGNER.sign(trace)
    assert signature.in_app_frames == (key,)
    assert signature.basis == "entry-point"


def test_same_error_on_another_line_or_logged_another_way_is_the_same_bug() -> None:
    assert _value(NOTICE) == _value(NOTICE_OTHER_LINE)
    assert _value(MONOLOG) == _value(MONOLOG_UNESCAPED)


def test_another_message_in_the_same_file_or_the_same_message_elsewhere_is_another_bug() -> None:
    other_index = NOTICE.replace("user_id", "game_id")
    other_file = NOTICE.replace("api/responder.php", "api/dummy_responder.php")
    assert len({_value(NOTICE), _value(other_index), _value(other_file)}) == 3


def test_php5_uncaught_exception_keeps_its_type_and_message() -> None:
    # the PHP 5 wording of an uncaught exception, logged without its stack
    text = (
        "PHP Fatal error:  Uncaught exception 'RuntimeException' with message 'Queue is full' in "
        "/srv/app/src/Queue.php:31"
    )
    trace = php_error_line.read(text)
    assert trace is not None
    assert (trace.exceptions[0].type, trace.exceptions[0].message) == (
        "RuntimeException",
        "Queue is full",
    )


@pytest.mark.parametrize(
    "text",
    [
        # a PHP stack is the parser's
        "PHP Fatal error:  Uncaught Error: boom in /srv/a.php:3\nStack trace:\n#0 {main}",
        # no PHP file named
        "Warning: the disk is almost full in the office on line 3",
        # a location on another line than the error
        "Notice: Undefined index: id\nin /srv/a.php on line 3",
    ],
)
def test_text_without_a_one_line_php_error_is_not_read(text: str) -> None:
    assert php_error_line.read(text) is None


def _value(text: str) -> str:
    trace = find_trace(text)
    assert trace is not None
    return SIGNER.sign(trace).value
