"""Find the stack trace in a report's text: every registered language parser is tried and the
richest trace wins; a bare ``Type: message`` line is the fallback."""

from __future__ import annotations

import importlib
import re

from triagebot.stack import Language
from triagebot.stack.model import ExceptionInfo, Trace

#: Registered language parsers by id; ``.NET`` first (ties go to the earlier entry).
LANGUAGE_IDS: tuple[str, ...] = (
    "dotnet:v1",
    "java:v1",
    "python:v1",
    "javascript:v1",
    "go:v1",
    "ruby:v1",
    "php:v1",
)
_MODULES = {
    "dotnet": "dotnet",
    "java": "java",
    "python": "python",
    "javascript": "js",
    "go": "go",
    "ruby": "ruby",
    "php": "php",
}


def _load(language_id: str) -> Language:
    name = language_id.partition(":")[0]
    if name not in _MODULES:
        raise KeyError(f"unknown stack language id {language_id!r}")
    language: Language = importlib.import_module(f"triagebot.stack.{_MODULES[name]}").LANGUAGE
    if language.id != language_id:
        raise KeyError(f"stack language {language_id!r} is not registered (have {language.id})")
    return language


LANGUAGES: dict[str, Language] = {lid: _load(lid) for lid in LANGUAGE_IDS}
BY_NAME: dict[str, Language] = {lang.name: lang for lang in LANGUAGES.values()}

# "System.InvalidOperationException: Sequence contains no elements", "Error: ECONNREFUSED",
# "Unhandled exception. Acme.Billing.InvoiceLockedException: Invoice 1234 is locked"
_BARE_EXCEPTION = re.compile(
    r"^[ \t]*(?:(?:Unhandled|Uncaught)[ \w]*?(?:[.:]|exception)[ \t]*)?"
    r"(?P<type>(?:[A-Za-z_][\w$]*[.\\:]{1,2})*[A-Za-z_]\w*(?:Exception|Error|Fault|Panic))"
    r"(?:[ \t]*\(0x[0-9A-Fa-f]+\))?:[ \t]*(?P<message>[^\r\n]*)",
    re.MULTILINE,
)


def find_trace(text: str) -> Trace | None:
    """The best trace in ``text``: most frames wins; ``unknown`` bare exception line otherwise."""
    best: Trace | None = None
    for language in LANGUAGES.values():
        trace = language.parse(text)
        if (
            trace is not None
            and trace.exceptions
            and (best is None or trace.frame_count > best.frame_count)
        ):
            best = trace
    if best is not None:
        return best
    match = _BARE_EXCEPTION.search(text)
    if match is None:
        return None
    return Trace(
        language="unknown",
        exceptions=(ExceptionInfo(type=match["type"], message=match["message"].strip()),),
    )
