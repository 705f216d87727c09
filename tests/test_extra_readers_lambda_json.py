"""AWS Lambda Python errors as JSON (``stack.extra.lambda_json``), read as mails carry them:
through ``find_trace``. The first example is verbatim from ``bench/realworld``."""

from __future__ import annotations

from tests.parsers import NO_TRACE_BODY
from triagebot.stack import python
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import lambda_json
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/python/cloudtrail-es-lambda-records-s3-keyerror.txt
PY27 = """```
{
  "stackTrace": [
    [
      "/var/task/s3_lambda_es.py",
      64,
      "lambda_handler",
      "bucket = event['Records'][0]['s3']['bucket']['name']"
    ]
  ],
  "errorType": "KeyError",
  "errorMessage": "'s3'"
}
```
"""

# The python3 runtimes' layout of the same failure: escaped traceback lines.
PY3 = r"""{
  "errorMessage": "'s3'",
  "errorType": "KeyError",
  "stackTrace": [
    "  File \"/var/task/s3_lambda_es.py\", line 64, in lambda_handler\n    bucket = event['Records'][0]['s3']['bucket']['name']\n"
  ]
}
"""  # noqa: E501


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_reads_the_python27_array_layout() -> None:
    trace = _found(PY27)
    assert trace.language == "python"
    assert trace.frame_count == 1
    root = trace.exceptions[0]
    assert (root.type, root.message) == ("KeyError", "'s3'")
    assert (root.frames[0].function, root.frames[0].line) == ("lambda_handler", 64)


def test_frames_key_as_the_python_parser_keys_them() -> None:
    parsed = python.parse(
        "Traceback (most recent call last):\n"
        '  File "/var/task/s3_lambda_es.py", line 64, in lambda_handler\n'
        "KeyError: 's3'\n"
    )
    assert parsed is not None
    frame = _found(PY27).exceptions[0].frames[0]
    assert python.normalize_frame(frame) == python.normalize_frame(parsed.exceptions[0].frames[0])


def test_both_runtimes_layouts_are_the_same_bug() -> None:
    assert SIGNER.sign(_found(PY3)).value == SIGNER.sign(_found(PY27)).value


def test_most_recent_call_first() -> None:
    outer = '[\n "/var/task/app.py",\n 9,\n "lambda_handler",\n "index(event)"\n],\n'
    trace = _found(PY27.replace("[\n    [\n", "[\n" + outer + "    [\n"))
    assert [f.function for f in trace.exceptions[0].frames] == ["lambda_handler"] * 2
    assert [f.line for f in trace.exceptions[0].frames] == [64, 9]


def test_a_lookalike_in_another_handler_is_another_bug() -> None:
    lookalike = PY27.replace("s3_lambda_es.py", "sns_lambda.py")
    assert SIGNER.sign(_found(lookalike)).value != SIGNER.sign(_found(PY27)).value


def test_other_json_is_left_alone() -> None:
    assert lambda_json.read(NO_TRACE_BODY) is None
    node = '{"errorType": "TypeError", "stackTrace": ["TypeError: x", "  at f (/t/i.js:1:2)"]}'
    assert lambda_json.read(node) is None
