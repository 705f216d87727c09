"""Text helpers shared by the language parsers."""

from __future__ import annotations

import re
from collections.abc import Sequence

from triagebot.stack.model import ExceptionInfo

#: Lines longer than this that hold several frame markers had their line breaks lost.
COLLAPSED_LINE = 300


def restore_breaks(text: str, frame_start: re.Pattern[str]) -> str:
    """Re-insert line breaks before frame markers in lines that lost them.

    Mail gateways and log shippers join a multi-line trace into one long line
    (``... at A.B() at C.D() ...``); each parser passes the pattern of its frame's start.
    """
    if not any(len(line) > COLLAPSED_LINE for line in text.splitlines()):
        return text
    out: list[str] = []
    for line in text.splitlines():
        if len(line) > COLLAPSED_LINE and len(frame_start.findall(line)) >= 2:
            out.append(frame_start.sub(lambda m: "\n" + m.group(0).lstrip(), line))
        else:
            out.append(line)
    return "\n".join(out)


def weave_side_exceptions(
    chain: Sequence[ExceptionInfo], sides: Sequence[Sequence[ExceptionInfo]]
) -> tuple[ExceptionInfo, ...]:
    """Merge side exceptions (Java ``Suppressed:``, .NET ``(Inner Exception #N)``) into a chain.

    ``sides[i]`` belongs to ``chain[i]``. The causal chain keeps its order, its first place (what
    was reported) and, with two or more links, its last place (``Trace.root``): side exceptions
    follow their parent, except the root cause's own, which precede it.
    """
    if not any(sides):
        return tuple(chain)
    out: list[ExceptionInfo] = []
    last = len(chain) - 1
    for index, exc in enumerate(chain):
        extra = sides[index] if index < len(sides) else ()
        if index == last and index > 0:
            out.extend(extra)
            out.append(exc)
        else:
            out.append(exc)
            out.extend(extra)
    return tuple(out)
