"""PHP exceptions logged as JSON objects are read with the PHP parser's frame keys, or by their
file like a one-line error when the trace names no function
(``triagebot.stack.extra.php_json``)."""

from __future__ import annotations

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import php_json
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/php/nextcloud-test-array-offset-null.txt (head; the cut is the
# reporter's)
NEXTCLOUD = """{
  "app": "PHP",
  "url": "/test.php",
  "message": {
    "Exception": "Error",
    "Message": "Trying to access array offset on value of type null at /var/www/html/test.php#15",
    "Code": 0,
    "Trace": [
      {
        "file": "/var/www/html/test.php",
        "line": 15,
        "function": "onAll",
        "class": "OC\\\\Log\\\\ErrorHandler",
        "type": "::",
        "args": [
          8,
          "Trying to access array offset on value of type null",
          {
            "foo": null,
            "bar": null
          }
        ]
      },
      {
        "file": "/var/www/html/test.php",
        "line": 18,
        "function": "bar",
        "args": []
      },
      {
        "file": "/var/www/html/test.php",
        "line": 30,
        "function": "foo",
        "args": []
      }
    ],
"""
# the same entry logged on one line, other lines
NEXTCLOUD_ONE_LINE = " ".join(line.strip() for line in NEXTCLOUD.split("\n")).replace(
    "test.php#15", "test.php#17"
)
# the same error in another function
NEXTCLOUD_OTHER = NEXTCLOUD.replace('"function": "bar"', '"function": "baz"')
# bench/realworld/traces/php/sonata-commentnonmergeable-user-null.txt
SONATA = """{
    "class": "Error",
    "message": "Call to a member function user() on null",
    "code": 0,
    "file": "/app/src/Command/CommentNonMergeablePullRequestsCommand.php:122",
    "trace": [
        "/app/src/Command/CommentNonMergeablePullRequestsCommand.php:75",
        "/app/vendor/symfony/console/Command/Command.php:258",
        "/app/bin/console:42"
    ]
}"""


def test_trace_objects_are_frames_keyed_like_the_parsers() -> None:
    trace = find_trace(NEXTCLOUD)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("php", 3)
    assert trace.exceptions[0].type == "Error"
    assert trace.exceptions[0].message.startswith("Trying to access array offset")
    assert SIGNER.sign(trace).in_app_frames == ("OC\\Log\\ErrorHandler::onAll", "bar", "foo")


def test_same_entry_is_one_signature_and_another_function_another() -> None:
    assert _value(NEXTCLOUD) == _value(NEXTCLOUD_ONE_LINE)
    assert _value(NEXTCLOUD) != _value(NEXTCLOUD_OTHER)


def test_trace_of_locations_is_signed_like_the_one_line_error() -> None:
    trace = find_trace(SONATA)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("php", 1)
    one_line = (
        "PHP Fatal error:  Uncaught Error: Call to a member function user() on null in "
        "/srv/app/src/Command/CommentNonMergeablePullRequestsCommand.php:125"
    )
    assert _value(SONATA) == _value(one_line)
    assert _value(SONATA) != _value(SONATA.replace("user()", "owner()"))


def test_json_without_a_php_exception_is_not_read() -> None:
    assert php_json.read('{"class": "Error", "message": "disk full"}') is None
    assert php_json.read('{"user": "admin", "message": "hello"}') is None


def _value(text: str) -> str:
    trace = find_trace(text)
    assert trace is not None
    return SIGNER.sign(trace).value
