"""The error overlay of create-react-app's development server, as copied from the browser: each
frame is a function line over a location line without ``at``, followed by the source around
it and "View compiled"; React's own frames are folded into "▶ N stack frames were collapsed."::

    TypeError: Cannot read property 'map' of undefined
    Products.render
    C:/Users/user/myprojects/ecommerce-shopping-cart/src/components/Products.js:5
      2 | import util  from '../util';
    > 5 |         const productItems = this.props.products.map( product=> (
    View compiled
    ▶ 17 stack frames were collapsed.

Frames are built as ``js.parse`` builds a V8 frame (module and file are the location as
printed, the function the line above it), so ``js.normalize_frame`` keys them alike.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.model import UNKNOWN_TYPE, ExceptionInfo, Frame, Trace
from triagebot.stack.text import MAX_FRAMES, FrameBudget

__all__ = ["READER", "has_marker", "read"]

#: What the overlay prints below a frame: a numbered source line ("  2 | x", "> 5 | x", or
#: "5 | x" once a mail reader took its "> " for a quote), the link, the fold of the frames it
#: hides.
_MARKS = (
    re.compile(r"^[ \t]*+(?:> ?)?\d++ \|", re.M),
    "View compiled",
    "stack frames were ",
)
# "src/components/Letter.js:36", "./node_modules/ahooks/es/usePersistFn/index.js:16",
# "C:/Users/x/HomeScreen.js:22", "/src/Demo/store.ts:10:49" (a script: ``_SCRIPTS``)
_LOCATION = re.compile(r"^[ \t]*+(?P<file>(?:[A-Za-z]:)?[^\s:]++):(?P<line>\d++)(?::\d++)?[ \t]*+$")
_SCRIPTS = (".js", ".cjs", ".mjs", ".jsx", ".ts", ".tsx", ".vue", ".svelte")
# "Letter.componentWillLeave", "SVGTextElement.<anonymous>", "(anonymous function)",
# "Module../src/index.js", "$csb$eval": one name, at most a parenthesised note after it.
_FUNCTION = re.compile(
    r"^[ \t]*+(?P<func>[^\s()|>▶][^\s()|▶]*+|\(anonymous function\))(?: \([^()\n]*+\))?[ \t]*+$"
)
# What the overlay prints between frames: source lines ("  2 | x", "> 5 | x", "    | ^"),
# the links, the folds, blank lines.
_BETWEEN = re.compile(
    r"^[ \t]*+(?:(?:>[ \t]*+)?(?:\d++[ \t]*+)?\|.*+|View compiled[ \t]*+"
    r"|▶ \d++ stack frames were (?:collapsed|expanded)\.[ \t]*+)?$"
)
# "TypeError: x", "Unhandled Rejection (TypeError): x", "Error: too late"
_HEADER = re.compile(
    r"^[ \t]*+(?:Unhandled Rejection \()?(?P<type>[A-Za-z_$][\w$.]*+)\)?: (?P<msg>.*+)$"
)
#: Lines above the first frame searched for the header (folds and the overlay's own lines
#: such as "←→1 of 5 errors on the page" may come between).
_HEADER_LOOKBACK = 4


def has_marker(text: str) -> bool:
    """Whether ``text`` holds one of the overlay's own marks (``_MARKS``): ``read`` asks a
    source excerpt, a link or a fold of every stack it reads."""
    return any(
        (mark in text) if isinstance(mark, str) else mark.search(text) is not None
        for mark in _MARKS
    )


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first overlay stack in ``text`` with a source excerpt, a link or a fold, or None."""
    lines = text.splitlines()
    for i in range(1, len(lines)):
        if _location(lines[i]) and _FUNCTION.match(lines[i - 1]):
            trace = _stack(lines, i - 1, max_frames)
            if trace is not None:
                return trace
    return None


def _stack(lines: list[str], start: int, max_frames: int) -> Trace | None:
    """The stack whose first frame's function line is ``lines[start]``, if the overlay's
    marks follow its frames."""
    budget = FrameBudget(max_frames)
    frames: list[Frame] = []
    marked = False
    i = start
    while i + 1 < len(lines):
        func, location = _FUNCTION.match(lines[i]), _location(lines[i + 1])
        if func is None or location is None:
            break
        if budget.room(frames):
            file = location["file"]
            frames.append(
                Frame(
                    module=file,
                    function=func["func"],
                    file=file,
                    line=int(location["line"]),
                    raw=f"{func['func']} {lines[i + 1].strip()}",
                )
            )
        i += 2
        while i < len(lines) and _BETWEEN.match(lines[i]):
            marked = marked or has_marker(lines[i])
            i += 1
    if not marked:
        return None
    exc_type, message = _header(lines[max(0, start - _HEADER_LOOKBACK) : start])
    exception = ExceptionInfo(type=exc_type, message=message, frames=tuple(frames))
    return Trace(language="javascript", exceptions=(exception,), dropped=budget.dropped)


def _location(line: str) -> re.Match[str] | None:
    """A location line of a script (``_SCRIPTS``), or None."""
    match = _LOCATION.match(line)
    return match if match is not None and match["file"].endswith(_SCRIPTS) else None


def _header(above: list[str]) -> tuple[str, str]:
    """Type and message from the nearest ``Type: message`` line above the stack."""
    for line in reversed(above):
        match = _HEADER.match(line)
        if match is not None:
            return match["type"], match["msg"].strip()
    return UNKNOWN_TYPE, ""


READER = Reader(read=read, marker=has_marker, since="v5")
