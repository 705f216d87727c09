"""Triage rules: ordered, firewall-style, loaded from ``rules/*.toml`` and compiled once.

Files are read in name order and rules in file order. Each rule has conditions (all must
hold; a rule without conditions matches everything) and an outcome. The first matching rule
that has an ``action`` decides; a matching rule without ``action`` only contributes fields
(priority, labels...) and evaluation goes on. When no rule decides, the decision is
``candidate`` by the rule named ``default``. Later fields override earlier ones, except
``components`` and ``labels``, which accumulate.

Everything is compiled at load (globs and regexes into patterns, version ranges into
tuples, durations into ``timedelta``), so ``RuleSet.evaluate`` only matches. The module does
no I/O besides loading: occurrence counts come from a ``count(signature, since)`` callable.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import structlog

from triagebot.errors import RuleError
from triagebot.mail.report import Kind, Report

log = structlog.get_logger(__name__)

__all__ = [
    "Action",
    "CountFn",
    "Decision",
    "Fields",
    "Match",
    "Rule",
    "RuleSet",
    "SignatureLike",
    "load_rules",
    "parse_duration",
    "parse_version",
]

DEFAULT_RULE = "default"


class Action(StrEnum):
    """What happens to a report's defect."""

    IGNORE = "ignore"  # recorded, never filed
    FILE = "file"  # straight to the tracker
    CANDIDATE = "candidate"  # the helpdesk confirms first


class SignatureLike(Protocol):
    """The parts of ``triagebot.stack.signature.Signature`` the rules read."""

    @property
    def value(self) -> str: ...
    @property
    def in_app_frames(self) -> tuple[str, ...]: ...
    @property
    def top_in_app(self) -> str | None: ...


#: ``count(signature, since)``: occurrences of the signature already recorded at or after ``since``.
CountFn = Callable[[str, datetime], int]


#: ``Fields`` by JSON shape: one value, or a list.
_TEXT_FIELDS = ("project", "issue_type", "priority", "assignee")
_LIST_FIELDS = ("components", "labels")


@dataclass(frozen=True, slots=True)
class Fields:
    """Tracker fields a rule sets; ``None`` / empty means "not set by any rule"."""

    project: str | None = None
    issue_type: str | None = None
    priority: str | None = None
    components: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    assignee: str | None = None

    def merge(self, later: Fields) -> Fields:
        """``later`` wins for single values; lists accumulate without duplicates."""
        return Fields(
            project=later.project or self.project,
            issue_type=later.issue_type or self.issue_type,
            priority=later.priority or self.priority,
            components=_union(self.components, later.components),
            labels=_union(self.labels, later.labels),
            assignee=later.assignee or self.assignee,
        )

    def as_dict(self) -> dict[str, str | list[str]]:
        """Only the fields that are set, JSON-ready."""
        out: dict[str, str | list[str]] = {}
        for name in _TEXT_FIELDS:
            if value := getattr(self, name):
                out[name] = value
        for name in _LIST_FIELDS:
            if values := getattr(self, name):
                out[name] = list(values)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Fields:
        """Inverse of ``as_dict`` (the store keeps fields as JSON)."""

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        def items(key: str) -> tuple[str, ...]:
            value = data.get(key)
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return cls(
            project=text("project"),
            issue_type=text("issue_type"),
            priority=text("priority"),
            components=items("components"),
            labels=items("labels"),
            assignee=text("assignee"),
        )


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return a + tuple(x for x in b if x not in a) if b else a


NO_FIELDS = Fields()


