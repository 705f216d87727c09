"""Reply trimming measured against an external corpus of real reply bodies.

Each body in ``emails/`` is wrapped into a reply to a triagebot mail (text/plain, UTF-8), run
through ``parse_message`` and ``new_text``, and compared with ``trimmed/`` ignoring blank
lines and the spaces around each line. Prints the score, the misses and the trimming speed.

    python bench/reply_trimming.py [--fixtures PATH] [--show NAME]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # runnable from a checkout without installing

from triagebot.mail.parse import parse_message  # noqa: E402
from triagebot.mail.reply import new_text  # noqa: E402

DEFAULT_FIXTURES = REPO.parent / "shared" / "fixtures" / "reply-trimming"
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


def reply_mail(n: int, body: bytes) -> bytes:
    return HEAD.format(n=n).encode() + body


def comparable(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--show", help="print input, expected and actual text of one case")
    args = parser.parse_args()
    emails = sorted((args.fixtures / "emails").glob("*.txt"))
    if not emails:
        print(f"no fixtures under {args.fixtures}", file=sys.stderr)
        return 2
    misses: list[str] = []
    bodies: list[str] = []
    for n, path in enumerate(emails, 1):
        report = parse_message(reply_mail(n, path.read_bytes()))
        bodies.append(report.body)
        got = new_text(report.body)
        expected = (args.fixtures / "trimmed" / path.name).read_text(encoding="utf-8")
        if comparable(got) != comparable(expected):
            misses.append(path.stem)
        if args.show == path.stem:
            print(f"--- kind: {report.kind}\n--- expected:\n{expected}\n--- got:\n{got}\n---")
    rounds = 10
    best = float("inf")
    for _ in range(5):  # best of five: the machine is shared
        start = time.perf_counter()
        for _ in range(rounds):
            for body in bodies:
                new_text(body)
        best = min(best, time.perf_counter() - start)
    total = len(emails)
    matches = total - len(misses)
    print(f"reply trimming: {matches} / {total} = {100 * matches / total:.1f} %")
    print(f"misses: {', '.join(misses) if misses else 'none'}")
    per_reply = best / (rounds * total) * 1e6
    print(f"speed: {per_reply:.1f} µs per reply ({rounds * total / best:,.0f} replies/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
