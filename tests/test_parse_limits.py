"""The work per message is bounded: text searched per mail part and frames kept per trace.

``ParseSettings.max_part_chars`` cuts each part's text (after HTML-to-text) at a line break,
keeping the head of the mail's own text and of forwarded mails and the tail of an attached log;
``ParseSettings.max_frames`` keeps the top frames of each exception. ``Report.truncated`` says
what was cut; ordinary mail is never cut.
"""

from __future__ import annotations

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
    def test_long_body_keeps_its_head(self) -> None:
        """A body over the limit keeps its first lines, so the exception and top frames stay."""
        body = net_trace(5) + "log line\n" * 20_000
        report = parse_message(mail(body), ParseSettings(max_part_chars=1000))
        assert len(report.body) <= 1000
        assert report.body.endswith("log line")  # cut at a line break
        assert report.trace is not None
        assert report.trace.exceptions[0].type == "System.InvalidOperationException"
        assert report.trace.frame_count == 5
        assert report.truncated == (
            f"text/plain part: {len(body):,} characters, the first {len(report.body):,} kept",
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
        assert note.startswith(f"attachment batch.log: {len(log):,} characters, the last ")
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

    def test_ordinary_mail_is_never_cut(self) -> None:
        """Every mail the repository has parses without a truncation note."""
        paths = [*TESTS.glob("mails/*.eml"), *TESTS.glob("corpus/**/*.eml")]
        assert paths
        for path in paths:
            assert parse_message(path.read_bytes()).truncated == (), path.name