@dataclass(frozen=True, slots=True)
class Match:
    """One line of an explanation: a rule and the condition(s) that matched or failed."""

    rule: str
    condition: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of the rules for one report; ``rule`` names who decided."""

    action: Action
    rule: str
    fields: Fields = NO_FIELDS
    hits: tuple[Match, ...] = ()
    misses: tuple[Match, ...] = ()
    override_rejection: bool = False  # the deciding rule files/proposes even a rejected defect


# --- versions and durations --------------------------------------------------------------

_VERSION_NUMBERS = re.compile(r"\d+")
# Blanks read once (possessive), numbers from their first digit: "\s*(op)?\s*" split a long run
# of spaces every way, and a search from each digit of a long number read the rest of it.
_VERSION_CLAUSE = re.compile(r"^\s*+(>=|<=|==|!=|>|<|=)?\s*+(\d+(?:\.\d+)*)\s*$")
_DURATION = re.compile(r"(?<!\d)(\d++)\s*+([smhdw])")
_DURATION_FULL = re.compile(r"^(?:\s*\d+\s*[smhdw])+\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Version = tuple[int, ...]


@lru_cache(maxsize=4096)  # a few versions recur in every report: parse each once
def parse_version(text: str | None) -> Version | None:
    """Dotted numeric version as a comparable tuple (``4.10`` > ``4.9``; ``4.2`` == ``4.2.0``).

    Suffixes after the numbers are ignored (``5.1.2-beta`` → ``(5, 1, 2)``); no digits → None.
    """
    if not text:
        return None
    head = text.strip().split("-", 1)[0].split("+", 1)[0].split(" ", 1)[0]
    numbers = [int(n) for n in _VERSION_NUMBERS.findall(head)]
    if not numbers:
        return None
    while len(numbers) > 1 and numbers[-1] == 0:  # trailing zeros do not change the order
        numbers.pop()
    return tuple(numbers)


_OPS: dict[str, Callable[[Version, Version], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _version_range(spec: str) -> Callable[[Version], bool]:
    """``">=4.2, <5"`` → a predicate; a bare version means equality. Raises ValueError."""
    clauses: list[tuple[Callable[[Version, Version], bool], Version]] = []
    for part in spec.split(","):
        m = _VERSION_CLAUSE.match(part)
        if not m:
            raise ValueError(f"bad version range {spec!r}: cannot read {part.strip()!r}")
        bound = parse_version(m.group(2))
        assert bound is not None  # the pattern guarantees digits
        clauses.append((_OPS[m.group(1) or "=="], bound))
    return lambda v: all(op(v, bound) for op, bound in clauses)


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``, ``"1w"`` → timedelta; raises ValueError."""
    if not _DURATION_FULL.match(text):
        raise ValueError(f"bad duration {text!r} (use e.g. 90s, 15m, 1h, 2d)")
    seconds = sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    if seconds <= 0:
        raise ValueError(f"bad duration {text!r}: must be positive")
    return timedelta(seconds=seconds)


# --- facts: what the conditions look at, extracted once per report -----------------------


@dataclass(slots=True)
class _Facts:
    report: Report
    signature: SignatureLike | None
    types: tuple[str, ...]  # qualified and short names of the whole chain
    messages: tuple[str, ...]
    language: str
    count: CountFn | None
    now: datetime | None  # None with ``count``: a dry run


def _facts(
    report: Report, signature: SignatureLike | None, count: CountFn | None, now: datetime | None
) -> _Facts:
    trace = report.trace
    types: list[str] = []
    messages: list[str] = []
    if trace is not None:
        for exc in trace.exceptions:
            types.append(exc.type)
            short = exc.short_type
            if short != exc.type:
                types.append(short)
            messages.append(exc.message)
    return _Facts(
        report=report,
        signature=signature,
        types=tuple(types),
        messages=tuple(messages),
        language=trace.language if trace is not None else "",
        count=count,
        now=now,
    )


# --- conditions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Condition:
    key: str
    text: str  # human-readable, built at load
    test: Callable[[_Facts], bool]
    actual: Callable[[_Facts], str]  # what the report had, for ``explain``
    window: timedelta | None = None  # an ``occurrences`` condition's look-back
    at_least: int = 0  # and the count it asks for


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"expected a string or a non-empty list of strings, got {value!r}")


def _glob(patterns: list[str], *, ignore_case: bool) -> re.Pattern[str]:
    """Several globs as one anchored pattern (``*`` matches anything, including dots)."""
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile("|".join(fnmatch.translate(p) for p in patterns), flags)


def _show(patterns: list[str]) -> str:
    return " or ".join(repr(p) for p in patterns)


