"""Issue trackers behind one protocol; ``KINDS`` is the registry of tracker kinds.

Each kind is one module exposing ``KIND`` (a ``base.TrackerKind``). A module is imported only
when its kind is configured, so an installation filing into Jira never loads GitHub's client.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from triagebot.config import TrackerConfig
from triagebot.errors import ConfigError
from triagebot.trackers.base import Tracker, TrackerContext, TrackerKind

__all__ = ["KINDS", "ConfiguredTracker", "configured", "tracker_kind"]

#: ``[tracker] kind`` → the module that registers it.
KINDS: dict[str, str] = {
    "local": "triagebot.trackers.local",
    "jira": "triagebot.trackers.jira",
    "azure_devops": "triagebot.trackers.azure_devops",
    "github": "triagebot.trackers.github",
}


def tracker_kind(name: str) -> TrackerKind[Any]:
    """The registered kind ``name`` (``ConfigError`` on ``[tracker].kind`` when unknown)."""
    if name not in KINDS:
        known = ", ".join(KINDS)
        raise ConfigError("[tracker].kind", f"unknown tracker {name!r} (known: {known})")
    kind: TrackerKind[Any] = importlib.import_module(KINDS[name]).KIND
    return kind


@dataclass(frozen=True, slots=True)
class ConfiguredTracker:
    """A tracker kind with its settings read: everything the rest of triagebot asks of it."""

    kind: TrackerKind[Any]
    settings: Any

    @property
    def name(self) -> str:
        return self.kind.name

    def build(self, context: TrackerContext) -> Tracker:
        return self.kind.build(self.settings, context)

    def impatient(self, timeout: float, deadline: float) -> ConfiguredTracker:
        """The same tracker waiting at most ``timeout`` per request and ``deadline`` per call
        with its retries (kinds without those settings are kept as they are): for a probe
        that must answer soon even when the server is down."""
        names = {f.name for f in fields(self.settings)}
        limits = {"timeout": timeout, "deadline": deadline}
        shorter = {k: min(getattr(self.settings, k), v) for k, v in limits.items() if k in names}
        return ConfiguredTracker(self.kind, replace(self.settings, **shorter))

    def url(self, key: str) -> str:
        """The issue's web page ("" when the tracker has none)."""
        return self.kind.url(self.settings, key)

    def describe(self) -> str:
        return self.kind.describe(self.settings)

    def key(self, text: str) -> str | None:
        """``text`` as an issue key of this tracker, or None."""
        return self.kind.key(text)


def configured(tracker: TrackerConfig, base: Path, kind: str | None = None) -> ConfiguredTracker:
    """The configured kind (or ``kind``) with its ``[tracker.<kind>]`` settings read."""
    name = kind or tracker.kind
    found = tracker_kind(name)
    return ConfiguredTracker(found, found.parse(tracker.table(name), f"[tracker.{name}]", base))
