"""Realistic error-report mail generator for the benchmarks and the held-out grouping check.

A *pool* of distinct bugs is built combinatorially (namespaces x classes x methods x exception
types) per language, with hard negatives derived from some of them: the same frames with another
exception type, the same exception with another top in-app function, the same outer exception
with another root cause. Every generated mail renders one bug with what varies between real
occurrences (line numbers, build versions, install paths, machine and user names, ids in
messages, compiler-generated counters, recursion depth) and one MIME shape, and carries its
ground-truth group in the ``X-Bench-Group`` header, which triagebot ignores. A small share of
mails are not reports at all (questions, newsletters, out-of-office, bounces).

Everything is driven by one ``random.Random(seed)``: the same seed gives the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import html
import quopri
import random
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

SHAPES = (
    "plain",
    "alternative",
    "html",
    "base64",
    "qp",
    "attachment",
    "forwarded",
    "quoted",
    "cp1252",
)

#: Share of each language among report mails (.NET first: the smart client and app server).
LANGUAGE_WEIGHTS = {
    "dotnet": 50,
    "java": 15,
    "python": 12,
    "javascript": 10,
    "go": 5,
    "ruby": 4,
    "php": 4,
}

MACHINES = ("WS-ACC-", "NB-SALES-", "PC-HR-", "APPSRV", "TS-CITRIX-", "WKS", "LT-OPS-")
USERS = ("jdoe", "mmueller", "afournier", "kchen", "psmith", "lgarcia", "jürgen.maier", "tnguyen")
DOMAINS = ("ACME", "CONTOSO", "CORP")


# --------------------------------------------------------------------------- template expansion

_PLACEHOLDER = re.compile(
    r"\{(L|C|N|H|GUID|ID|TS|VER|MACHINE|USER)\}|\[\[R (\d+)-(\d+)\]\](.*?)\[\[/R\]\]", re.S
)


def machine(rng: random.Random) -> str:
    """A Windows-style host name as reporters print it."""
    return f"{rng.choice(MACHINES)}{rng.randint(1, 480):03d}"


def version(rng: random.Random) -> str:
    return f"{rng.randint(3, 5)}.{rng.randint(0, 14)}.{rng.randint(0, 9)}.{rng.randint(1000, 9999)}"


def guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def timestamp(rng: random.Random) -> str:
    return (
        f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    )


def expand(template: str, rng: random.Random) -> str:
    """Fill a template's volatile parts with fresh values.

    ``{L}`` line, ``{C}`` column, ``{N}`` compiler counter, ``{H}`` address, ``{GUID}``, ``{ID}``,
    ``{TS}``, ``{VER}``, ``{MACHINE}``, ``{USER}``; ``[[R 2-6]]text[[/R]]`` repeats ``text`` a
    random number of times (recursion depth). Every occurrence gets its own value.
    """

    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key is None:
            body = m.group(4)
            return "".join(expand(body, rng) for _ in range(rng.randint(int(m[2]), int(m[3]))))
        if key == "L":
            return str(rng.randint(12, 1400))
        if key == "C":
            return str(rng.randint(5, 48000))
        if key == "N":
            return str(rng.randint(0, 40))
        if key == "H":
            return f"0x{rng.getrandbits(24):x}"
        if key == "GUID":
            return guid(rng)
        if key == "ID":
            return str(rng.randint(100, 9_999_999))
        if key == "TS":
            return timestamp(rng)
        if key == "VER":
            return version(rng)
        if key == "MACHINE":
            return machine(rng)
        return rng.choice(USERS)

    return _PLACEHOLDER.sub(sub, template)


# --------------------------------------------------------------------------- MIME shapes


@dataclass(frozen=True, slots=True)
class Envelope:
    """Headers of one mail; ``extra`` lines go in verbatim (e.g. ``X-Bench-Group``)."""

    subject: str
    sender: str
    to: str
    message_id: str
    date: str
    extra: tuple[tuple[str, str], ...] = ()


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822_date(rng: random.Random) -> str:
    return (
        f"{rng.choice(_DAYS)}, {rng.randint(1, 28):02d} {rng.choice(_MONTHS)} 2024 "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} +0100"
    )


def envelope(rng: random.Random, subject: str, sender: str, **extra: str) -> Envelope:
    host = sender.rsplit("@", 1)[-1]
    return Envelope(
        subject=subject,
        sender=sender,
        to="helpdesk@acme.example",
        message_id=f"<{guid(rng)}@{host}>",
        date=rfc2822_date(rng),
        extra=tuple((k.replace("_", "-"), v) for k, v in extra.items()),
    )


def _head(env: Envelope, subject: str | None = None, sender: str | None = None) -> str:
    lines = [
        f"From: {sender or env.sender}",
        f"To: {env.to}",
        f"Subject: {subject or env.subject}",
        f"Date: {env.date}",
        f"Message-ID: {env.message_id}",
        "MIME-Version: 1.0",
    ]
    lines += [f"{k}: {v}" for k, v in env.extra]
    return "\n".join(lines) + "\n"


def _part(ctype: str, cte: str = "") -> str:
    """``Content-Type`` (utf-8 text unless ``ctype`` has parameters) and transfer encoding."""
    if "/" in ctype and ";" not in ctype and ctype.startswith("text/"):
        ctype += "; charset=utf-8"
    return f"Content-Type: {ctype}\n" + (f"Content-Transfer-Encoding: {cte}\n" if cte else "")


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _outlook_html(text: str) -> str:
    """Outlook-style HTML: one paragraph per line, indentation as ``&nbsp;``."""
    paras = []
    for line in text.split("\n"):
        stripped = line.lstrip(" \t")
        indent = "&nbsp;" * (len(line) - len(stripped))
        paras.append(
            f"<p class=MsoNormal>{indent}{html.escape(stripped) or '&nbsp;'}<o:p></o:p></p>"
        )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "</head><body lang=EN-US><div class=WordSection1>\n"
        + "\n".join(paras)
        + "\n</div></body></html>\n"
    )


def _pre_html(text: str) -> str:
    return (
        "<!DOCTYPE html><html><body><h3>Unhandled exception</h3>\n"
        f'<pre style="font-family:Consolas,monospace">{html.escape(text)}</pre>\n</body></html>\n'
    )


def _boundary(env: Envelope) -> str:
    return "=_" + env.message_id.strip("<>").split("@")[0].replace("-", "")[:24]


def render(env: Envelope, body: str, shape: str, rng: random.Random) -> bytes:
    """Wrap ``body`` (text with a trace) into one of ``SHAPES`` and return the raw mail."""
    if shape == "plain":
        return (_head(env) + _part("text/plain", "8bit") + "\n" + body).encode("utf-8")
    if shape == "html":
        page = _outlook_html(body) if rng.random() < 0.5 else _pre_html(body)
        return (_head(env) + _part("text/html", "quoted-printable") + "\n" + _qp(page)).encode()
    if shape == "alternative":
        b = _boundary(env)
        return (
            _head(env)
            + f'Content-Type: multipart/alternative; boundary="{b}"\n\n'
            + f"--{b}\n{_part('text/plain', 'quoted-printable')}\n"
            + _qp(body)
            + f"\n--{b}\n{_part('text/html', 'quoted-printable')}\n"
            + _qp(_outlook_html(body))
            + f"\n--{b}--\n"
        ).encode("ascii")
    if shape == "base64":
        return (_head(env) + _part("text/plain", "base64") + "\n" + _b64(body.encode())).encode()
    if shape == "qp":
        return (_head(env) + _part("text/plain", "quoted-printable") + "\n" + _qp(body)).encode()
    if shape == "cp1252":
        head = _head(env) + _part("text/plain; charset=windows-1252", "8bit")
        return head.encode("ascii") + b"\n" + body.encode("cp1252", "replace")
    if shape == "attachment":
        b = _boundary(env)
        name = f"error-{rng.randint(10000, 99999)}.txt"
        return (
            _head(env)
            + f'Content-Type: multipart/mixed; boundary="{b}"\n\n'
            + f"--{b}\nContent-Type: text/plain; charset=utf-8\n\n"
            + "An unhandled error occurred. The full report is attached.\n"
            + f'\n--{b}\nContent-Type: text/plain; charset=utf-8; name="{name}"\n'
            + f'Content-Disposition: attachment; filename="{name}"\n'
            + "Content-Transfer-Encoding: base64\n\n"
            + _b64(body.encode("utf-8"))
            + f"\n--{b}--\n"
        ).encode("ascii")
    user = rng.choice(("Anna Berg", "Luc Moreau", "Petra Schulz", "Tom Becker"))
    addr = user.lower().replace(" ", ".") + "@acme.example"
    if shape == "forwarded":
        text = (
            "Hi helpdesk,\n\nthis popped up again this morning, see below.\n\nThanks\n"
            f"{user.split()[0]}\n\n---------- Forwarded message ---------\n"
            f"From: {env.sender}\nDate: {env.date}\nSubject: {env.subject}\nTo: {env.to}\n\n{body}"
        )
        head = _head(env, "Fwd: " + env.subject, f"{user} <{addr}>")
        head += "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n"
        return (head + "\n" + text).encode("utf-8")
    if shape == "quoted":
        quoted = "\n".join("> " + line if line else ">" for line in body.split("\n"))
        text = (
            f"Same error again after the update.\n\nOn {env.date}, {env.sender} wrote:\n{quoted}\n"
        )
        head = _head(env, "FW: " + env.subject, f"{user} <{addr}>")
        head += "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n"
        return (head + "\n" + text).encode("utf-8")
    raise ValueError(f"unknown shape {shape!r}")


# --------------------------------------------------------------------------- bug pool


@dataclass(frozen=True, slots=True)
class AppFrame:
    """An in-app frame of a bug: owner (class / module / file), function, and how it prints.

    ``style``: ``plain``, ``async`` (.NET state machine), ``lambda`` (.NET display class,
    Java ``lambda$``, Go ``funcN``, Ruby ``block in``), ``recursive`` (printed 2-9 times).
    """

    owner: str
    function: str
    style: str = "plain"


@dataclass(frozen=True, slots=True)
class Cause:
    """One exception of a chain (outermost first) and the in-app frames it was thrown through."""

    type: str
    message: str
    frames: tuple[AppFrame, ...]


@dataclass(frozen=True, slots=True)
class Bug:
    """One distinct defect: ``group`` is its ground-truth id, ``app`` the reporting product."""

    group: str
    language: str
    app: str
    chain: tuple[Cause, ...]


_DOTNET_NS = (
    ("Acme.Desk.Client", ("ViewModels", "Views", "Services", "Printing")),
    ("Acme.Desk.AppServer", ("Services", "Data", "Workflow", "Jobs")),
    ("Contoso.Claims.Client", ("Forms", "Controls", "Import")),
    ("Contoso.Claims.Server", ("Handlers", "Repositories", "Integration")),
)
_NOUNS = (
    "Case",
    "Invoice",
    "Customer",
    "Order",
    "Claim",
    "Policy",
    "Contract",
    "Ticket",
    "Shipment",
    "Payment",
    "Document",
    "Appointment",
    "Tariff",
    "Account",
)
_DOTNET_SUFFIX = ("ViewModel", "Repository", "Service", "Form", "Handler", "Manager", "Importer")
_VERBS = (
    "Load",
    "Save",
    "Refresh",
    "Validate",
    "Submit",
    "Calculate",
    "Import",
    "Export",
    "Approve",
    "Sync",
    "Print",
    "Resolve",
    "Merge",
    "Archive",
)
_DOTNET_EXC = (
    ("System.NullReferenceException", "Object reference not set to an instance of an object."),
    ("System.InvalidOperationException", "Sequence contains no elements"),
    ("System.ArgumentNullException", "Value cannot be null.\nParameter name: customer"),
    (
        "System.ArgumentOutOfRangeException",
        "Index was out of range. Must be non-negative and less than the size of the "
        "collection.\nParameter name: index",
    ),
    (
        "System.Collections.Generic.KeyNotFoundException",
        "The given key '{ID}' was not present in the dictionary.",
    ),
    ("System.FormatException", "Input string was not in a correct format."),
    (
        "System.InvalidCastException",
        "Unable to cast object of type 'System.DBNull' to type 'System.String'.",
    ),
    (
        "System.ObjectDisposedException",
        "Cannot access a disposed object.\nObject name: 'SqlConnection'.",
    ),
    (
        "System.IO.IOException",
        "The process cannot access the file 'C:\\Users\\{USER}\\AppData\\Local\\Temp\\"
        "tmp{ID}.pdf' because it is being used by another process.",
    ),
    (
        "System.UnauthorizedAccessException",
        "Access to the path '\\\\fs{ID}\\export\\{GUID}.csv' is denied.",
    ),
    ("System.TimeoutException", "The operation has timed out after 00:01:00."),
    (
        "System.Data.SqlClient.SqlException",
        "Execution Timeout Expired.  The timeout period elapsed prior to completion of the "
        "operation or the server is not responding.",
    ),
    (
        "System.Net.Http.HttpRequestException",
        "Response status code does not indicate success: 503 (Service Unavailable).",
    ),
    (
        "System.ServiceModel.CommunicationException",
        "The underlying connection was closed: The connection was closed unexpectedly.",
    ),
)
_DOTNET_WRAPPERS = (
    ("Acme.Desk.Core.DataAccessException", "Could not load {ID} from the database."),
    ("System.InvalidOperationException", "The operation failed for request {GUID}."),
    (
        "System.Reflection.TargetInvocationException",
        "Exception has been thrown by the target of an invocation.",
    ),
)

_JAVA_PKG = (
    "com.acme.billing",
    "com.acme.billing.invoice",
    "com.acme.portal.web",
    "org.contoso.logistics.routing",
    "com.acme.crm.sync",
)
_JAVA_SUFFIX = ("Service", "Controller", "Repository", "Mapper", "Job", "Client")
_JAVA_EXC = (
    (
        "java.lang.NullPointerException",
        'Cannot invoke "String.length()" because "<local{N}>" is null',
    ),
    ("java.lang.IllegalStateException", "No active session for request {GUID}"),
    ("java.lang.IllegalArgumentException", "Unknown status code: {ID}"),
    ("java.util.NoSuchElementException", "No value present"),
    (
        "java.lang.ClassCastException",
        "class java.lang.Long cannot be cast to class java.lang.Integer",
    ),
    ("java.lang.ArrayIndexOutOfBoundsException", "Index {N} out of bounds for length {N}"),
    ("java.util.ConcurrentModificationException", ""),
    ("java.lang.NumberFormatException", 'For input string: "{ID}x"'),
)
_JAVA_CAUSES = (
    (
        "org.postgresql.util.PSQLException",
        "ERROR: deadlock detected\n  Detail: Process {ID} waits for ShareLock on transaction {ID}",
    ),
    ("java.net.SocketTimeoutException", "Read timed out"),
    (
        "java.sql.SQLTransientConnectionException",
        "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
    ),
)

_PY_PKG = ("billing", "billing/api", "reports", "sync/workers", "portal/views")
_PY_EXC = (
    ("KeyError", "'customer_{ID}'"),
    ("TypeError", "unsupported operand type(s) for +: 'NoneType' and 'int'"),
    ("AttributeError", "'NoneType' object has no attribute 'email'"),
    ("ValueError", "invalid literal for int() with base 10: '{ID}x'"),
    ("IndexError", "list index out of range"),
    ("ZeroDivisionError", "division by zero"),
    (
        "sqlalchemy.exc.IntegrityError",
        "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "
        '"orders_pkey"\nDETAIL:  Key (id)=({ID}) already exists.',
    ),
    (
        "requests.exceptions.ConnectionError",
        "HTTPSConnectionPool(host='api{N}.partner.example', port=443): Max retries exceeded",
    ),
)

_JS_DIRS = ("services", "controllers", "components", "store", "utils")
_JS_EXC = (
    ("TypeError", "Cannot read properties of undefined (reading '{W}')"),
    ("TypeError", "{W} is not a function"),
    ("RangeError", "Invalid array length"),
    ("ReferenceError", "{W} is not defined"),
    ("SyntaxError", "Unexpected token < in JSON at position {N}"),
    ("Error", "Request failed with status code 5{N}"),
)

_GO_PKG = (
    "github.com/acme/dispatch/internal/router",
    "github.com/acme/dispatch/internal/store",
    "github.com/acme/ledger/pkg/posting",
)
_GO_EXC = (
    ("runtime error", "invalid memory address or nil pointer dereference"),
    ("runtime error", "index out of range [{N}] with length {N}"),
    ("runtime error", "slice bounds out of range [:{N}] with capacity {N}"),
)

_RUBY_DIRS = ("app/models", "app/services", "app/controllers", "lib/importers")
_RUBY_EXC = (
    ("NoMethodError", "undefined method `{W}' for nil:NilClass"),
    ("ArgumentError", "wrong number of arguments (given {N}, expected 2)"),
    ("ActiveRecord::RecordNotFound", "Couldn't find Order with 'id'={ID}"),
    ("KeyError", "key not found: :{W}"),
)

_PHP_NS = ("App\\Billing", "App\\Controller", "App\\Service\\Import", "App\\Repository")
_PHP_SUFFIX = ("Service", "Controller", "Repository")
_PHP_EXC = (
    ("TypeError", "{CLS}::{FN}(): Argument #1 ($id) must be of type int, null given"),
    ("Error", "Call to a member function getId() on null"),
    ("InvalidArgumentException", 'Unknown currency code "X{N}"'),
    (
        "Doctrine\\DBAL\\Exception\\ConnectionException",
        "An exception occurred in the driver: SQLSTATE[HY000] [2002] Connection refused",
    ),
)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _pick_frames(
    rng: random.Random,
    owners: list[str],
    fn: Callable[[str], str],
    count: int,
    styles: tuple[str, ...],
) -> tuple[AppFrame, ...]:
    frames = []
    for _ in range(count):
        verb = rng.choice(_VERBS)
        frames.append(AppFrame(rng.choice(owners), fn(verb), rng.choice(styles)))
    return tuple(frames)


def _new_bug(rng: random.Random, language: str, group: str) -> Bug:
    """One random bug of ``language`` (not yet checked for uniqueness)."""
    noun = rng.choice(_NOUNS)
    depth = rng.randint(2, 5)
    if language == "dotnet":
        root, areas = rng.choice(_DOTNET_NS)
        owners = [
            f"{root}.{rng.choice(areas)}.{rng.choice(_NOUNS)}{rng.choice(_DOTNET_SUFFIX)}"
            for _ in range(3)
        ]
        styles = ("plain", "plain", "async", "lambda", "recursive")
        exc = rng.choice(_DOTNET_EXC)
        frames = _pick_frames(rng, owners, lambda v: v + noun, depth, styles)
        chain = [Cause(exc[0], exc[1], frames)]
        if rng.random() < 0.3:
            wrap = rng.choice(_DOTNET_WRAPPERS)
            outer = _pick_frames(rng, owners, lambda v: v + noun, 2, ("plain",))
            chain.insert(0, Cause(wrap[0], wrap[1], outer))
        return Bug(group, language, root.replace(".", " "), tuple(chain))
    if language == "java":
        pkg = rng.choice(_JAVA_PKG)
        owners = [f"{pkg}.{rng.choice(_NOUNS)}{rng.choice(_JAVA_SUFFIX)}" for _ in range(3)]
        exc = rng.choice(_JAVA_EXC)
        frames = _pick_frames(
            rng, owners, lambda v: v.lower() + noun, depth, ("plain", "plain", "lambda")
        )
        chain = [Cause(exc[0], exc[1], frames)]
        if rng.random() < 0.3:
            cause = rng.choice(_JAVA_CAUSES)
            inner = _pick_frames(rng, owners, lambda v: v.lower() + noun, 2, ("plain",))
            chain.append(Cause(cause[0], cause[1], inner))
        return Bug(group, language, pkg, tuple(chain))
    if language == "python":
        owners = [f"{rng.choice(_PY_PKG)}/{_snake(rng.choice(_NOUNS))}.py" for _ in range(3)]
        exc = rng.choice(_PY_EXC)
        frames = _pick_frames(
            rng, owners, lambda v: f"{v.lower()}_{_snake(noun)}", depth, ("plain",)
        )
        return Bug(group, language, owners[0].split("/")[0], (Cause(exc[0], exc[1], frames),))
    if language == "javascript":
        owners = [
            f"{rng.choice(_JS_DIRS)}/{_snake(rng.choice(_NOUNS)).replace('_', '-')}.js"
            for _ in range(3)
        ]
        exc = rng.choice(_JS_EXC)
        cls = noun + rng.choice(("Service", "Store", "Controller", "Panel"))
        frames = _pick_frames(rng, owners, lambda v: f"{cls}.{v.lower()}{noun}", depth, ("plain",))
        message = exc[1].replace("{W}", rng.choice(("id", "items", "customerId", "map", "total")))
        return Bug(group, language, "portal", (Cause(exc[0], message, frames),))
    if language == "go":
        pkg = rng.choice(_GO_PKG)
        owners = [f"{pkg}.(*{noun}{rng.choice(('Handler', 'Store', 'Router'))})", pkg]
        exc = rng.choice(_GO_EXC)
        frames = _pick_frames(rng, owners, lambda v: v + noun, depth, ("plain", "lambda"))
        return Bug(group, language, pkg.split("/")[2], (Cause(exc[0], exc[1], frames),))
    if language == "ruby":
        owners = [f"{rng.choice(_RUBY_DIRS)}/{_snake(rng.choice(_NOUNS))}.rb" for _ in range(3)]
        exc = rng.choice(_RUBY_EXC)
        frames = _pick_frames(
            rng, owners, lambda v: f"{v.lower()}_{_snake(noun)}", depth, ("plain", "lambda")
        )
        message = exc[1].replace("{W}", rng.choice(("price", "email", "total", "name")))
        return Bug(group, language, "shop", (Cause(exc[0], message, frames),))
    owners = [
        f"{rng.choice(_PHP_NS)}\\{rng.choice(_NOUNS)}{rng.choice(_PHP_SUFFIX)}" for _ in range(3)
    ]
    exc = rng.choice(_PHP_EXC)
    frames = _pick_frames(rng, owners, lambda v: v.lower() + noun, depth, ("plain",))
    message = exc[1].replace("{CLS}", frames[0].owner).replace("{FN}", frames[0].function)
    return Bug(group, "php", "billing", (Cause(exc[0], message, frames),))


def _identity(bug: Bug) -> tuple[object, ...]:
    """What the signature must tell apart: language, exception types, in-app functions."""
    return (
        bug.language,
        tuple((c.type, tuple((f.owner, f.function) for f in c.frames)) for c in bug.chain),
    )


#: Languages whose rendered traces carry a chain of causes.
_CHAINED = frozenset({"dotnet", "java", "python"})


def _sibling(rng: random.Random, bug: Bug, group: str) -> Bug:
    """A hard negative: another exception type, another top function, or another root cause."""
    first = bug.chain[-1]
    if bug.language in _CHAINED:
        kind = rng.randrange(3)
    else:  # one exception per trace; a Go panic prints no exception type
        kind = 1 if bug.language == "go" else rng.randrange(2)
    if kind == 0:
        new_type = (
            first.type + "Ex" if "." in first.type or "\\" in first.type else "Runtime" + first.type
        )
        new = replace(first, type=new_type)
        return replace(bug, group=group, chain=(*bug.chain[:-1], new))
    if kind == 1:
        top = first.frames[0]
        new = replace(
            first, frames=(replace(top, function=top.function + "Core"), *first.frames[1:])
        )
        return replace(bug, group=group, chain=(*bug.chain[:-1], new))
    if len(bug.chain) > 1:
        return replace(
            bug, group=group, chain=(*bug.chain[:-1], replace(first, type=first.type + "Other"))
        )
    inner = Cause(
        "System.TimeoutException" if bug.language == "dotnet" else "TimeoutError",
        "timed out",
        first.frames[:1],
    )
    if bug.language == "python":  # Python prints causes, not a nested chain: keep the outer frames
        return replace(bug, group=group, chain=(inner, first))
    return replace(bug, group=group, chain=(*bug.chain, inner))


def bug_pool(count: int = 240, seed: int = 7) -> list[Bug]:
    """``count`` distinct bugs, about a fifth of them hard negatives of another pool member."""
    rng = random.Random(seed)
    languages = list(LANGUAGE_WEIGHTS)
    weights = list(LANGUAGE_WEIGHTS.values())
    pool: list[Bug] = []
    seen: set[tuple[object, ...]] = set()
    while len(pool) < count:
        group = f"bug-{len(pool):04d}"
        if pool and rng.random() < 0.2:
            bug = _sibling(rng, rng.choice(pool), group)
        else:
            bug = _new_bug(rng, rng.choices(languages, weights)[0], group)
        key = _identity(bug)
        if key not in seen:
            seen.add(key)
            pool.append(bug)
    return pool


# --------------------------------------------------------------------------- trace rendering


@dataclass(slots=True)
class Occurrence:
    """What differs between two reports of the same bug."""

    rng: random.Random
    version: str
    machine: str
    user: str
    root: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def line(self) -> int:
        return self.rng.randint(12, 1400)

    def counter(self) -> int:
        return self.rng.randint(0, 40)

    def repeat(self, frame: AppFrame) -> int:
        return self.rng.randint(2, 9) if frame.style == "recursive" else 1


def _dotnet_frames(bug: Bug, cause: Cause, occ: Occurrence) -> list[str]:
    out: list[str] = []
    for frame in cause.frames:
        cls = frame.owner.rsplit(".", 1)[-1]
        project = ".".join(frame.owner.split(".")[:3])
        src = f"{occ.root}\\src\\{project}\\{cls}.cs"
        if frame.style == "async":
            name = f"{frame.owner}.<{frame.function}Async>d__{occ.counter()}.MoveNext()"
        elif frame.style == "lambda":
            n = occ.counter()
            lam = f"<{frame.function}>b__{occ.counter()}(Object sender, EventArgs e)"
            name = f"{frame.owner}.<>c__DisplayClass{n}_0.{lam}"
        else:
            name = f"{frame.owner}.{frame.function}(Int32 id)"
        for _ in range(occ.repeat(frame)):
            out.append(f"   at {name} in {src}:line {occ.line()}")
        if frame.style == "async":
            out += [
                "--- End of stack trace from previous location where exception was thrown ---",
                "   at System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw()",
                "   at System.Runtime.CompilerServices.TaskAwaiter."
                "HandleNonSuccessAndDebuggerNotification(Task task)",
            ]
    return out


_DOTNET_BOTTOM = (
    "   at System.Windows.Forms.Control.OnClick(EventArgs e)\n"
    "   at System.Windows.Forms.Button.OnMouseUp(MouseEventArgs mevent)\n"
    "   at System.Windows.Forms.Control.WmMouseUp(Message& m, MouseButtons button, Int32 clicks)\n"
    "   at System.Windows.Forms.Control.WndProc(Message& m)\n"
    "   at System.Windows.Forms.NativeWindow.Callback("
    "IntPtr hWnd, Int32 msg, IntPtr wparam, IntPtr lparam)",
    "   at System.ServiceModel.Dispatcher.SyncMethodInvoker.Invoke("
    "Object instance, Object[] inputs, Object[]& outputs)\n"
    "   at System.ServiceModel.Dispatcher.DispatchOperationRuntime.InvokeBegin(MessageRpc& rpc)\n"
    "   at System.ServiceModel.Dispatcher.ImmutableDispatchRuntime.ProcessMessage5("
    "MessageRpc& rpc)\n"
    "   at System.ServiceModel.Dispatcher.MessageRpc.Process(Boolean isOperationContextSet)",
)
_SQL_TOP = (
    "   at System.Data.SqlClient.SqlConnection.OnError(SqlException exception, "
    "Boolean breakConnection, Action`1 wrapCloseInAction)\n"
    "   at System.Data.SqlClient.TdsParser.TryRun(RunBehavior runBehavior, "
    "SqlCommand cmdHandler, SqlDataReader dataStream, BulkCopySimpleResultSet bulkCopyHandler, "
    "TdsParserStateObject stateObj, Boolean& dataReady)\n"
    "   at System.Data.SqlClient.SqlCommand.ExecuteReader(CommandBehavior behavior)"
)


def render_dotnet(bug: Bug, occ: Occurrence) -> str:
    """``Exception.ToString()``: outer ``--->`` inner header, innermost frames first."""
    rng = occ.rng
    occ.root = rng.choice(
        (
            "C:\\Build\\Agent\\_work\\" + str(rng.randint(1, 40)) + "\\s",
            "D:\\a\\1\\s",
            "C:\\Users\\builder\\source\\repos\\" + bug.app.split()[0],
        )
    )
    header = " ---> ".join(f"{c.type}: {expand(c.message, rng)}" for c in bug.chain)
    blocks = []
    for cause in reversed(bug.chain):
        lines = _dotnet_frames(bug, cause, occ)
        if cause.type.endswith("SqlException"):
            lines.insert(0, _SQL_TOP)
        blocks.append("\n".join(lines))
    bottom = _DOTNET_BOTTOM[1] if "Server" in bug.app else _DOTNET_BOTTOM[0]
    trace = "\n   --- End of inner exception stack trace ---\n".join(blocks)
    return f"{header}\n{trace}\n{bottom}"


_JAVA_LIB = (
    "\tat org.springframework.aop.framework.ReflectiveMethodInvocation.proceed("
    "ReflectiveMethodInvocation.java:186)\n"
    "\tat org.springframework.transaction.interceptor.TransactionInterceptor.invoke("
    "TransactionInterceptor.java:119)\n"
    "\tat org.apache.catalina.core.ApplicationFilterChain.doFilter("
    "ApplicationFilterChain.java:166)\n"
    "\tat java.base/java.lang.Thread.run(Thread.java:840)"
)
_JAVA_STREAM = (
    "\tat java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:197)"
)


def _hexaddr(rng: random.Random) -> str:
    return f"0xc{rng.getrandbits(36):09x}"


def render_java(bug: Bug, occ: Occurrence) -> str:
    """``printStackTrace()``: ``Caused by:`` sections, synthetic lambda classes, ``... n more``."""
    rng = occ.rng
    lines: list[str] = []
    for i, cause in enumerate(bug.chain):
        head = f"{cause.type}: {expand(cause.message, rng)}".rstrip(": ")
        lines.append(f"Caused by: {head}" if i else head)
        for frame in cause.frames:
            file = frame.owner.rsplit(".", 1)[-1] + ".java"
            if frame.style == "lambda":
                synthetic = f"$$Lambda${rng.randint(100, 2000)}/0x0000{rng.getrandbits(36):09x}"
                lines += [
                    f"\tat {frame.owner}.lambda${frame.function}${occ.counter()}"
                    f"({file}:{occ.line()})",
                    f"\tat {frame.owner}{synthetic}.apply(Unknown Source)",
                    _JAVA_STREAM,
                ]
            else:
                lines.append(f"\tat {frame.owner}.{frame.function}({file}:{occ.line()})")
        lines.append(f"\t... {rng.randint(20, 80)} more" if i else _JAVA_LIB)
    return "\n".join(lines)


def render_python(bug: Bug, occ: Occurrence) -> str:
    """A traceback per exception, root cause first, joined by the "direct cause" line."""
    rng = occ.rng
    root = rng.choice(("/opt/acme/releases/" + occ.version, "/srv/apps/current", "/home/app"))
    lib = f"{root}/.venv/lib/python3.{rng.randint(9, 12)}/site-packages/sqlalchemy/orm/session.py"
    chunks = []
    for cause in reversed(bug.chain):
        lines = ["Traceback (most recent call last):"]
        for frame in reversed(cause.frames):
            lines.append(f'  File "{root}/{frame.owner}", line {occ.line()}, in {frame.function}')
            lines.append(f"    result = self.{frame.function}_impl(payload)")
        lines.append(f'  File "{lib}", line {occ.line()}, in execute')
        lines.append("    return self._execute_internal(")
        lines.append(f"{cause.type}: {expand(cause.message, rng)}")
        chunks.append("\n".join(lines))
    return _PY_CAUSE.join(chunks)


_PY_CAUSE = "\n\nThe above exception was the direct cause of the following exception:\n\n"


def render_javascript(bug: Bug, occ: Occurrence) -> str:
    """A Node.js ``err.stack`` from a server bundle."""
    rng = occ.rng
    cause = bug.chain[0]
    root = rng.choice(("/srv/portal/releases/" + occ.version, "/app", "/var/www/portal"))
    lines = [f"{cause.type}: {expand(cause.message, rng)}"]
    for frame in cause.frames:
        where = f"{root}/dist/{frame.owner}:{occ.line()}:{rng.randint(3, 80)}"
        lines.append(f"    at {frame.function} ({where})")
    express = f"{root}/node_modules/express/lib/router/layer.js:95:5"
    lines += [
        f"    at Layer.handle [as handle_request] ({express})",
        "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
    ]
    return "\n".join(lines)


def render_go(bug: Bug, occ: Occurrence) -> str:
    """A Go panic with its goroutine dump (argument words and PC offsets vary per run)."""
    rng = occ.rng
    cause = bug.chain[0]
    root = rng.choice(("/home/runner/work/app/app", "/build/src", "/go/src/app"))
    lines = [f"panic: {cause.type}: {expand(cause.message, rng)}"]
    if "nil pointer" in cause.message:
        addr = f"addr=0x{rng.randint(8, 200):x} pc=0x{rng.getrandbits(24):x}"
        lines.append(f"[signal SIGSEGV: segmentation violation code=0x1 {addr}]")
    lines += ["", f"goroutine {rng.randint(1, 9000)} [running]:"]
    for frame in cause.frames:
        fn = frame.function
        if frame.style == "lambda":
            fn += f".func{occ.counter() + 1}"
        pkg_dir = frame.owner.split(".(")[0].split("/", 3)[-1]
        args = f"{_hexaddr(rng)}, {{{_hexaddr(rng)}, 0x{rng.randint(1, 99):x}}}"
        lines.append(f"{frame.owner}.{fn}({args})")
        file = f"{root}/{pkg_dir}/{_snake(frame.function)}.go"
        lines.append(f"\t{file}:{occ.line()} +0x{rng.randint(16, 900):x}")
    serve = f"{_hexaddr(rng)}, {{0x{rng.getrandbits(24):x}, {_hexaddr(rng)}}}, {_hexaddr(rng)}"
    lines += [
        f"net/http.HandlerFunc.ServeHTTP({serve})",
        f"\t/usr/local/go/src/net/http/server.go:{rng.randint(2100, 2200)} +0x29",
        "created by net/http.(*Server).Serve in goroutine 1",
        f"\t/usr/local/go/src/net/http/server.go:{rng.randint(3000, 3100)} +0x4cc",
    ]
    return "\n".join(lines)


def render_ruby(bug: Bug, occ: Occurrence) -> str:
    """Ruby's uncaught-exception report: message on the first frame, then ``from`` lines."""
    rng = occ.rng
    cause = bug.chain[0]
    root = f"/srv/shop/releases/2024{rng.randint(10**9, 10**10 - 1)}"
    lines = []
    for i, frame in enumerate(cause.frames):
        label = f"block in {frame.function}" if frame.style == "lambda" else frame.function
        loc = f"{root}/{frame.owner}:{occ.line()}:in `{label}'"
        lines.append(
            f"\tfrom {loc}" if i else f"{loc}: {expand(cause.message, rng)} ({cause.type})"
        )
    gems = f"/srv/shop/shared/bundle/ruby/3.{rng.randint(0, 3)}.0/gems"
    pack = f"{gems}/actionpack-7.1.{rng.randint(0, 3)}/lib/action_controller/metal"
    support = f"{gems}/activesupport-7.1.{rng.randint(0, 3)}/lib/active_support"
    lines += [
        f"\tfrom {pack}/basic_implicit_render.rb:6:in `send_action'",
        f"\tfrom {support}/callbacks.rb:{occ.line()}:in `block in run_callbacks'",
    ]
    return "\n".join(lines)


