"""IPython/Jupyter/Colab tracebacks (``stack.extra.jupyter``), read as mails carry them: through
``find_trace``. Examples are verbatim excerpts of ``bench/realworld``."""

from __future__ import annotations

from tests.parsers import NO_TRACE_BODY
from triagebot.stack import python
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import jupyter
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/python/marketing-loc-date-keyerror.txt (cut by its reporter)
CUT = """---------------------------------------------------------------------------
KeyError                                  Traceback (most recent call last)
/var/folders/v0/7gtj3bhx74z6w7kx78fhqlmm0000gn/T/ipykernel_11250/671792838.py in <module>
----> 1 ab_df.loc['2019-04-10']

~/PycharmProjects/Springer_Python_Marketing_Analytics/venv/lib/python3.8/site-packages/pandas/core/indexing.py in __getitem__(self, key)
    929
    930             maybe_callable = com.apply_if_callable(key, self.obj)
--> 931             return self._getitem_axis(maybe_callable, axis=axis)
    932
"""  # noqa: E501

# bench/realworld/traces/python/amberdata-stf-column-keyerror.txt, its type line coloured
CHAINED = """\x1b[0;31mKeyError\x1b[0m                                  Traceback (most recent call last)
/opt/anaconda3/lib/python3.8/site-packages/pandas/core/indexes/base.py in get_loc(self, key, method, tolerance)
   2645             try:
-> 2646                 return self._engine.get_loc(key)
   2647             except KeyError:

pandas/_libs/index.pyx in pandas._libs.index.IndexEngine.get_loc()

During handling of the above exception, another exception occurred:

KeyError                                  Traceback (most recent call last)
<ipython-input-63-03aca18e080e> in <module>
    234 btc_stf = to_pandas(amberdata_stf("btc", start_date, end_date,))
--> 235 btc['stf'] = btc_stf['stockToFlow_price']
"""  # noqa: E501


def _found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


class TestCutTraceback:
    def test_reads_the_header_type_and_the_frames_innermost_first(self) -> None:
        trace = _found(CUT)
        assert trace.language == "python"
        assert trace.frame_count == 2
        root = trace.exceptions[0]
        assert root.type == "KeyError"
        assert [(f.function, f.line) for f in root.frames] == [
            ("__getitem__", 931),
            ("<module>", 1),
        ]

    def test_frames_key_as_the_python_parser_keys_them(self) -> None:
        parsed = python.parse(
            "Traceback (most recent call last):\n"
            '  File "/home/u/venv/lib/python3.8/site-packages/pandas/core/indexing.py", line 931,'
            " in __getitem__\n"
            "KeyError: '2019-04-10'\n"
        )
        assert parsed is not None
        frame = _found(CUT).exceptions[0].frames[0]
        assert python.normalize_frame(frame) == python.normalize_frame(
            parsed.exceptions[0].frames[0]
        )

    def test_another_occurrence_is_the_same_bug(self) -> None:
        other = CUT.replace("--> 931", "--> 940").replace("3.8", "3.11")
        assert SIGNER.sign(_found(other)).value == SIGNER.sign(_found(CUT)).value

    def test_a_lookalike_from_another_notebook_is_another_bug(self) -> None:
        lookalike = CUT.replace("671792838.py", "118812212.py").replace("ipykernel_11250", "nb")
        assert SIGNER.sign(_found(lookalike)).value != SIGNER.sign(_found(CUT)).value


def test_a_coloured_chain_is_read_outermost_first() -> None:
    trace = jupyter.read(CHAINED)
    assert trace is not None
    assert [len(exc.frames) for exc in trace.exceptions] == [1, 2]
    assert trace.exceptions[0].frames[0].function == "<module>"
    assert trace.exceptions[1].frames[0].module == "_libs.index"


def test_plain_tracebacks_and_prose_are_left_alone() -> None:
    assert jupyter.read(NO_TRACE_BODY) is None
    assert jupyter.read('Traceback (most recent call last):\n  File "a.py", line 1, in f\n') is None
    assert (
        jupyter.read("Error    Traceback (most recent call last)\nsee the notes in the wiki\n")
        is None
    )
