"""structlog set-up: JSON lines when stderr is not a terminal, a readable console otherwise
(local time, colour unless ``NO_COLOR`` is set or the terminal is dumb).

triagebot's own lines go straight from structlog to the stream (a third of the cost of a
detour through stdlib logging, which matters at one line per message); library loggers
(imapclient, jira, aiosmtpd, apscheduler) go through the same processors via
``ProcessorFormatter``, so every line on stderr has one shape. A redaction processor masks
values under secret-looking keys and any configured secret value, wherever it appears:
nested values and formatted tracebacks included. Library chatter (APScheduler's job lines,
urllib3's connections) shows only at debug level.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

SECRET_KEYS = frozenset(
    {"password", "passwd", "secret", "token", "api_token", "authorization", "auth", "access_token"}
)
MASK = "***"
#: Library loggers whose info lines are chatter: shown at debug level only.
CHATTY = ("apscheduler", "urllib3", "alembic", "mail.log")
_stream: Any = None  # where ``configure`` sent the logs (``error_once`` looks at it)


class Redactor:
    """Masks secret-named keys and known secret values in every event, nested containers
    included. It runs after ``format_exc_info``, so tracebacks are masked too."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(s for s in secrets if len(s) >= 4)

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        for key, value in event_dict.items():
            event_dict[key] = self._clean(key, value)
        return event_dict

    def _clean(self, key: object, value: Any) -> Any:
        if isinstance(key, str) and key.lower() in SECRET_KEYS:
            return MASK
        if isinstance(value, str):
            return self._mask(value) if self._secrets else value
        if isinstance(value, dict):
            return {k: self._clean(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(None, v) for v in value]
        return value

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def configure(
    level: str = "info", fmt: str = "auto", secrets: Iterable[str] = (), stream: Any = None
) -> None:
    """Configure structlog and stdlib logging once per process; logs go to stderr."""
    global _stream  # noqa: PLW0603 - the process's one log set-up
    stream = _stream = stream or sys.stderr
    json = fmt == "json" or (fmt == "auto" and not _isatty(stream))
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        # machines get UTC; a person at a terminal reads the local time, to the second
        structlog.processors.TimeStamper(fmt="iso", utc=True)
        if json
        else structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
    ]
    # exception text is only a string after format_exc_info: redact after it, on both chains
    redact: list[Processor] = [structlog.processors.format_exc_info, Redactor(secrets)]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=_has_colour(stream))
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    chatter = logging.NOTSET if level.lower() == "debug" else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(chatter)
    structlog.configure(
        processors=[*shared, *redact, renderer],
        logger_factory=structlog.WriteLoggerFactory(stream),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )


def error_once(event: str, text: str, **fields: Any) -> None:
    """Tell the operator about an error once: ``text`` as a plain line on a terminal (a
    console log line would say it again), the ``event`` log line otherwise (JSON for the
    journal or a file, where a plain line would be the repetition)."""
    stream = _stream or sys.stderr
    if _isatty(stream):
        print(text, file=stream)
    else:
        structlog.get_logger(__name__).error(event, **fields)


def _has_colour(stream: Any) -> bool:
    """A terminal that shows colour: not dumb, and the user did not ask for none
    (https://no-color.org)."""
    dumb = os.environ.get("TERM", "") == "dumb"
    return _isatty(stream) and not dumb and not os.environ.get("NO_COLOR")


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