def _metadata(name: str) -> Callable[[_Facts], str]:
    return lambda f: f.report.metadata.get(name, "")


def _cond_glob_any(
    key: str, value: object, values: Callable[[_Facts], Sequence[str]], what: str, ignore_case: bool
) -> _Condition:
    patterns = _strings(value)
    match = _glob(patterns, ignore_case=ignore_case).match
    return _Condition(
        key,
        f"{what} matches {_show(patterns)}",
        lambda f: any(match(v) for v in values(f)),
        lambda f: ", ".join(values(f)) or "none",
    )


def _cond_glob_one(
    key: str, value: object, get: Callable[[_Facts], str], what: str, ignore_case: bool = True
) -> _Condition:
    patterns = _strings(value)
    match = _glob(patterns, ignore_case=ignore_case).match
    return _Condition(
        key,
        f"{what} matches {_show(patterns)}",
        lambda f: match(get(f)) is not None,
        lambda f: get(f) or "none",
    )


def _regex(value: object) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise ValueError(f"expected a regular expression string, got {value!r}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ValueError(f"bad regex {value!r}: {exc}") from None


def _cond_message(key: str, value: object) -> _Condition:
    search = _regex(value).search
    return _Condition(
        key,
        f"an exception message matches /{value}/",
        lambda f: any(search(m) for m in f.messages),
        lambda f: " | ".join(f.messages) or "none",
    )


def _cond_version(key: str, value: object) -> _Condition:
    if not isinstance(value, str):
        raise ValueError(f"expected a version range string like '>=4.2, <5', got {value!r}")
    predicate = _version_range(value)

    def test(f: _Facts) -> bool:
        version = parse_version(f.report.metadata.get("version"))
        return version is not None and predicate(version)

    return _Condition(key, f"version in {value!r}", test, _metadata("version"))


def _cond_kind(key: str, value: object) -> _Condition:
    names = _strings(value)
    known = {k.value for k in Kind}
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"unknown kind {bad[0]!r} (one of {', '.join(sorted(known))})")
    wanted = frozenset(names)
    return _Condition(
        key, f"kind is {_show(names)}", lambda f: f.report.kind in wanted, lambda f: f.report.kind
    )


def _cond_headers(key: str, value: object) -> _Condition:
    if not isinstance(value, dict) or not value:
        raise ValueError(f"expected a table of header name = regex, got {value!r}")
    checks: list[tuple[str, Callable[[str], object]]] = []
    for name, pattern in value.items():
        checks.append((name.lower(), _regex(pattern).search))
    names = list(value)

    def test(f: _Facts) -> bool:
        headers = f.report.headers
        return all(
            (h := headers.get(name)) is not None and search(h) is not None
            for name, search in checks
        )

    return _Condition(
        key,
        "headers " + ", ".join(f"{n} =~ /{value[n]}/" for n in names),
        test,
        lambda f: ", ".join(f"{n}: {f.report.headers.get(n.lower(), '(absent)')}" for n in names),
    )


def _cond_occurrences(key: str, value: object) -> _Condition:
    if not isinstance(value, dict) or set(value) != {"at_least", "within"}:
        raise ValueError(f'expected {{ at_least = N, within = "1h" }}, got {value!r}')
    at_least, within = value["at_least"], value["within"]
    if not isinstance(at_least, int) or isinstance(at_least, bool) or at_least < 1:
        raise ValueError(f"at_least must be a positive integer, got {at_least!r}")
    if not isinstance(within, str):
        raise ValueError(f"bad duration {within!r} (use e.g. 90s, 15m, 1h, 2d)")
    window = parse_duration(within)

    def seen(f: _Facts) -> int:
        # The report being evaluated is not recorded yet: it is the "+ 1".
        if f.signature is None or f.count is None or f.now is None:
            return 1
        return f.count(f.signature.value, f.now - window) + 1

    return _Condition(
        key,
        f"at least {at_least} occurrences within {within}",
        lambda f: f.signature is not None and seen(f) >= at_least,
        lambda f: f"{seen(f)} occurrence(s)",
        window,
        at_least,
    )


