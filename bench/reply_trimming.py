"""Reply trimming measured on two sets of replies, against the reference libraries.

* ``external``: the reply bodies in ``emails/`` of an external corpus, each wrapped into a
  reply to a triagebot mail (text/plain, UTF-8), expected text in ``trimmed/``.
* ``own``: raw replies as the mail clients write them (``tests/mails/replies/*.eml``, Outlook
  desktop/web/mobile, Gmail, Apple Mail, Thunderbird, HTML-only), expected text in
  ``NAME.expected``.

Every trimmer reads the ``Report.body`` that ``parse_message`` makes of the mail (flowed lines
joined, HTML converted), except talon, which reads the HTML itself when the mail has no
text/plain part. Two scores per set: the first line right (the command is read from it) and
the whole text right, both ignoring blank lines and the spaces around each line. The
references (talon, email_reply_parser, mail-parser-reply) are measured when they are installed.

    python bench/reply_trimming.py [--fixtures PATH] [--own PATH] [--show NAME]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

from triagebot.mail.html import html_to_text  # noqa: E402
from triagebot.mail.parse import parse_message  # noqa: E402
from triagebot.mail.reply import new_text  # noqa: E402

DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures" / "reply-trimming"
DEFAULT_OWN = REPO / "tests" / "mails" / "replies"
HEAD = (
    "From: Helpdesk Member <member@acme.example>\r\n"
    "To: triagebot <triagebot@acme.example>\r\n"
    "Subject: Re: [triage C-{n}] NullReferenceException in CaseViewModel.Load\r\n"
    "Date: Mon, 03 Jun 2024 10:00:00 +0200\r\n"
    "Message-ID: <reply-{n}@mail.acme.example>\r\n"
    "In-Reply-To: <triagebot.c-{n:04x}@acme.example>\r\n"
    "References: <triagebot.c-{n:04x}@acme.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
)


@dataclass(frozen=True, slots=True)
class Case:
    """One reply: its name, the body every trimmer reads, its HTML when it has no text/plain
    part, and the text a person would call new."""

    name: str
    body: str
    html: str | None
    expected: str


@dataclass(frozen=True, slots=True)
class Score:
    first_lines: int
    whole: int
    misses: tuple[str, ...]


Trimmer = Callable[[Case], str]


def reply_mail(n: int, body: bytes) -> bytes:
    return HEAD.format(n=n).encode() + body


def comparable(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def external_cases(root: Path) -> list[Case]:
    cases = []
    for n, path in enumerate(sorted((root / "emails").glob("*.txt")), 1):
        body = parse_message(reply_mail(n, path.read_bytes())).body
        expected = (root / "trimmed" / path.name).read_text(encoding="utf-8")
        cases.append(Case(path.stem, body, None, expected))
    return cases


def _html_only(raw: bytes) -> str | None:
    """The HTML part of a mail without a text/plain part, else None."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    if message.get_body(("plain",)) is not None:
        return None
    part = message.get_body(("html",))
    return None if part is None else str(part.get_content())


def own_cases(root: Path) -> list[Case]:
    cases = []
    for path in sorted(root.glob("*.eml")):
        raw = path.read_bytes()
        expected = path.with_suffix(".expected").read_text(encoding="utf-8")
        cases.append(Case(path.stem, parse_message(raw).body, _html_only(raw), expected))
    return cases


def references() -> dict[str, Trimmer]:
    """The reference libraries that are installed, by name."""
    found: dict[str, Trimmer] = {}
    try:
        talon = importlib.import_module("talon")
        quotations = importlib.import_module("talon.quotations")
    except ImportError:
        pass
    else:
        talon.init()

        def with_talon(case: Case) -> str:
            if case.html is not None:
                return html_to_text(str(quotations.extract_from_html(case.html)))
            return str(quotations.extract_from_plain(case.body))

        found["talon"] = with_talon
    try:
        erp = importlib.import_module("email_reply_parser").EmailReplyParser
    except ImportError:
        pass
    else:
        found["email_reply_parser"] = lambda case: str(erp.parse_reply(case.body))
    try:
        mpr = importlib.import_module("mailparser_reply")
        languages = importlib.import_module("mailparser_reply.constants").MAIL_LANGUAGES
    except ImportError:
        pass
    else:
        parser = mpr.EmailReplyParser(languages=[code for code in languages if code != "david"])
        found["mail-parser-reply"] = lambda case: str(parser.parse_reply(text=case.body))
    return found


def score(cases: list[Case], trim: Trimmer) -> Score:
    first_lines = whole = 0
    misses = []
    for case in cases:
        got, expected = comparable(trim(case)), comparable(case.expected)
        first_lines += got[:1] == expected[:1]
        whole += got == expected
        if got != expected:
            misses.append(case.name)
    return Score(first_lines, whole, tuple(misses))


def speed(cases: list[Case]) -> float:
    """Microseconds per reply for ``new_text``, best of five runs (the machine is shared)."""
    rounds = 10
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            for case in cases:
                new_text(case.body)
        best = min(best, time.perf_counter() - start)
    return best / (rounds * len(cases)) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--own", type=Path, default=DEFAULT_OWN)
    parser.add_argument("--show", help="print input, expected and actual text of one case")
    args = parser.parse_args()
    sets = {"external": external_cases(args.fixtures), "own": own_cases(args.own)}
    if not all(sets.values()):
        print(f"no fixtures under {args.fixtures} or {args.own}", file=sys.stderr)
        return 2
    trimmers: dict[str, Trimmer] = {"triagebot": lambda case: new_text(case.body)}
    trimmers.update(references())
    print(f"{'set':<9} {'trimmer':<19} {'first line':>18} {'whole text':>18}")
    for set_name, cases in sets.items():
        total = len(cases)
        for name, trim in trimmers.items():
            result = score(cases, trim)
            first = f"{result.first_lines}/{total} {100 * result.first_lines / total:5.1f} %"
            whole = f"{result.whole}/{total} {100 * result.whole / total:5.1f} %"
            print(f"{set_name:<9} {name:<19} {first:>18} {whole:>18}")
            if name == "triagebot":
                print(f"  misses: {', '.join(result.misses) if result.misses else 'none'}")
        for case in cases:
            if case.name == args.show:
                got = new_text(case.body)
                print(
                    f"--- body:\n{case.body}\n--- expected:\n{case.expected}\n--- got:\n{got}\n---"
                )
    per_reply = speed([case for cases in sets.values() for case in cases])
    print(f"speed: {per_reply:.1f} µs per reply ({1e6 / per_reply:,.0f} replies/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