def render_php(bug: Bug, occ: Occurrence) -> str:
    """PHP's fatal "Uncaught" error with the ``#n file(line): Class->method()`` trace."""
    rng = occ.rng
    cause = bug.chain[0]
    root = rng.choice(("/var/www/billing", "/srv/billing/releases/" + occ.version, "/app"))

    def path(owner: str) -> str:
        return f"{root}/src/" + owner.split("\\", 1)[1].replace("\\", "/") + ".php"

    top = cause.frames[0]
    message = expand(cause.message, rng)
    lines = [
        f"PHP Fatal error:  Uncaught {cause.type}: {message} in {path(top.owner)}:{occ.line()}",
        "Stack trace:",
    ]
    for i, frame in enumerate(cause.frames):
        caller = cause.frames[i + 1] if i + 1 < len(cause.frames) else frame
        call = f"{frame.owner}->{frame.function}({rng.randint(1, 99999)})"
        lines.append(f"#{i} {path(caller.owner)}({occ.line()}): {call}")
    n = len(cause.frames)
    kernel = f"{root}/vendor/symfony/http-kernel/HttpKernel.php({occ.line()})"
    request = "Object(Symfony\\Component\\HttpFoundation\\Request)"
    lines += [
        f"#{n} {kernel}: App\\Controller\\Dispatch->__invoke({request})",
        f"#{n + 1} {{main}}",
        f"  thrown in {path(top.owner)} on line {occ.line()}",
    ]
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[Bug, Occurrence], str]] = {
    "dotnet": render_dotnet,
    "java": render_java,
    "python": render_python,
    "javascript": render_javascript,
    "go": render_go,
    "ruby": render_ruby,
    "php": render_php,
}

