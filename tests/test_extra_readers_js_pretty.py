"""Pretty-printed Node stacks (``stack.extra.js_pretty``), read as mails carry them: through
``find_trace``. The example is verbatim from ``bench/realworld``."""

from __future__ import annotations

from tests.parsers import NO_TRACE_BODY
from triagebot.stack import js
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import js_pretty
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/js/webpack5-bulkupdate-hashfactory-ossl-unsupported.txt
PRETTY = """Error: error:0308010C:digital envelope routines::unsupported

  - hash:71 new Hash
    node:internal/crypto/hash:71:19

  - node:crypto:133 Object.createHash
    node:crypto:133:10

  - createHash.js:1[45](https://github.com/citation-file-format/cff-initializer-javascript/actions/runs/4574192348/jobs/8075506678#step:5:46) BulkUpdateDecorator.hashFactory
    [cff-initializer-javascript]/[webpack]/lib/util/createHash.js:145:18

  - createHash.js:46 BulkUpdateDecorator.update
    [cff-initializer-javascript]/[webpack]/lib/util/createHash.js:46:50

  - RawSource.js:70 RawSource.updateHash
    [cff-initializer-javascript]/[webpack]/[webpack-sources]/lib/RawSource.js:70    :8
"""  # noqa: E501

# The same stack as Node prints it.
V8 = """Error: error:0308010C:digital envelope routines::unsupported
    at new Hash (node:internal/crypto/hash:71:19)
    at Object.createHash (node:crypto:133:10)
    at BulkUpdateDecorator.hashFactory (/home/runner/work/app/node_modules/webpack/lib/util/createHash.js:145:18)
    at BulkUpdateDecorator.update (/home/runner/work/app/node_modules/webpack/lib/util/createHash.js:46:50)
    at RawSource.updateHash (/home/runner/work/app/node_modules/webpack-sources/lib/RawSource.js:70:8)
"""  # noqa: E501


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_reads_items_over_their_locations() -> None:
    trace = _found(PRETTY)
    assert trace.language == "javascript"
    assert trace.frame_count == 5
    root = trace.exceptions[0]
    assert (root.type, root.message) == (
        "Error",
        "error:0308010C:digital envelope routines::unsupported",
    )
    assert [(f.function, f.line) for f in root.frames[:3]] == [
        ("new Hash", 71),
        ("Object.createHash", 133),
        ("BulkUpdateDecorator.hashFactory", 145),
    ]
    assert root.frames[2].file == "/node_modules/webpack/lib/util/createHash.js"


def test_frames_key_as_the_js_parser_keys_them() -> None:
    pretty = [js.normalize_frame(f).key for f in _found(PRETTY).exceptions[0].frames[:4]]
    v8 = [js.normalize_frame(f).key for f in _found(V8).exceptions[0].frames[:4]]
    assert pretty == v8


def test_another_occurrence_is_the_same_bug() -> None:
    other = PRETTY.replace(":145", ":151").replace("cff-initializer-javascript]", "site]")
    assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(PRETTY)).value


def test_a_lookalike_through_other_code_is_another_bug() -> None:
    # bench/realworld/traces/js/webpack4-createhash-ossl-unsupported@notus-react.txt: same error
    lookalike = PRETTY.replace("BulkUpdateDecorator.hashFactory", "module.exports")
    assert SIGNER.sign(_found(lookalike)).value != SIGNER.sign(_found(PRETTY)).value


def test_lists_and_prose_are_left_alone() -> None:
    assert js_pretty.read(NO_TRACE_BODY) is None
    assert js_pretty.read("Steps:\n  - open page:2 of the form\n    then save\n") is None
    assert js_pretty.read("  - a.js:1 f\n    a.js:1:2\n") is None
