"""HTML bodies to plain text that keeps the line structure a stack trace needs.

One regex split into text and tags plus a single loop (no DOM; mail HTML is tag soup and the
trace parsers only need lines). Block elements (``p``, ``div``, ``br``, ``tr``, ``li`` ...)
end a line, ``<pre>`` and ``<textarea>`` keep their own breaks and spacing, other whitespace
collapses like a browser's. Blank lines between blocks are not kept, so Outlook's
one-``<p>``-per-line traces come out as consecutive lines. Lines inside ``<blockquote>`` start
with one ``>`` per level, as a plain-text client quotes them: an HTML reply's quote without
an attribution line (Apple Mail, Thunderbird, webmail) is then still a quote to reply trimming.
"""

from __future__ import annotations

import html
import re

__all__ = ["html_to_text"]

# Comments and the elements whose content is not text; each start's end is looked for with
# ``str.find`` (see ``_drop_hidden``).
_HIDDEN_START = re.compile(r"<!--|<(style|script|head|title|xml)\b", re.IGNORECASE)
_HIDDEN_END = {
    name: re.compile(rf"</{name}\s*>", re.IGNORECASE)
    for name in ("style", "script", "head", "title", "xml")
}
# Alternates text, tag name (with "/" when closing; None for <!...>/<?...>), unclosed tail, text,
# ... The third group is a tag that runs to the end without its ">" (minus its "<"), which is
# text: taken whole, as a search from every "<a" of a text without a ">" left would read to the
# end each time. The common "<" keeps the regex engine's fast scan for it.
_TAG = re.compile(r"<(?:(/?[A-Za-z][A-Za-z0-9:]*)[^>]*>|[!?/][^>]*>|([!?/A-Za-z][^>]*)\Z)")
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


def _drop_hidden(markup: str) -> str:
    """``markup`` without comments and ``style``/``script``/``head``/``title``/``xml`` elements.

    Each start's end is found with ``str.find``; a kind left unclosed once is not looked for
    again (no later start of it can close either). One regex (``<!--.*?-->|<style...</style>``)
    read to the end from every start of a comment or element that is never closed.
    """
    out: list[str] = []
    copied = pos = 0
    unclosed: set[str] = set()
    while (start := _HIDDEN_START.search(markup, pos)) is not None:
        kind = (start[1] or "!--").lower()
        end = -1
        if kind == "!--" and kind not in unclosed:
            close = markup.find("-->", start.end())
            end = close + 3 if close >= 0 else -1
        elif kind not in unclosed and (tag_end := markup.find(">", start.end())) >= 0:
            close_tag = _HIDDEN_END[kind].search(markup, tag_end + 1)
            end = close_tag.end() if close_tag is not None else -1
        if end < 0:
            unclosed.add(kind)
            pos = start.start() + 1
            continue
        out.append(markup[copied : start.start()])
        copied = pos = end
    out.append(markup[copied:])
    return "".join(out)


def html_to_text(markup: str) -> str:
    """Readable text of an HTML document or fragment; entities unescaped, ``&nbsp;`` as space."""
    pieces = _TAG.split(_drop_hidden(markup))
    if len(pieces) > 1 and pieces[-2] is not None:  # an unclosed tail joins the text before it
        pieces[-4] += "<" + pieces[-2]
        del pieces[-3:]
    del pieces[2::3]
    out: list[str] = []
    line_start = True
    pre = 0
    quote = ""  # "> ", ">> " ... inside blockquotes
    for index, piece in enumerate(pieces):
        if index % 2 == 0:
            if not piece:
                continue
            text = piece if pre else _collapse(piece, line_start)
            if text:
                if quote and pre and "\n" in text[:-1]:
                    text = text[:-1].replace("\n", "\n" + quote) + text[-1]
                out.append(quote + text if quote and line_start else text)
                line_start = text.endswith("\n")
            continue
        if piece is None:
            continue
        name = piece.lstrip("/").lower()
        if name == "blockquote":
            depth = max(0, quote.count(">") + (-1 if piece.startswith("/") else 1))
            quote = ">" * depth + " " if depth else ""
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
