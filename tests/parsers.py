"""Shared pieces of the stack parser tests (one test module per language)."""

from __future__ import annotations

from collections.abc import Callable

from triagebot.stack.model import Trace

Parser = Callable[[str], Trace | None]

#: A helpdesk mail with times, versions, parentheses and "at", but no trace in any language.
NO_TRACE_BODY = (
    "Hello team,\n\nat the moment the client is slow in the morning. It happens at login and "
    "when we open cases in the (new) search window. Regards, Bob\n"
    "Application: Acme.Client.exe\nVersion: 4.2.1\n"
) * 16


def must_parse(parse: Parser) -> Callable[[str], Trace]:
    """``parse`` for inputs that hold a trace: finding none fails the test."""

    def parsed(text: str) -> Trace:
        trace = parse(text)
        assert trace is not None
        return trace

    return parsed