_LOG_TAIL = (
    "{TS} INFO  Session started for {USER} on {MACHINE}",
    "{TS} DEBUG Loaded configuration from profile {ID}",
    "{TS} INFO  Opened record {ID} (correlation {GUID})",
    "{TS} WARN  Slow response from backend: {ID} ms",
    "{TS} INFO  Cache refreshed, {N} entries",
)


def report_text(app: str, trace: str, occ: Occurrence) -> str:
    """The text an error reporter mails: a metadata block, the trace and a short log tail."""
    rng = occ.rng
    meta = [
        f"Application: {app}",
        f"Version: {occ.version}",
        f"Machine: {occ.machine}",
        f"User: {rng.choice(DOMAINS)}\\{occ.user}",
        f"Time: {timestamp(rng)}",
        f"Correlation-Id: {guid(rng)}",
    ]
    tail = [expand(rng.choice(_LOG_TAIL), rng) for _ in range(rng.randint(4, 20))]
    return (
        "\n".join(meta) + "\n\nException:\n" + trace + "\n\nRecent log:\n" + "\n".join(tail) + "\n"
    )


def report_envelope(app: str, occ: Occurrence, **extra: str) -> Envelope:
    """Headers as the reporting application sends them (one sender per host)."""
    sender = f"{app.split(maxsplit=1)[0].lower()}-errors@{occ.machine.lower()}.acme.example"
    subject = f"[{app}] Unhandled exception on {occ.machine} ({occ.version})"
    return envelope(occ.rng, subject, sender, **extra)


