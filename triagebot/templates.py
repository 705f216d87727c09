"""The Jinja2 environments behind every rendered text: mails, digests and tracker descriptions.

One place decides how templates behave, so a mail part and a digest written by different
hands render alike: undefined names fail loudly (``StrictUndefined``) instead of printing
nothing, only ``*.html.j2`` is HTML-escaped (plain-text parts and Jira wiki markup must stay
literal), and the final newline of a template is kept. Mail templates let block tags take
their own line with them (``trim_blocks``); markup whose layout is spelled out with ``{%-``
asks for ``trim_blocks=False``. A user's folder (``directory``) overrides shipped templates
by name, the others still come from the shipped set. Environments are cached: templates
compile once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from triagebot.shipped import TEMPLATE_DIR

__all__ = ["TEMPLATE_DIR", "Filters", "environment", "render"]

#: Extra filters as ``(name, function)`` pairs: a tuple, so environments can be cached by it.
Filters = tuple[tuple[str, Callable[..., Any]], ...]


@functools.cache
def environment(
    directory: Path | None = None, *, trim_blocks: bool = True, filters: Filters = ()
) -> jinja2.Environment:
    """Templates from ``directory`` first, then the shipped ones; ``trim_blocks`` also sets
    ``lstrip_blocks``."""
    folders = [TEMPLATE_DIR] if directory is None else [directory, TEMPLATE_DIR]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=trim_blocks,
        lstrip_blocks=trim_blocks,
        keep_trailing_newline=True,
    )
    env.filters.update(filters)
    return env


def render(name: str, /, **context: Any) -> str:
    """Render the shipped template ``name``."""
    return environment().get_template(name).render(context)
