"""structlog set-up: JSON lines when stderr is not a terminal, a readable console otherwise.

triagebot's own lines go straight from structlog to the stream (a third of the cost of a
detour through stdlib logging, which matters at one line per message); library loggers
(imapclient, jira, aiosmtpd, apscheduler) go through the same processors via
``ProcessorFormatter``, so every line on stderr has one shape. A redaction processor masks
values under secret-looking keys and any configured secret value, wherever it appears:
nested values and formatted tracebacks included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

SECRET_KEYS = frozenset(
    {"password", "passwd", "secret", "token", "api_token", "authorization", "auth", "access_token"}
)
MASK = "***"


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
    stream = stream or sys.stderr
    json = fmt == "json" or (fmt == "auto" and not _isatty(stream))
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # exception text is only a string after format_exc_info: redact after it, on both chains
    redact: list[Processor] = [structlog.processors.format_exc_info, Redactor(secrets)]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=_isatty(stream))
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
    for noisy in ("mail.log", "urllib3", "apscheduler.executors.default", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, *redact, renderer],
        logger_factory=structlog.WriteLoggerFactory(stream),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )


def _isatty(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
