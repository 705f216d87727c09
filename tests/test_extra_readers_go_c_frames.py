"""Panics of Go before 1.5, whose first frame is the runtime's C code, are read by the Go
parser once those frames are dropped (``triagebot.stack.extra.go_c_frames``)."""

from __future__ import annotations

from triagebot.stack import go
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import go_c_frames
from triagebot.stack.signature import Signer

SIGNER = Signer()

# bench/realworld/traces/go/docker-gen-splitdockerimage-slice-bounds.txt
DOCKER_GEN = """panic: runtime error: slice bounds out of range

goroutine 1 [running]:
runtime.panic(0x6a9cc0, 0xa270aa)
    /usr/lib/go/src/pkg/runtime/panic.c:266 +0xb6
main.splitDockerImage(0xc21006e3c0, 0x20, 0x40, 0xc2100489a0, 0x0, ...)
    GOPATH/src/github.com/jwilder/docker-gen/docker-gen.go:80 +0x251
main.getContainers(0xc2100524a0, 0xa3512c, 0x7f358b492d20, 0x7, 0x7fff53dd87de, ...)
    GOPATH/src/github.com/jwilder/docker-gen/docker-gen.go:203 +0x3ca
main.generateFromContainers(0xc2100524a0)
    GOPATH/src/github.com/jwilder/docker-gen/docker-gen.go:233 +0x35
main.main()
    GOPATH/src/github.com/jwilder/docker-gen/docker-gen.go:357 +0x3bd

goroutine 3 [syscall]:
os/signal.loop()
    /usr/lib/go/src/pkg/os/signal/signal_unix.go:21 +0x1e
"""
# the same crash on another build: other lines, offsets, goroutine, Go 1.3's runtime
DOCKER_GEN_AGAIN = (
    DOCKER_GEN.replace("goroutine 1 [", "goroutine 7 [")
    .replace("panic.c:266 +0xb6", "panic.c:279 +0xf5")
    .replace("docker-gen.go:80 +0x251", "docker-gen.go:84 +0x2a1")
)
# bench/realworld/traces/go/docker-plugins-trigger-slice-bounds.txt: the same panic elsewhere
DOCKER_PLUGINS = """panic: runtime error: slice bounds out of range

goroutine 35 [running]:
runtime.panic(0x719e80, 0x92360f)
    /usr/local/Cellar/go/1.3.3/libexec/src/pkg/runtime/panic.c:279 +0xf5
main.trigger(0xc20800e060, 0x2, 0x2, 0x0, 0x0, 0x0, 0x0, 0xc208010180)
    /Users/user/Projects/go/src/github.com/progrium/dockerhook/dockerhook.go:79 +0x856
"""


def test_c_frames_are_dropped_and_the_rest_read_by_the_go_parser() -> None:
    assert go.parse(DOCKER_GEN) is None
    trace = find_trace(DOCKER_GEN)
    assert trace is not None
    assert (trace.language, trace.frame_count) == ("go", 4)
    assert (trace.exceptions[0].type, trace.exceptions[0].message) == (
        "runtime.Error",
        "slice bounds out of range",
    )
    assert SIGNER.sign(trace).title == "Error in main.splitDockerImage"


def test_same_crash_is_one_signature_and_the_same_panic_elsewhere_another() -> None:
    assert _value(DOCKER_GEN) == _value(DOCKER_GEN_AGAIN)
    assert _value(DOCKER_GEN) != _value(DOCKER_PLUGINS)


def test_trace_without_c_frames_is_left_to_the_parser() -> None:
    assert go_c_frames.read(DOCKER_GEN.replace("panic.c", "panic.go")) is None
    # a C location that follows no call is not a frame
    assert go_c_frames.read("goroutine 1 [running]:\nsee /src/main.c:12 +0x1\n") is None


def _value(text: str) -> str:
    trace = find_trace(text)
    assert trace is not None
    return SIGNER.sign(trace).value
