"""The work per message is bounded: text searched per mail part and frames kept per trace.

``ParseSettings.max_part_chars`` cuts each part's text (after HTML-to-text) at a line break,
keeping the head of the mail's own text and of forwarded mails and the tail of an attached log;
``ParseSettings.max_frames`` keeps the top frames of each exception. ``Report.truncated`` says
what was cut; ordinary mail is never cut.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Kind
from triagebot.stack.detect import find_trace
from triagebot.stack.model import Frame

TESTS = Path(__file__).parent
NET_HEAD = "System.InvalidOperationException: Queue full\n"
NET_FRAME = "   at Acme.Billing.Worker.Run{}() in C:\\src\\Worker.cs:line {}\n"


def mail(body: str, content_type: str = "text/plain", parts: str = "") -> bytes:
    head = (
        "From: Acme Desk <errors@acme.example.com>\r\nTo: helpdesk@example.com\r\n"
        "Subject: Unhandled exception\r\nMessage-ID: <limits@acme.example.com>\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if not parts:
        return f"{head}Content-Type: {content_type}; charset=utf-8\r\n\r\n{body}".encode()
    return (
        f'{head}Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        f"Content-Type: {content_type}; charset=utf-8\r\n\r\n{body}\r\n{parts}--b--\r\n"
    ).encode()


def net_trace(frames: int) -> str:
    return NET_HEAD + "".join(NET_FRAME.format(n, n) for n in range(frames))


class TestPartText:
    def test_a_part_just_over_the_limit_counts_characters(self) -> None:
        body = net_trace(5) + "x" * 500 + "\n" + "log line\n" * 100
        report = parse_message(mail(body), ParseSettings(max_part_chars=1024))
        assert report.truncated == (
            f"text/plain part: {len(body):,} characters, the first {len(report.body):,} "
            "characters kept",
        )

    @pytest.mark.parametrize("ctype", ["text/plain", "text/html"])
    def test_a_huge_part_costs_what_a_small_one_does(self, ctype: str) -> None:
        """30 MB of body: only a slice is decoded and converted, so the time and memory of
        one mail stay bounded (an HTML body of that size took over 5 s and 600 MB)."""
        line = "<p>log line with some words</p>\n" if ctype == "text/html" else "log line\n"
        body = net_trace(5) + line * (30_000_000 // len(line))
        started = time.perf_counter()
        report = parse_message(mail(body, ctype))
        assert time.perf_counter() - started < 5.0  # the analysis budget; about 0.1 s here
        assert report.trace is not None and report.trace.frame_count == 5
        (note,) = report.truncated
        assert note.startswith(f"{ctype} part: {len(body):,} bytes, the first ")

    def test_long_body_keeps_its_head(self) -> None:
        """A body over the limit keeps its first lines, so the exception and top frames stay."""
        body = net_trace(5) + "log line\n" * 20_000
        report = parse_message(mail(body), ParseSettings(max_part_chars=1000))
        assert len(report.body) <= 1000
        assert report.body.endswith("log line")  # cut at a line break
        assert report.trace is not None
        assert report.trace.exceptions[0].type == "System.InvalidOperationException"
        assert report.trace.frame_count == 5
        size = len(body.encode())  # over 4 bytes per character kept: only a slice is decoded
        assert report.truncated == (
            f"text/plain part: {size:,} bytes, the first {len(report.body):,} characters kept",
        )

    def test_attached_log_keeps_its_tail(self) -> None:
        """An attached log over the limit keeps its last lines, where the crash is."""
        log = "2024-05-16 10:00:00 INFO step\n" * 5000 + net_trace(3)
        attachment = (
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
            'Content-Disposition: attachment; filename="batch.log"\r\n\r\n' + log + "\r\n"
        )
        report = parse_message(
            mail("Log attached.", parts=attachment), ParseSettings(max_part_chars=2000)
        )
        assert report.trace is not None
        assert report.trace.frame_count == 3
        (note,) = report.truncated
        assert note.startswith(f"attachment batch.log: {len(log):,} bytes, the last ")
        assert report.text.split("\n\n", 1)[1].startswith("2024-05-16 10:00:00 INFO step\n")

    def test_html_is_measured_after_conversion(self) -> None:
        """Markup does not count: a long HTML page whose text is short is not cut."""
        html = "<p style='" + "x" * 5000 + "'>" + net_trace(2).replace("\n", "<br>") + "</p>"
        report = parse_message(mail(html, "text/html"), ParseSettings(max_part_chars=1000))
        assert report.truncated == ()
        assert report.trace is not None
        assert report.trace.frame_count == 2

    def test_forwarded_mail_parts_are_cut_too(self) -> None:
        """A forwarded mail's parts are cut like the mail's own, and the note says where."""
        inner = (
            "From: app@acme.example.com\r\nSubject: crash\r\n"
            "Content-Type: text/plain\r\n\r\n" + net_trace(2) + "x\n" * 2000
        )
        forwarded = f"--b\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n"
        report = parse_message(
            mail("See below.", parts=forwarded), ParseSettings(max_part_chars=1000)
        )
        assert report.trace is not None
        assert report.trace.frame_count == 2
        (note,) = report.truncated
        assert note.startswith("forwarded mail, text/plain part: ")

    def test_a_single_long_line_is_cut_hard(self) -> None:
        """Without a line break in reach the part is cut at the limit itself."""
        report = parse_message(mail("x" * 5000), ParseSettings(max_part_chars=1000))
        assert report.body == "x" * 1000


class TestFrames:
    def test_frames_over_the_limit_are_dropped(self) -> None:
        """A trace keeps ``max_frames`` frames, the innermost first, and says how many it had."""
        report = parse_message(mail(net_trace(300)), ParseSettings(max_frames=100))
        assert report.kind is Kind.ERROR_REPORT
        assert report.trace is not None
        frames = report.trace.exceptions[0].frames
        assert [f.function for f in frames] == [f"Run{n}" for n in range(100)]
        assert report.trace.dropped == 200
        assert report.truncated == ("trace: 300 frames, 100 kept",)

    def test_a_long_outer_stack_leaves_the_root_cause_its_frames(self) -> None:
        """The limit is shared out: short stacks keep every frame, long ones their top."""
        text = (
            "java.lang.RuntimeException: wrapper\n"
            + "\tat com.acme.Outer.run(Outer.java:1)\n" * 500
            + "Caused by: java.io.IOException: disk full\n"
            + "\tat com.acme.Store.write(Store.java:9)\n" * 3
            + "\t... 500 more\n"
        )
        trace = find_trace(text, max_frames=100)
        assert trace is not None
        assert [len(exc.frames) for exc in trace.exceptions] == [97, 3]
        assert trace.dropped == 403

    def test_python_keeps_the_most_recent_calls(self) -> None:
        """Python prints the most recent call last: those are the frames kept."""
        frames = "".join(f'  File "/srv/app/jobs.py", line {n}, in step{n}\n' for n in range(50))
        text = f"Traceback (most recent call last):\n{frames}ValueError: bad row\n"
        trace = find_trace(text, max_frames=10)
        assert trace is not None
        kept: tuple[Frame, ...] = trace.exceptions[0].frames
        assert [f.function for f in kept] == [f"step{n}" for n in range(49, 39, -1)]
        assert trace.dropped == 40


class TestSettings:
    @pytest.mark.parametrize("name", ["max_part_chars", "max_frames"])
    def test_limits_must_be_positive(self, name: str) -> None:
        """A limit of zero would drop everything: it is refused."""
        with pytest.raises(ValueError, match=name):
            ParseSettings(**{name: 0})

    def test_an_unknown_signature_version_is_refused(self) -> None:
        with pytest.raises(ValueError, match="unknown signature version 'v0'"):
            ParseSettings(signature_version="v0")

    def test_ordinary_mail_is_never_cut(self) -> None:
        """Every mail the repository has parses without a truncation note."""
        paths = [*TESTS.glob("mails/*.eml"), *TESTS.glob("corpus/**/*.eml")]
        assert paths
        for path in paths:
            assert parse_message(path.read_bytes()).truncated == (), path.name


def test_the_caps_are_settings_and_explain_shows_the_cut(tmp_path: Path) -> None:
    """``[reports] max_frames`` / ``max_part_chars`` reach the parser; ``triagebot explain``
    prints what was cut, in text and in JSON."""
    from tests.helpers import Bot

    bot = Bot(tmp_path)
    bot.configure({"reports": {"max_frames": 50, "max_part_chars": 4096}})
    path = tmp_path / "long.eml"
    path.write_bytes(mail(net_trace(400)))

    text = bot.run("explain", str(path))
    assert text.returncode == 0, text.stderr
    cuts = [line for line in text.stdout.splitlines() if line.startswith("truncated ")]
    assert len(cuts) == 2, text.stdout  # the part at 4096 characters, then the trace at 50
    assert cuts[0].startswith("truncated text/plain part: ")
    assert cuts[0].endswith(" kept") and cuts[1].endswith("frames, 50 kept")
    record = json.loads(bot.run("explain", "--json", str(path)).stdout)
    assert record["truncated"] == [cut.removeprefix("truncated ") for cut in cuts]


@pytest.mark.parametrize(
    ("key", "value"), [("max_frames", 0), ("max_part_chars", 10), ("max_frames", "many")]
)
def test_a_bad_cap_names_its_key(key: str, value: object) -> None:
    from triagebot.config import config_from_dict
    from triagebot.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"\[reports\]\.{key}"):
        config_from_dict({"reports": {key: value}})
