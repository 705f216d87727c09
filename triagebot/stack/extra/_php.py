"""PHP frames as the PHP parser names them, for readers that print a function by name."""

from __future__ import annotations

from triagebot.stack.model import Frame
from triagebot.stack.php import _CALL_NAME, _MEMBER

__all__ = ["named_frame"]


def named_frame(call: str, file: str | None, line: int | None, raw: str) -> Frame:
    """``App\\Service->load(Array)``, ``App\\Service::load`` or ``load`` as the parser splits it:
    the class is the module (none for a function or ``{main}``), arguments dropped."""
    named = _CALL_NAME.match(call)
    name = named["name"] if named else call
    member = None if name.startswith("{") else _MEMBER.match(name)
    module, function = (member["cls"], member["fn"]) if member else ("", name)
    return Frame(module=module, function=function, file=file, line=line, raw=raw)