# --------------------------------------------------------------------------- not reports

_NOT_REPORTS: tuple[tuple[str, str, dict[str, str], str], ...] = (
    (
        "Question about export to Excel",
        "Maria Lopez <maria.lopez@acme.example>",
        {},
        "Hello,\n\nhow can I export the case list to Excel? The button is greyed out "
        "for me.\n\nRegards,\nMaria\n",
    ),
    (
        "Automatic reply: Crash report",
        "Hans Weber <hans.weber@acme.example>",
        {"Auto-Submitted": "auto-replied"},
        "I am out of the office until {TS} with limited access to e-mail.\n"
        "For urgent matters contact the service desk.\n",
    ),
    (
        "Acme Monthly: what's new in {VER}",
        "Acme News <news@mailer.acme-news.example>",
        {"List-Unsubscribe": "<https://news.acme.example/u/{ID}>", "Precedence": "bulk"},
        "Read about the new dashboards, faster imports and more in this month's newsletter.\n",
    ),
    (
        "Undelivered Mail Returned to Sender",
        "MAILER-DAEMON@mx{N}.acme.example (Mail Delivery System)",
        {"Auto-Submitted": "auto-replied"},
        "This is the mail system at host mx.acme.example.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        "<old.user@acme.example>: host mailstore said: 550 5.1.1 User unknown\n",
    ),
)


