"""Signature algorithm: what contributes, what is folded, and how it is explained."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from triagebot.config import config_from_dict
from triagebot.errors import ConfigError
from triagebot.pipeline import Pipeline
from triagebot.rules import RuleSet
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.signature import (
    DEFAULT_VERSION,
    SIGNATURE_VERSIONS,
    Signer,
    explain,
    fold_recursion,
    glob_regex,
    message_template,
)


def dotnet_frame(qualified: str, line: int = 10) -> Frame:
    module, _, function = qualified.rpartition(".")
    return Frame(
        module=module,
        function=function,
        file=r"C:\src\X.cs",
        line=line,
        raw=f"   at {qualified}() in C:\\src\\X.cs:line {line}",
    )


def trace(*chain: tuple[str, list[str]], language: str = "dotnet") -> Trace:
    return Trace(
        language=language,
        exceptions=tuple(
            ExceptionInfo(type=t, message="msg", frames=tuple(dotnet_frame(f) for f in frames))
            for t, frames in chain
        ),
    )


SIGNER = Signer()
APP = ["Acme.Cases.CaseViewModel.Load", "Acme.Cases.CaseView.OnClick"]
LIB = ["System.Windows.Forms.Control.OnClick", "System.Windows.Forms.Application.Run"]


class TestSigner:
    def test_value_is_16_hex_and_versioned(self) -> None:
        sig = SIGNER.sign(trace(("System.NullReferenceException", APP + LIB)))
        assert len(sig.value) == 16
        assert int(sig.value, 16) >= 0
        assert sig.version == DEFAULT_VERSION
        assert sig.basis == "app-frames"
        assert sig.title == "NullReferenceException in CaseViewModel.Load"
        assert sig.in_app_frames == tuple(APP)
        assert sig.top_in_app == APP[0]

    def test_library_frames_do_not_count(self) -> None:
        """Framework frames below the app may differ (other entry point) without changing it."""
        a = SIGNER.sign(trace(("System.NullReferenceException", APP + LIB)))
        b = SIGNER.sign(trace(("System.NullReferenceException", APP + LIB[:1])))
        assert a.value == b.value

    def test_exception_type_and_top_frame_and_inner_type_count(self) -> None:
        base = SIGNER.sign(trace(("System.InvalidOperationException", APP)))
        other_type = SIGNER.sign(trace(("System.ArgumentException", APP)))
        other_top = SIGNER.sign(trace(("System.InvalidOperationException", APP[1:])))
        wrapped_a = SIGNER.sign(trace(("Acme.LoadException", APP), ("System.IO.IOException", [])))
        wrapped_b = SIGNER.sign(trace(("Acme.LoadException", APP), ("System.TimeoutException", [])))
        values = {base.value, other_type.value, other_top.value, wrapped_a.value, wrapped_b.value}
        assert len(values) == 5

    def test_recursion_is_folded(self) -> None:
        deep = ["Acme.Tree.Node.Visit"] * 50 + APP
        shallow = ["Acme.Tree.Node.Visit"] * 3 + APP
        a, b = (
            SIGNER.sign(trace(("System.StackOverflowException", deep))),
            SIGNER.sign(trace(("System.StackOverflowException", shallow))),
        )
        assert a.value == b.value
        assert any("recursion folded" in n.hint for n in a.notes)

    def test_no_in_app_frames_uses_top_library_frames(self) -> None:
        a = SIGNER.sign(trace(("System.OutOfMemoryException", LIB)))
        b = SIGNER.sign(trace(("System.OutOfMemoryException", LIB[1:])))
        assert a.basis == "library-frames"
        assert a.value != b.value
        assert a.title == "OutOfMemoryException in Control.OnClick: msg"  # v2 names the message
        assert a.top_in_app is None

    def test_message_fallback_ignores_variable_parts(self) -> None:
        def bare(message: str) -> Trace:
            return Trace("unknown", (ExceptionInfo("Acme.InvoiceLockedException", message),))

        a = SIGNER.sign(bare("Invoice 1234 is locked by 'alice' since 2026-11-02 10:00:01"))
        b = SIGNER.sign(bare("Invoice 98 is locked by 'bob' since 2026-11-27 23:59:59"))
        c = SIGNER.sign(bare("Invoice 98 is archived"))
        assert a.basis == "message"
        assert a.value == b.value != c.value
        assert a.title.startswith("InvoiceLockedException: Invoice <n> is locked")

    def test_app_frames_config_wins_over_library_defaults(self) -> None:
        """Declaring app_frames makes only those frames the application's own."""
        signer = Signer(app_frames=("Acme.Cases.*",))
        sig = signer.sign(trace(("System.Exception", ["Acme.Util.Guard.NotNull", *APP])))
        assert sig.in_app_frames == tuple(APP)
        reasons = {n.key: n.hint for n in sig.notes}
        assert "not matched by app_frames" in reasons["Acme.Util.Guard.NotNull"]

    def test_explain_lists_every_frame_and_why(self) -> None:
        sig = SIGNER.sign(trace(("System.NullReferenceException", APP + LIB)))
        text = explain(sig)
        assert sig.value in text
        assert "+ [0] Acme.Cases.CaseViewModel.Load  (in-app: no library pattern matched)" in text
        assert "- [0] System.Windows.Forms.Application.Run  (not in-app: library pattern" in text

    def test_unknown_version_is_an_error_naming_the_key(self) -> None:
        """The pure signer refuses it; the pipeline says which key of the config it was."""
        with pytest.raises(ValueError, match=r"^unknown version 'v0'"):
            Signer("v0")
        config = config_from_dict({"signature": {"version": "v0"}})
        with pytest.raises(ConfigError, match=r"^\[signature\]\.version: unknown version 'v0'"):
            Pipeline(config, RuleSet())

    def test_pickles_small_and_equal_without_the_signer(self) -> None:
        """The analysis process sends signatures back: the value travels, the signer (its
        caches are megabytes) stays, so the copy explains nothing but equals the original."""
        sig = SIGNER.sign(trace(APP))
        assert sig.notes  # explainable here
        copy = pickle.loads(pickle.dumps(sig))
        assert copy == sig
        assert copy.notes == ()
        assert len(pickle.dumps(sig)) < 2_000

    def test_same_signature_in_another_process(self) -> None:
        """No hash randomisation or process state leaks into the value."""
        code = (
            "from tests.test_signature import SIGNER, trace, APP;"
            "print(SIGNER.sign(trace(('System.NullReferenceException', APP))).value)"
        )
        other = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": "123", "PATH": ""},
        ).stdout.strip()
        assert other == SIGNER.sign(trace(("System.NullReferenceException", APP))).value


