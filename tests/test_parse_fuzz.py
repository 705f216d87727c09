"""parse_message never raises: arbitrary bytes and damaged real mails always give a Report."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triagebot.mail.parse import parse_message
from triagebot.mail.report import Kind, Report

MAILS = sorted((Path(__file__).parent / "mails").glob("*.eml"))
SAMPLES = [path.read_bytes() for path in MAILS]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:.*$\n?", re.MULTILINE)
_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)')
_CHARSET = re.compile(rb"charset=\"?[\w-]+\"?", re.IGNORECASE)


def check(raw: bytes) -> Report:
    report = parse_message(raw)
    assert isinstance(report, Report)
    assert report.message_id
    assert isinstance(report.text, str)
    if report.kind is Kind.INVALID:
        assert report.reason
    assert not report.reason.startswith("parser error"), report.reason  # no catch-all rescue
    return report


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(st.text(max_size=2000).map(lambda s: s.encode("utf-8", "surrogatepass")))
def test_arbitrary_text(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(st.sampled_from(SAMPLES), st.floats(0, 1))
def test_truncation(raw: bytes, fraction: float) -> None:
    check(raw[: int(len(raw) * fraction)])


@FUZZ
@given(
    st.sampled_from(SAMPLES), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=40)
)
def test_byte_flips(raw: bytes, flips: list[tuple[float, int]]) -> None:
    data = bytearray(raw)
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    check(bytes(data))


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_header_deletion(raw: bytes, data: st.DataObject) -> None:
    lines = _HEADER_LINE.findall(raw)
    doomed = data.draw(st.sets(st.sampled_from(lines))) if lines else set()
    for line in doomed:
        raw = raw.replace(line, b"", 1)
    check(raw)


@FUZZ
@given(
    st.sampled_from([s for s in SAMPLES if _BOUNDARY.search(s)]),
    st.sampled_from([b"", b"x", b"--", b"\r\n", b"\x00", b"\xff\xfe"]),
    st.booleans(),
)
def test_boundary_corruption(raw: bytes, junk: bytes, header_only: bool) -> None:
    match = _BOUNDARY.search(raw)
    assert match is not None
    boundary = match.group(1)
    if header_only:
        raw = raw[: match.start(1)] + junk + raw[match.end(1) :]
    else:
        raw = raw.replace(b"--" + boundary, b"--" + boundary[: len(boundary) // 2] + junk)
    check(raw)


@FUZZ
@given(
    st.sampled_from(SAMPLES),
    st.sampled_from(
        [
            b"utf-16",
            b"utf-16-be",
            b"utf-7",
            b"iso-2022-jp",
            b"cp037",
            b"koi8-r",
            b"rot13",
            b"hex",
            b"idna",
            b"undefined",
            b"\xff\xfe",
            b"",
            b'"',
            b"utf-8\x00",
        ]
    ),
    st.sampled_from(["utf-8", "cp1252", "utf-16-le", "latin-1"]),
)
def test_charset_lies(raw: bytes, label: bytes, actual: str) -> None:
    head, sep, body = (
        raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(b"\r\n\r\n")
    )
    text = body.decode("utf-8", "replace").encode(actual, "replace")
    report = check(_CHARSET.sub(b"charset=" + label, head) + sep + text)
    assert report.kind is not Kind.INVALID


def test_deep_nesting_is_cut_off() -> None:
    """A pathological tree is read up to a fixed depth instead of recursing forever."""
    raw = b"From: a@b\nSubject: deep\n"
    for level in range(200):
        raw += f'Content-Type: multipart/mixed; boundary="b{level}"\n\n--b{level}\n'.encode()
    raw += b"Content-Type: text/plain\n\nSystem.Exception: deep\n"
    report = check(raw)
    assert report.kind is not Kind.INVALID


def test_all_samples_parse() -> None:
    assert all(check(raw).kind is not Kind.INVALID for raw in SAMPLES)
