"""Python tracebacks pasted from their middle, the first frame line cut before its path ends or
before its path, are read as Python traces (``triagebot.stack.extra.python_cut``). The reader
came with signature v5: older versions sign what the text gave before it (``Trace.since``).

The excerpts are copied verbatim from the real-trace corpus (``bench/realworld/INDEX.tsv``
names their issue threads)."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from triagebot.stack.detect import find_trace
from triagebot.stack.extra import python_cut
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

V4, V5 = Signer("v4"), Signer("v5")

# TonyZ1Min/yolo-for-k210 issue 7: prose glued to a frame line whose path lost its start.
KERAS = """\
当它在进行训练的时候，会发生报错：Anaconda3\\envs\\yolo\\lib\\site-packages\\keras\\engine\\saving.py", line 1004, in load_weights_from_hdf5_group
    original_keras_version = f.attrs['keras_version'].decode('utf8')
AttributeError: 'str' object has no attribute 'decode'
"""  # noqa: E501
# pytube/pytube issue 1689: only the innermost frame's "line N, in f".
PYTUBE = """\
**Describe the bug**
A clear and concise description of what the bug is.

line 296, in get_throttling_function_name
    raise RegexMatchError(
pytube.exceptions.RegexMatchError: get_throttling_function_name: could not find match for multiple
"""


def found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def test_a_frame_line_cut_inside_its_path_keeps_the_paths_tail() -> None:
    trace = found(KERAS)
    assert (trace.language, trace.root and trace.root.type) == ("python", "AttributeError")
    frame = trace.exceptions[0].frames[0]
    assert frame.file == "Anaconda3\\envs\\yolo\\lib\\site-packages\\keras\\engine\\saving.py"
    assert (frame.module, frame.function, frame.line) == (
        "keras.engine.saving",
        "load_weights_from_hdf5_group",
        1004,
    )


def test_a_frame_line_without_its_path_is_still_a_frame() -> None:
    trace = found(PYTUBE)
    assert trace.root is not None and trace.root.type == "pytube.exceptions.RegexMatchError"
    assert [f.function for f in trace.exceptions[0].frames] == ["get_throttling_function_name"]


def test_the_rest_of_the_traceback_is_read_after_the_cut_line() -> None:
    text = KERAS.replace(
        "AttributeError",
        '  File "/srv/app/train.py", line 12, in load\n    model.load()\nAttributeError',
        1,
    )
    assert [f.function for f in found(text).exceptions[0].frames] == [
        "load",
        "load_weights_from_hdf5_group",
    ]


def test_versions_before_the_reader_sign_the_text_as_it_read_before() -> None:
    trace = found(KERAS)
    assert trace.since == "v5" and trace.first_reading is not None
    assert V4.sign(trace).value == V4.sign(trace.first_reading).value
    assert V5.sign(trace).title == (
        "AttributeError in saving.load_weights_from_hdf5_group: <str> object has no attribute <str>"
    )


def test_prose_that_names_a_line_is_not_a_trace() -> None:
    assert python_cut.read("The error is on line 5, in main\nplease check\n") is None
    assert python_cut.read('see "x.py", line 5, in main\n\nthanks\n') is None


def test_many_lookalike_lines_are_read_in_bounded_time() -> None:
    text = "line 1, in f\n    x\n" * 20_000
    started = time.perf_counter()
    assert python_cut.read(text) is None
    assert time.perf_counter() - started < 1.0


_PIECES = st.sampled_from(
    ["line 3, in f", '.py", ', "\n", "    x()\n", "ValueError: bad", "Traceback", " ", "é", '"']
)


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_reads_any_text_without_failing(text: str) -> None:
    """Whatever the pieces, a trace it reads has frames and names its exception."""
    trace = python_cut.read(text)
    if trace is not None:
        assert trace.frame_count > 0 and trace.root is not None
        assert python_cut.has_marker(text)
