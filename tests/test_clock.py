"""Only ``triagebot.clock`` reads the wall clock: everything else takes the time it is given."""

from __future__ import annotations

import ast
from pathlib import Path

import triagebot
from triagebot.clock import system_clock

PACKAGE = Path(triagebot.__file__).parent
#: Wall-clock reads, as ``module.function`` or ``Class.method``.
WALL_CLOCK = {
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "time.time",
    "time.time_ns",
    "time.localtime",
    "time.gmtime",
}
#: Where reading the system is right: the clock itself, and Maildir file names, which must be
#: unique and sort in delivery order, and decide nothing.
ALLOWED = {("clock.py", "datetime.now"), ("mail/maildir.py", "time.time")}


def wall_clock_reads(path: Path) -> list[tuple[str, int]]:
    """``(call, line)`` of every wall-clock read in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ):
            call = f"{node.func.value.id}.{node.func.attr}"
            if call in WALL_CLOCK:
                found.append((call, node.lineno))
    return found


def test_no_module_reads_the_wall_clock_but_the_clock() -> None:
    """A hidden ``datetime.now()`` makes behaviour depend on the day the tests run."""
    offenders = [
        f"{path.relative_to(PACKAGE)}:{line} {call}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for call, line in wall_clock_reads(path)
        if (path.relative_to(PACKAGE).as_posix(), call) not in ALLOWED
    ]
    assert offenders == []


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The check above would see a wall-clock read (it is not vacuous)."""
    module = tmp_path / "m.py"
    module.write_text(
        "import time\nfrom datetime import datetime\nx = datetime.now()\ntime.time()\n"
    )
    assert wall_clock_reads(module) == [("datetime.now", 3), ("time.time", 4)]


def test_system_clock_is_aware_utc() -> None:
    now = system_clock()
    assert now.utcoffset() is not None
    assert now.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
