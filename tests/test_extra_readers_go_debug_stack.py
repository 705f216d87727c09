"""A recover handler's ``debug.Stack()`` dump pasted without its goroutine header is read by the
Go parser (``triagebot.stack.extra.go_debug_stack``)."""

from __future__ import annotations

from triagebot.stack import go
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import go_debug_stack
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/go/lmd-updatedeltacomments-nil-map.txt (cut)
LMD = """the panic reason is different as well: `assignment to entry in nil map`, located in:

        runtime/debug.Stack(0xc4201c4030, 0x9472c1, 0xe)
                /root/.gvm/gos/go1.9.2/src/runtime/debug/stack.go:24 +0xa7
        main.logPanicExitPeer(0xc42028a0c0)
                /var/omnibus/src/src/github.com/sni/lmd/lmd/peer.go:2754 +0x12f
        panic(0x8b9ce0, 0x9a4dd0)
                /root/.gvm/gos/go1.9.2/src/runtime/panic.go:491 +0x283
        main.(*DataTable).AddItem(...)
                /var/omnibus/src/src/github.com/sni/lmd/lmd/peer.go:153
        main.(*Peer).UpdateDeltaCommentsOrDowntimes(0xc42028a0c0, 0x943b38, 0x8, 0x0, 0x0)
                /var/omnibus/src/src/github.com/sni/lmd/lmd/peer.go:1128 +0x1453
        main.(*Peer).UpdateDeltaTables(0xc42028a0c0, 0x944e05)
                /var/omnibus/src/src/github.com/sni/lmd/lmd/peer.go:798 +0xb1d
"""
# the same crash on another build
LMD_AGAIN = LMD.replace("go1.9.2", "go1.10").replace("peer.go:1128 +0x1453", "peer.go:1140 +0x14f3")
# the same handler catching a panic of another function
OTHER = LMD.replace("(*DataTable).AddItem", "(*DataTable).RemoveItem").replace(
    "UpdateDeltaCommentsOrDowntimes", "UpdateDeltaHosts"
)


def test_dump_without_header_is_read_as_the_running_goroutine() -> None:
    assert go.parse(LMD) is None
    trace = find_trace(LMD)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("go", 6)
    assert trace.exceptions[0].type == "<unknown>"
    # The handler that printed the dump ran while the panic unwound: it is not where it failed.
    assert SIGNER.sign(trace).in_app_frames[:2] == (
        "main.(*DataTable).AddItem",
        "main.(*Peer).UpdateDeltaCommentsOrDowntimes",
    )
    assert "main.logPanicExitPeer" in Signer("v2").sign(trace).in_app_frames


def test_same_crash_is_one_signature_and_another_panic_under_the_handler_another() -> None:
    assert _value(LMD) == _value(LMD_AGAIN)
    assert _value(LMD) != _value(OTHER)


def test_dump_run_into_the_sentence_above_it_is_the_same_crash() -> None:
    """A mail client that lost the line breaks leaves the dump on the prose's line."""
    joined = " ".join(line.strip() for line in LMD.split("\n") if line.strip())
    assert joined.startswith("the panic reason")
    assert _value(joined) == _value(LMD)


def test_dump_with_its_header_is_the_parsers() -> None:
    with_header = LMD.replace("located in:\n\n", "located in:\n\ngoroutine 7 [running]:\n")
    assert go_debug_stack.read(with_header) is None


def _value(text: str) -> str:
    trace = find_trace(text)
    assert trace is not None
    return SIGNER.sign(trace).value