def not_report(rng: random.Random) -> tuple[Envelope, str]:
    subject, sender, extra, body = rng.choice(_NOT_REPORTS)
    env = envelope(
        rng,
        expand(subject, rng),
        expand(sender, rng),
        **{k: expand(v, rng) for k, v in extra.items()},
    )
    return env, expand(body, rng)


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True, slots=True)
class Mail:
    """One generated mail and its ground truth (``group`` is ``None`` for a non-report)."""

    raw: bytes
    group: str | None
    language: str | None
    shape: str


def occurrence(rng: random.Random) -> Occurrence:
    return Occurrence(rng=rng, version=version(rng), machine=machine(rng), user=rng.choice(USERS))


def report_mail(bug: Bug, rng: random.Random, shape: str) -> Mail:
    occ = occurrence(rng)
    body = report_text(bug.app, RENDERERS[bug.language](bug, occ), occ)
    env = report_envelope(bug.app, occ, X_Bench_Group=bug.group)
    return Mail(render(env, body, shape, rng), bug.group, bug.language, shape)


def generate(
    n: int, seed: int = 1, *, pool: list[Bug] | None = None, non_report_rate: float = 0.02
) -> Iterator[Mail]:
    """``n`` mails: reports of bugs drawn from ``pool`` (Zipf-like: a few bugs dominate) plus
    ``non_report_rate`` non-reports, each in a random MIME shape."""
    rng = random.Random(seed)
    bugs = pool if pool is not None else bug_pool()
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(bugs))]
    for _ in range(n):
        if rng.random() < non_report_rate:
            env, body = not_report(rng)
            shape = rng.choice(("plain", "alternative", "qp"))
            yield Mail(render(env, body, shape, rng), None, None, shape)
        else:
            bug = rng.choices(bugs, weights)[0]
            yield report_mail(bug, rng, rng.choice(SHAPES))


def write_maildir(path: Path, mails: Iterator[Mail]) -> int:
    """Write mails straight into ``path/new`` (creating ``tmp``/``cur``); returns the count."""
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    count = 0
    for count, mail in enumerate(mails, 1):
        (path / "new" / f"{count:08d}.bench").write_bytes(mail.raw)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write generated report mails into a Maildir.")
    parser.add_argument("maildir", type=Path)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    count = write_maildir(args.maildir, generate(args.n, args.seed))
    print(f"wrote {count} mails to {args.maildir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