def _frames(f: _Facts) -> Sequence[str]:
    return f.signature.in_app_frames if f.signature is not None else ()


def _top(f: _Facts) -> str:
    return (f.signature.top_in_app or "") if f.signature is not None else ""


# key → builder; order here is evaluation order (cheap first, the store query last).
_BUILDERS: dict[str, Callable[[str, object], _Condition]] = {
    "kind": _cond_kind,
    "language": lambda k, v: _cond_glob_one(k, v, lambda f: f.language, "language"),
    "application": lambda k, v: _cond_glob_one(k, v, _metadata("application"), "application"),
    "environment": lambda k, v: _cond_glob_one(k, v, _metadata("environment"), "environment"),
    "machine": lambda k, v: _cond_glob_one(k, v, _metadata("machine"), "machine"),
    "version": _cond_version,
    "exception_type": lambda k, v: _cond_glob_any(
        k, v, lambda f: f.types, "an exception type", ignore_case=False
    ),
    "top_frame": lambda k, v: _cond_glob_one(k, v, _top, "the top in-app frame", False),
    "frame": lambda k, v: _cond_glob_any(k, v, _frames, "an in-app frame", ignore_case=False),
    "message": _cond_message,
    "header": _cond_headers,
    "occurrences": _cond_occurrences,
}
_ORDER = {key: i for i, key in enumerate(_BUILDERS)}
_FIELD_KEYS = ("project", "issue_type", "priority", "components", "labels", "assignee")
_OTHER_KEYS = ("name", "description", "action", "override_rejection")
#: Actions that may lift a rejection (an ``ignore`` leaves a rejected defect as it is anyway).
_OVERRIDING_ACTIONS = frozenset({Action.FILE, Action.CANDIDATE})
_KNOWN_KEYS = frozenset((*_BUILDERS, *_FIELD_KEYS, *_OTHER_KEYS))