class TestHelpers:
    def test_fold_recursion_periods(self) -> None:
        assert fold_recursion(["a", "a", "a", "b"], 8) == (["a", "b"], 2)
        assert fold_recursion(["a", "b", "a", "b", "a", "b", "c"], 8) == (["a", "b", "c"], 4)
        assert fold_recursion(["a", "b", "c"], 8) == (["a", "b", "c"], 0)

    def test_glob_brackets_are_literal(self) -> None:
        regex = glob_regex(["[internal function]*", "System.*"])
        assert regex is not None
        assert regex.match("[internal function]: foo")
        assert regex.match("System.Linq.Enumerable.First")
        assert not regex.match("i")

    @pytest.mark.parametrize(
        ("message", "template"),
        [
            ("Order 42 not found", "Order <n> not found"),
            ("Key '3f2504e0-4f89-11d3-9a0c-0305e82c3301' missing", "Key <str> missing"),
            ("id 3f2504e0-4f89-11d3-9a0c-0305e82c3301", "id <guid>"),
            (r"Could not find file 'C:\Users\bob\a.txt'.", "Could not find file <str>."),
            (r"Could not find C:\Users\bob\a.txt", "Could not find <path>"),
            ("connect to 10.0.0.12:1433 failed", "connect to <ip> failed"),
            ("at 0x7ffe12ab", "at <hex>"),
            ("see https://x.example.com/a?b=1", "see <url>"),
        ],
    )
    def test_message_template(self, message: str, template: str) -> None:
        assert message_template(message) == template

    def test_every_version_has_its_data_file(self) -> None:
        for version in SIGNATURE_VERSIONS:
            assert Signer(version).version.version == version
