"""HTML bodies to plain text that keeps the line structure a stack trace needs.

One regex split into text and tags plus a single loop (no DOM; mail HTML is tag soup and the
trace parsers only need lines). Block elements (``p``, ``div``, ``br``, ``tr``, ``li`` ...)
end a line, ``<pre>`` and ``<textarea>`` keep their own breaks and spacing, other whitespace
collapses like a browser's. Blank lines between blocks are not kept, so Outlook's
one-``<p>``-per-line traces come out as consecutive lines.
"""

from __future__ import annotations

import html
import re

__all__ = ["html_to_text"]

_DROP = re.compile(
    r"<!--.*?-->|<(style|script|head|title|xml)\b[^>]*>.*?</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
# Alternates text, tag name (with "/" when closing; None for <!...>/<?...>), text, ...
_TAG = re.compile(r"<(/?[A-Za-z][A-Za-z0-9:]*)[^>]*>|<[!?/][^>]*>")
_BLOCKS = frozenset(
    [
        "p",
        "div",
        "tr",
        "li",
        "ul",
        "ol",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "blockquote",
        "dt",
        "dd",
        "dl",
        "section",
        "article",
        "header",
        "footer",
        "center",
        "form",
        "caption",
    ]
)
_CELLS = frozenset(("td", "th"))
#: Keep their own breaks and spacing: ``<pre>``, and ``<textarea>`` (Django's error page puts
#: the copy-and-paste traceback there).
_VERBATIM = frozenset(("pre", "textarea"))


def _collapse(piece: str, line_start: bool) -> str:
    """Browser whitespace: runs become one space, none at the start of a line."""
    words = piece.split()
    if not words:
        return "" if line_start else " "
    text = " ".join(words)
    if piece[0].isspace() and not line_start:
        text = " " + text
    return text + " " if piece[-1].isspace() else text


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document or fragment; entities unescaped, ``&nbsp;`` as space."""
    pieces = _TAG.split(_DROP.sub("", markup))
    out: list[str] = []
    line_start = True
    pre = 0
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            if not piece:
                continue
            text = piece if pre else _collapse(piece, line_start)
            if text:
                out.append(text)
                line_start = text.endswith("\n")
            continue
        if piece is None:
            continue
        name = piece.lstrip("/").lower()
        if name == "br":
            out.append("\n")
            line_start = True
        elif name in _VERBATIM:
            pre = max(0, pre + (-1 if piece.startswith("/") else 1))
            if not line_start:
                out.append("\n")
                line_start = True
        elif name in _BLOCKS:
            if not line_start:
                if out and out[-1].endswith(" "):
                    out[-1] = out[-1].rstrip(" ")
                out.append("\n")
                line_start = True
        elif name in _CELLS and piece.startswith("/") and not line_start:
            out.append(" ")
    text = "".join(out)
    if "&" in text:
        text = html.unescape(text)
    return text.replace("\xa0", " ").replace("\r\n", "\n").strip()