# --- rules --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule; ``action`` None means it only sets fields."""

    name: str
    description: str
    source: str  # file the rule came from
    conditions: tuple[_Condition, ...]
    action: Action | None
    fields: Fields
    override_rejection: bool = False
    hit_text: str = field(init=False)
    # Built once, shared by every decision: the hit, and the miss of each condition.
    hit: Match = field(init=False, repr=False, compare=False)
    checks: tuple[tuple[_Condition, Match], ...] = field(init=False, repr=False, compare=False)
    sets_fields: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = "; ".join(c.text for c in self.conditions) or "no conditions (matches everything)"
        object.__setattr__(self, "hit_text", text)
        object.__setattr__(self, "hit", Match(self.name, text))
        checks = tuple((c, Match(self.name, c.text)) for c in self.conditions)
        object.__setattr__(self, "checks", checks)
        object.__setattr__(self, "sets_fields", self.fields != NO_FIELDS)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Rules in evaluation order."""

    rules: tuple[Rule, ...] = ()

    @property
    def windows(self) -> dict[timedelta, int]:
        """Look-backs of every ``occurrences`` condition (``now - window`` is each ``since``
        the rules pass to ``count``, so a caller can fetch the counts ahead, per batch), each
        with the largest ``at_least`` asked over it: counting further changes no decision."""
        found: dict[timedelta, int] = {}
        for rule in self.rules:
            for c in rule.conditions:
                if c.window:
                    found[c.window] = max(found.get(c.window, 0), c.at_least)
        return found

    @classmethod
    def load(cls, folder: Path) -> RuleSet:
        """Same as ``load_rules``."""
        return load_rules(folder)

    def evaluate(
        self,
        report: Report,
        signature: SignatureLike | None,
        count: CountFn | None = None,
        *,
        now: datetime | None = None,
        explain: bool = False,
    ) -> Decision:
        """Walk the rules until one with an action matches.

        ``hits`` lists every matching rule; ``misses`` the first failing condition of each
        rule that did not match, with the report's actual value when ``explain`` is set.
        ``count`` (with ``now``, the batch's time) is None in a dry run: occurrence
        conditions then see only this report.
        """
        facts = _facts(report, signature, count, now)
        fields = NO_FIELDS
        hits: list[Match] = []
        misses: list[Match] = []
        for rule in self.rules:
            for condition, missed in rule.checks:
                if not condition.test(facts):
                    misses.append(_explained(rule, condition, facts) if explain else missed)
                    break
            else:
                hits.append(rule.hit)
                if rule.sets_fields:
                    fields = fields.merge(rule.fields)
                if rule.action is not None:
                    return Decision(
                        rule.action,
                        rule.name,
                        fields,
                        tuple(hits),
                        tuple(misses),
                        rule.override_rejection,
                    )
        return Decision(Action.CANDIDATE, DEFAULT_RULE, fields, tuple(hits), tuple(misses))


def _explained(rule: Rule, condition: _Condition, facts: _Facts) -> Match:
    """A miss with what the report actually had."""
    return Match(rule.name, f"{condition.text} (got {condition.actual(facts)})")


def load_rules(folder: Path) -> RuleSet:
    """Load ``folder/*.toml`` in name order; any problem raises ``RuleError`` naming the spot."""
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    if not folder.is_dir():
        log.warning("rules.folder_missing", folder=str(folder), effect="every report: candidate")
    for path in sorted(folder.glob("*.toml")):
        for rule in parse_rule_file(path.read_text(encoding="utf-8"), str(path)):
            if rule.name in seen:
                raise RuleError(
                    f"{path}: rule {rule.name!r}: key 'name': duplicate rule name "
                    f"(already defined in {seen[rule.name]})"
                )
            seen[rule.name] = str(path)
            rules.append(rule)
    return RuleSet(tuple(rules))


def parse_rule_file(text: str, source: str) -> list[Rule]:
    """Compile the ``[[rule]]`` tables of one file (``source`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {exc}") from None
    unknown_top = set(data) - {"rule"}
    if unknown_top:
        raise RuleError(f"{source}: key {sorted(unknown_top)[0]!r}: unknown top-level key")
    tables = data.get("rule", [])
    if not isinstance(tables, list):
        raise RuleError(f"{source}: key 'rule': use [[rule]] tables")
    return [_compile(table, i, source) for i, table in enumerate(tables, 1)]


def _compile(table: dict[str, object], index: int, source: str) -> Rule:
    name = table.get("name")
    where = f"{source}: rule #{index}"
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{where}: key 'name': every rule needs a non-empty name")
    where = f"{source}: rule {name!r}"

    def fail(key: str, problem: str) -> RuleError:
        return RuleError(f"{where}: key {key!r}: {problem}")

    for key in table:
        if key not in _KNOWN_KEYS:
            raise fail(key, "unknown key")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "expected a string")
    conditions: list[_Condition] = []
    for key in sorted((k for k in table if k in _BUILDERS), key=_ORDER.__getitem__):
        try:
            conditions.append(_BUILDERS[key](key, table[key]))
        except ValueError as exc:
            raise fail(key, str(exc)) from None
    action: Action | None = None
    if "action" in table:
        raw = table["action"]
        try:
            action = Action(str(raw))
        except ValueError:
            choices = ", ".join(a.value for a in Action)
            raise fail("action", f"bad action {raw!r} (one of {choices})") from None
    fields = _fields(table, fail)
    if action is None and fields == NO_FIELDS:
        raise fail("action", "the rule has neither an action nor fields to set")
    override = table.get("override_rejection", False)
    if not isinstance(override, bool):
        raise fail("override_rejection", f"expected true or false, got {override!r}")
    if override and action not in _OVERRIDING_ACTIONS:
        raise fail("override_rejection", "needs action = 'file' or 'candidate'")
    return Rule(name, description, source, tuple(conditions), action, fields, override)


def _fields(table: Mapping[str, object], fail: Callable[[str, str], RuleError]) -> Fields:
    """A rule's fields, checked strictly; ``Fields.from_dict`` then reads them."""
    for key in _TEXT_FIELDS:
        value = table.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise fail(key, f"expected a non-empty string, got {value!r}")
    for key in _LIST_FIELDS:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail(key, f"expected a list of strings, got {value!r}")
    return Fields.from_dict(table)
