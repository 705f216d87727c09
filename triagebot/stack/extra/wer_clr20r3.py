"""Windows Error Reporting's problem signature of a .NET Framework crash (event name
``CLR20r3``), as the "Problem Details" dialog and the Event Viewer (event 1001) show it::

    Problem Event Name:	CLR20r3
    Problem Signature 01:	unband.exe
    Problem Signature 02:	1.0.0.0
    Problem Signature 03:	548fdf49
    Problem Signature 04:	mscorlib
    Problem Signature 05:	4.0.30319.18063
    Problem Signature 06:	526766b5
    Problem Signature 07:	26aa
    Problem Signature 08:	0
    Problem Signature 09:	System.IO.FileNotFoundException

The event log writes the same fields as ``P1: unband.exe`` ... ``P9: ...``. There is no stack:
WER buckets the crash by the application (1), the assembly that threw (4), the method's
metadata token within it (7), the IL offset (8) and the exception type (9). The reader gives
one frame, ``application!assembly`` (without ``.exe``) and the token, with the IL offset as
its line: the token names the method as the assembly was built, as a line number does, and
the application keeps one program's crash inside the framework apart from another's. Versions
and timestamps (2, 3, 5, 6) vary per build and are left out.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES

__all__ = ["READER", "has_marker", "read"]

#: The event name, looked for before any pattern runs.
_EVENT = "CLR20r3"
# "  Problem Signature 04:\tmscorlib", "P4: mscorlib"
_FIELD = re.compile(
    LINE_START + r"[ \t]*+(?:Problem Signature |P)(?P<number>\d{1,2}):[ \t]*+(?P<value>\S++)"
)
_HEX = re.compile(r"(?:0x)?[0-9A-Fa-f]{1,8}")
_APP, _ASSEMBLY, _TOKEN, _OFFSET, _TYPE = 1, 4, 7, 8, 9


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the event name ``read`` starts from: it reads nothing without."""
    return _EVENT in text


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The crash of the first ``CLR20r3`` problem signature in ``text``, or None."""
    start = text.find(_EVENT)
    if start < 0 or max_frames < 1:
        return None
    fields: dict[int, str] = {}
    for match in _FIELD.finditer(text, text.rfind("\n", 0, start) + 1):
        number = int(match["number"])
        if number in fields:
            break  # the next report's signature
        fields[number] = match["value"]
    if not all(fields.get(n) for n in (_APP, _ASSEMBLY, _TOKEN, _TYPE)):
        return None
    if not _HEX.fullmatch(fields[_TOKEN]):
        return None
    offset = fields.get(_OFFSET, "")
    app = re.sub(r"(?i)\.exe$", "", fields[_APP])
    frame = Frame(
        module=f"{app}!{fields[_ASSEMBLY]}",
        function=f"0x{fields[_TOKEN].removeprefix('0x').lower()}",
        line=int(offset, 16) if _HEX.fullmatch(offset) else None,
        raw=f"{fields[_APP]} {fields[_ASSEMBLY]} {fields[_TOKEN]} {offset}".strip(),
    )
    exception = ExceptionInfo(type=fields[_TYPE], frames=(frame,))
    return Trace(language="dotnet", exceptions=(exception,))


READER = Reader(read=read, marker=has_marker)
