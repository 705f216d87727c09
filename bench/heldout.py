"""Held-out check of report detection and signature grouping with independent data.

The traces under ``bench/heldout/traces/<language>/<bug>.txt`` are real-world-style stack traces
(one bug per file; ``<bug>@<variant>.txt`` files share a bug, e.g. one crash seen in three
browsers; ``.html`` files are HTML error pages). ``bench/heldout/nonreports/*.txt`` are mails
that are not error reports (headers, blank line, body); ``--corpus DIR`` reads ``DIR/traces``
and ``DIR/nonreports`` instead (``bench/realworld`` holds real traces copied from public issue
threads), ``--lang`` keeps the traces of one language (non-reports are always included). Each
trace is perturbed the way builds, machines and ids vary, each variant is wrapped in several mail
shapes, and every mail is run through the real CLI, ``triagebot replay --dry-run --json``. Prints
B-cubed precision/recall/F1 of the grouping, the merged and split bugs, and report-detection
precision/recall/F1 with the misclassified mails.

    python bench/heldout.py [--variants 4] [--shapes 3] [--seed 7] [--keep DIR] [--show BUG]
                            [--corpus DIR] [--lang LANG]
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
import subprocess
import sys
import tempfile
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import encoders
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent / "heldout"
REPO = HERE.parent.parent

# --------------------------------------------------------------------------- perturbations

_NAMES = ("jdoe", "akumar", "mbauer", "lena", "svc_build", "o.ivanova", "jürgen", "t.nguyen")
_HOSTS = ("WS-0412", "PROD-WEB-03", "appsrv17", "ip-10-20-3-44", "LAPTOP-8F2KQ1", "build-agent-7")


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


# file:line in every family: ":line 42", ":Zeile 42", "(Foo.java:42)", ", line 42", ".go:42",
# ".php(42)", ".rb:42:", "file.js:42:17", "main.js:2:318443", ".cs:42)".
_LINE_NUMBERS = re.compile(
    r"(?P<p>:line |:Zeile |:ligne |, line |\.(?:java|kt|scala|go|cs|py|rb|erb|mjs|js|ts|tsx|jsx"
    r"|php|pyx|pxi)(?:\(|:)|\.php\()(?P<n>\d+)(?P<col>:\d+)?"
)
_VERSIONS = re.compile(r"(?<![\d.])(?P<v>\d{1,2}\.\d{1,2}\.\d{1,4})(?P<rest>(?:\.\d+)?)(?![\d.])")
_PY_VERSION = re.compile(r"python3\.\d+")
_USER_DIRS = re.compile(r"(?P<p>[Cc]:\\Users\\|/home/|/Users/)(?P<u>[^\\/\s]+)")
_AGENT = re.compile(r"(?P<p>_work\\|agents\\)(?P<n>\d+)")
_GUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_HEXADDR = re.compile(r"\b0x[0-9a-f]{6,}\b")
_MONO_MVID = re.compile(r"<[0-9a-f]{32}>")
_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?|\d\d-\d\d \d\d:\d\d:\d\d\.\d+"
    r"|\d\d/\d\d/\d{4},? \d\d?:\d\d:\d\d(?: [AP]M)?|\d{4}/\d\d/\d\d \d\d:\d\d:\d\d"
)
_MESSAGE_NUMBER = re.compile(r"(?<![\w.:/\\-])\d{3,}(?![\w.:/\\])")
_FRAMEISH = re.compile(
    r"^\s*(?:at |bei |à |File \"|#\d+ |from |\| |created by |\t)|\.go:\d+|@\S+:\d+:\d+|\.rb:\d+:in "
)
# Compiler-generated counters that change from build to build.
_COUNTERS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], random.Random], str]], ...] = (
    (re.compile(r"(?<=>d__)\d+"), lambda m, r: str(r.randint(1, 40))),
    (re.compile(r"(?<=DisplayClass)\d+_\d+"), lambda m, r: f"{r.randint(0, 30)}_0"),
    (re.compile(r"(?<=>b__)\d+_\d+"), lambda m, r: f"{r.randint(0, 30)}_{r.randint(0, 3)}"),
    (re.compile(r"(?<=\|)\d+_\d+(?=\()"), lambda m, r: f"{r.randint(0, 200)}_0"),
    (re.compile(r"(?<=lambda_method)\d+"), lambda m, r: str(r.randint(1, 900))),
    (re.compile(r"(?<=\$\$Lambda\$)\d+"), lambda m, r: str(r.randint(10, 3000))),
    (re.compile(r"(?<=lambda\$)(\w+)\$\d+"), lambda m, r: f"{m[1]}${r.randint(0, 9)}"),
    (re.compile(r"(?<=CGLIB\$\$)[0-9a-f]+"), lambda m, r: _hex(r, 8)),
    (re.compile(r"(?<=erb__)_?-?\d+_\d+"), lambda m, r: f"{_digits(r, 18)}_{_digits(r, 5)}"),
    (re.compile(r"(?<=goroutine )\d+"), lambda m, r: str(r.randint(1, 99999))),
    (re.compile(r"\+0x[0-9a-f]+"), lambda m, r: f"+0x{_hex(r, 3)}"),
    (re.compile(r"\[0x[0-9a-f]{5}\]"), lambda m, r: f"[0x{_hex(r, 5)}]"),
    (re.compile(r"(?<=\$Proxy)\d+"), lambda m, r: str(r.randint(10, 300))),
    (re.compile(r"(?<=\.\.\. )\d+(?= (?:more|common))"), lambda m, r: str(r.randint(5, 140))),
    (re.compile(r"(?<=Repeat )\d+(?= times)"), lambda m, r: str(r.randint(1000, 20000))),
    (re.compile(r"(?<=repeated )\d+(?= more)"), lambda m, r: str(r.randint(900, 999))),
    (re.compile(r"(?<=Task-)\d+"), lambda m, r: str(r.randint(1, 500))),
)
_BUNDLE = re.compile(r"(?<=[.-])[0-9a-f]{8}(?=\.(?:chunk\.)?js)")
_LINE_KEY = re.compile(r"\d+")


def _sub_numbers(text: str, rng: random.Random) -> str:
    def line(m: re.Match[str]) -> str:
        col = f":{rng.randint(1, 400000)}" if m["col"] else ""
        return f"{m['p']}{rng.randint(1, 3000)}{col}"

    return _LINE_NUMBERS.sub(line, text)


def _versions(text: str, rng: random.Random) -> str:
    text = _PY_VERSION.sub(lambda m: f"python3.{rng.randint(8, 13)}", text)
    return _VERSIONS.sub(
        lambda m: f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 20)}{m['rest']}", text
    )


def _paths(text: str, rng: random.Random) -> str:
    user = rng.choice(_NAMES)
    text = _USER_DIRS.sub(lambda m: m["p"] + user, text)
    return _AGENT.sub(lambda m: m["p"] + str(rng.randint(1, 40)), text)


def _ids(text: str, rng: random.Random) -> str:
    text = _GUID.sub(lambda m: str(uuid.UUID(int=rng.getrandbits(128))), text)
    text = _HEXADDR.sub(lambda m: "0x" + _hex(rng, len(m[0]) - 2), text)
    text = _MONO_MVID.sub(lambda m: f"<{_hex(rng, 32)}>", text)
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 30_000_000))
    text = _TIMESTAMP.sub(lambda m: start.strftime("%Y-%m-%d %H:%M:%S"), text)
    out = []
    for row in text.split("\n"):
        keep = _FRAMEISH.search(row)
        out.append(row if keep else _MESSAGE_NUMBER.sub(lambda m: _digits(rng, len(m[0])), row))
    return "\n".join(out)


def _counters(text: str, rng: random.Random) -> str:
    for regex, make in _COUNTERS:
        text = regex.sub(lambda m, make=make: make(m, rng), text)
    bundle = _hex(rng, 8)
    return _BUNDLE.sub(bundle, text)


def _recursion(text: str, rng: random.Random) -> str:
    """Change the length of runs of repeated frame lines (period 1 or 2)."""
    rows = text.split("\n")
    keys = [_LINE_KEY.sub("#", r) for r in rows]
    for period in (1, 2):
        i = 0
        while i + 2 * period <= len(rows):
            j = i
            while j + period < len(rows) and keys[j + period] == keys[j] and keys[j].strip():
                j += 1
            repeats = (j - i) // period
            if repeats >= 2 and _FRAMEISH.search(rows[i]):
                unit = rows[i : i + period]
                new = max(1, repeats + rng.randint(-repeats + 1, 6))
                tail = rows[i + repeats * period + period :]
                rows = rows[:i] + unit * (new + 1) + tail
                keys = [_LINE_KEY.sub("#", r) for r in rows]
                return "\n".join(rows)
            i += 1
    return text


def _indent(text: str, rng: random.Random) -> str:
    """Java traces are printed with tabs by the JVM and with spaces once pasted or logged."""
    if rng.random() < 0.5:
        return re.sub(r"(?m)^\t(?=at |\.\.\. )", "    ", text)
    return re.sub(r"(?m)^ {4,8}(?=at )", "\t", text)


PERTURBATIONS: tuple[Callable[[str, random.Random], str], ...] = (
    _sub_numbers,
    _versions,
    _paths,
    _ids,
    _counters,
    _recursion,
    _indent,
)


def perturb(text: str, rng: random.Random) -> str:
    for step in PERTURBATIONS:
        if rng.random() < 0.8:
            text = step(text, rng)
    return text


# --------------------------------------------------------------------------- mail shapes


@dataclass(frozen=True)
class Letter:
    """What a mail says before it is given a shape."""

    subject: str
    sender: str
    body: str
    is_html: bool = False
    headers: tuple[tuple[str, str], ...] = ()


def _pre(text: str) -> str:
    return f"<html><body><p>Error report</p><pre>{html.escape(text)}</pre></body></html>"


def _br(text: str) -> str:
    rows = (
        html.escape(r).replace("  ", "&nbsp; ").replace("\t", "&nbsp;&nbsp;&nbsp; ")
        for r in text.split("\n")
    )
    return (
        '<html><head><style>p{margin:0}</style></head><body><div style="font-family:Calibri">'
        + "<br>\n".join(rows)
        + "</div></body></html>"
    )


def _html_of(letter: Letter, rng: random.Random) -> str:
    if letter.is_html:
        return letter.body
    return _pre(letter.body) if rng.random() < 0.5 else _br(letter.body)


def _text_of(letter: Letter) -> str:
    if not letter.is_html:
        return letter.body
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", letter.body, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def shape_plain(letter: Letter, rng: random.Random) -> Message:
    if letter.is_html:
        return MIMEText(letter.body, "html", "utf-8")
    return MIMEText(letter.body, "plain", "utf-8")


def shape_html(letter: Letter, rng: random.Random) -> Message:
    return MIMEText(_html_of(letter, rng), "html", "utf-8")


def shape_alternative(letter: Letter, rng: random.Random) -> Message:
    msg = MIMEMultipart("alternative")
    msg.attach(MIMEText(_text_of(letter), "plain", "utf-8"))
    msg.attach(MIMEText(_html_of(letter, rng), "html", "utf-8"))
    return msg


def _encoded(text: str, subtype: str, charset: str, cte: str) -> Message:
    part = MIMEBase("text", subtype, charset=charset)
    part.set_payload(text.encode(charset, "replace"))
    if cte == "base64":
        encoders.encode_base64(part)
    else:
        encoders.encode_quopri(part)
    return part


def shape_base64(letter: Letter, rng: random.Random) -> Message:
    return _encoded(letter.body, "html" if letter.is_html else "plain", "utf-8", "base64")


def shape_qp(letter: Letter, rng: random.Random) -> Message:
    return _encoded(letter.body, "html" if letter.is_html else "plain", "utf-8", "qp")


def shape_cp1252(letter: Letter, rng: random.Random) -> Message:
    part = MIMEBase("text", "html" if letter.is_html else "plain", charset="windows-1252")
    part.set_payload(letter.body.encode("cp1252", "replace"))
    part["Content-Transfer-Encoding"] = "8bit"
    return part


def shape_attachment(letter: Letter, rng: random.Random) -> Message:
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText("Please find the error log attached.\n\n-- \nAutomated report", "plain"))
    name = rng.choice(("error.txt", "crash.log", "stacktrace.txt", "app.log"))
    if letter.is_html:
        name = "error.html"
    att = MIMEApplication(letter.body.encode("utf-8"), "octet-stream", Name=name)
    if rng.random() < 0.5:
        att = MIMEText(letter.body, "html" if letter.is_html else "plain", "utf-8")
    att.add_header("Content-Disposition", "attachment", filename=name)
    msg.attach(att)
    return msg


def shape_forward_rfc822(letter: Letter, rng: random.Random) -> Message:
    inner = MIMEText(letter.body, "html" if letter.is_html else "plain", "utf-8")
    inner["From"] = letter.sender
    inner["Subject"] = letter.subject
    inner["Date"] = format_datetime(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    msg = MIMEMultipart("mixed")
    msg.attach(MIMEText("Forwarding the error we got this morning, can you look at it?\n", "plain"))
    msg.attach(MIMEMessage(inner))
    return msg


def shape_forward_inline(letter: Letter, rng: random.Random) -> Message:
    text = (
        "see below, happened again today\n\n---------- Forwarded message ---------\n"
        f"From: {letter.sender}\nDate: Wed, Nov 26, 2026 at 9:14 AM\n"
        f"Subject: {letter.subject}\nTo: <support@acme.example>\n\n{_text_of(letter)}\n"
    )
    return MIMEText(text, "plain", "utf-8")


def shape_quoted(letter: Letter, rng: random.Random) -> Message:
    quoted = "\n".join(("> " + r).rstrip() for r in _text_of(letter).split("\n"))
    text = (
        "Hi, this still happens on our side with the latest build. Full error below.\n\n"
        f"On Wed, Nov 26, 2026 at 9:14 AM {letter.sender} wrote:\n{quoted}\n"
    )
    return MIMEText(text, "plain", "utf-8")


def shape_lost_breaks(letter: Letter, rng: random.Random) -> Message:
    text = _text_of(letter)
    joined = " ".join(r.strip() for r in text.split("\n") if r.strip())
    return MIMEText(f"Error report\n\n{joined}\n", "plain", "utf-8")


SHAPES: dict[str, Callable[[Letter, random.Random], Message]] = {
    "plain": shape_plain,
    "html": shape_html,
    "alternative": shape_alternative,
    "base64": shape_base64,
    "qp": shape_qp,
    "cp1252": shape_cp1252,
    "attachment": shape_attachment,
    "rfc822": shape_forward_rfc822,
    "inline-forward": shape_forward_inline,
    "quoted": shape_quoted,
    "lost-breaks": shape_lost_breaks,
}
NONREPORT_SHAPES = ("plain", "html", "alternative", "base64", "qp", "cp1252")


def _calendar(letter: Letter) -> Message:
    msg = MIMEMultipart("alternative")
    msg.attach(MIMEText(letter.body, "plain", "utf-8"))
    ics = (
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nDTSTART:20261127T130000Z\r\n"
        f"SUMMARY:{letter.subject}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    msg.attach(MIMEText(ics, "calendar", "utf-8"))
    return msg


def _report(letter: Letter) -> Message:
    msg = MIMEMultipart("report", report_type="disposition-notification")
    msg.attach(MIMEText(letter.body, "plain", "utf-8"))
    msg.attach(
        MIMEText("Final-Recipient: rfc822; helpdesk@acme.example\n", "disposition-notification")
    )
    return msg


def build(letter: Letter, shape: str, rng: random.Random, message_id: str) -> bytes:
    special = dict(letter.headers).get("X-Shape")
    content_type = dict(letter.headers).get("Content-Type", "")
    if special == "calendar":
        msg = _calendar(letter)
    elif content_type.startswith("multipart/report"):
        msg = _report(letter)
    else:
        msg = SHAPES[shape](letter, rng)
    msg["From"] = letter.sender
    msg["To"] = "helpdesk@acme.example"
    msg["Subject"] = letter.subject
    msg["Date"] = format_datetime(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    msg["Message-ID"] = f"<{message_id}@heldout.example>"
    for name, value in letter.headers:
        if name not in ("X-Shape", "Content-Type"):
            msg[name] = value
    return msg.as_bytes()


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Mail:
    name: str
    bug: str | None  # None: not a report
    raw: bytes


_SUBJECTS = (
    "[ERROR] {app} on {host}: unhandled exception",
    "Crash report {app} {ver}",
    "Unhandled exception in {app}",
    "Error report from {host}",
    "{app}: exception caught",
)
_SENDERS = ("errors@apps.example", "noreply@monitoring.example", "crash@client.example")


def _preamble(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return ""
    return (
        f"Application: Acme {rng.choice(('Desk', 'Server', 'Portal'))}\n"
        f"Version: {rng.randint(1, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9999)}\n"
        f"Machine: {rng.choice(_HOSTS)}\nUser: {rng.choice(_NAMES)}\n"
        f"Time: 2026-11-{rng.randint(1, 28):02d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}\n\n"
    )


def traces(root: Path, lang: str | None) -> Iterator[tuple[str, str, str, bool]]:
    """(language, bug, file name, is_html) for every trace of the corpus under ``root``."""
    for path in sorted((root / "traces").glob(f"{lang or '*'}/*")):
        yield path.parent.name, path.stem.partition("@")[0], path.name, path.suffix == ".html"


def corpus(
    variants: int, shapes: int, seed: int, root: Path = HERE, lang: str | None = None
) -> list[Mail]:
    rng = random.Random(seed)
    mails: list[Mail] = []
    shape_names = list(SHAPES)
    for language, bug, name, is_html in traces(root, lang):
        original = (root / "traces" / language / name).read_text("utf-8")
        for v in range(variants):
            text = original if v == 0 else perturb(original, rng)
            if not is_html:
                text = _preamble(rng) + text
            subject = rng.choice(_SUBJECTS).format(
                app=rng.choice(("Acme Desk", "Shop", "Portal")),
                host=rng.choice(_HOSTS),
                ver=f"{rng.randint(1, 5)}.{rng.randint(0, 9)}",
            )
            letter = Letter(subject, rng.choice(_SENDERS), text, is_html)
            for shape in rng.sample(shape_names, shapes):
                mid = f"{language}.{name}.v{v}.{shape}"
                mails.append(Mail(mid, f"{language}/{bug}", build(letter, shape, rng, mid)))
    for path in sorted((root / "nonreports").glob("*.txt")):
        head, _, body = path.read_text("utf-8").partition("\n\n")
        headers = tuple(
            (k.strip(), v.strip()) for k, _, v in (row.partition(":") for row in head.splitlines())
        )
        found = dict(headers)
        rest = tuple((k, v) for k, v in headers if k not in ("From", "Subject"))
        letter = Letter(found["Subject"], found["From"], body, False, rest)
        for shape in rng.sample(NONREPORT_SHAPES, 3):
            mid = f"non.{path.stem}.{shape}"
            mails.append(Mail(mid, None, build(letter, shape, rng, mid)))
    return mails


# --------------------------------------------------------------------------- scoring


def replay(mails: list[Mail], keep: Path | None) -> dict[str, dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="heldout-") as tmp:
        folder = keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for mail in mails:
            path = folder / f"{mail.name}.eml"
            path.write_bytes(mail.raw)
            paths.append(str(path))
        cmd = [sys.executable, "-m", "triagebot.cli", "replay", "--dry-run", "--json", *paths]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    out: dict[str, dict[str, object]] = {}
    for row in done.stdout.splitlines():
        record = json.loads(row)
        out[str(record["message_id"]).removesuffix("@heldout.example")] = record
    return out


def bcubed(truth: dict[str, str], pred: dict[str, str]) -> tuple[float, float, float]:
    by_true: dict[str, set[str]] = defaultdict(set)
    by_pred: dict[str, set[str]] = defaultdict(set)
    for item, label in truth.items():
        by_true[label].add(item)
        by_pred[pred[item]].add(item)
    p = r = 0.0
    for item in truth:
        same_true = by_true[truth[item]]
        same_pred = by_pred[pred[item]]
        both = len(same_true & same_pred)
        p += both / len(same_pred)
        r += both / len(same_true)
    p, r = p / len(truth), r / len(truth)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def score(mails: list[Mail], results: dict[str, dict[str, object]], show: str | None) -> None:
    truth: dict[str, str] = {}
    pred: dict[str, str] = {}
    tp = fp = fn = 0
    wrong: list[str] = []
    for mail in mails:
        record = results.get(mail.name, {})
        is_report = record.get("kind") == "error_report"
        if mail.bug is None:
            if is_report:
                fp += 1
                wrong.append(f"  FP {mail.name}: {record.get('title')}")
            continue
        if is_report:
            tp += 1
        else:
            fn += 1
            wrong.append(
                f"  FN {mail.name}: kind={record.get('kind')} reason={record.get('reason')}"
            )
        truth[mail.name] = mail.bug
        signature = record.get("signature") if is_report else None
        pred[mail.name] = f"sig:{signature}" if signature else f"none:{mail.name}"
        if show and show in mail.bug:
            print(
                f"{mail.name}: {signature} {record.get('title')!r} {record.get('exception_type')}"
                f" frames={record.get('frames')}"
            )
    p, r, f = bcubed(truth, pred)
    bugs = len(set(truth.values()))
    print(
        f"held-out: {len(mails)} mails, {len(truth)} reports of {bugs} bugs, "
        f"{len(mails) - len(truth)} non-reports"
    )
    print(f"grouping  B-cubed precision {p:.4f}  recall {r:.4f}  F1 {f:.4f}")
    dp, dr, df = _prf(tp, fp, fn)
    print(
        f"detection precision {dp:.4f}  recall {dr:.4f}  F1 {df:.4f}  (tp {tp}, fp {fp}, fn {fn})"
    )
    for language in sorted({bug.partition("/")[0] for bug in truth.values()}):
        mine = {item: bug for item, bug in truth.items() if bug.startswith(language + "/")}
        lf = bcubed(mine, {item: pred[item] for item in mine})[2]
        found = sum(not pred[item].startswith("none:") for item in mine)
        print(
            f"  {language:<11} B-cubed F1 {lf:.4f}  detection recall {found / len(mine):.4f}"
            f"  ({len(mine)} reports)"
        )
    members: dict[str, Counter[str]] = defaultdict(Counter)
    for item, label in pred.items():
        members[label][truth[item]] += 1
    merged = {sig: c for sig, c in members.items() if len(c) > 1}
    print(f"merged signatures: {len(merged)}")
    for sig, count in sorted(merged.items()):
        print(f"  {sig}: " + ", ".join(f"{bug} x{n}" for bug, n in count.most_common()))
    sigs: dict[str, Counter[str]] = defaultdict(Counter)
    for item, label in pred.items():
        sigs[truth[item]][label if label.startswith("sig:") else "none"] += 1
    split = {bug: c for bug, c in sigs.items() if len(c) > 1}
    print(f"bugs split over several signatures: {len(split)}")
    for bug, count in sorted(split.items()):
        print(f"  {bug}: " + ", ".join(f"{sig} x{n}" for sig, n in count.most_common()))
    if wrong:
        print("misclassified mails:")
        print("\n".join(wrong))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=4, help="perturbed variants per trace")
    parser.add_argument("--shapes", type=int, default=3, help="mail shapes per variant")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="write the .eml files here and keep them")
    parser.add_argument("--show", help="print every mail of bugs whose id contains this")
    parser.add_argument(
        "--corpus", type=Path, default=HERE, help="directory with traces/ and nonreports/"
    )
    parser.add_argument("--lang", help="only the traces of this language, e.g. go")
    args = parser.parse_args()
    mails = corpus(args.variants, args.shapes, args.seed, args.corpus, args.lang)
    score(mails, replay(mails, args.keep), args.show)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
