"""JVM crashes as the Google Play Console and Crashlytics show them, copied from the page.

The exception and ``Caused by:`` lines are ``printStackTrace``'s, but a frame has a blank before
its location, may lack the "at" word, and a frame of an obfuscated or stripped class may have no
location at all::

    Exception java.lang.NullPointerException: Attempt to invoke virtual method 'boolean ...'
    com.instabug.bug.view.e.h (e.java:303)
    android.view.View.performClick (View.java:6265)

    Caused by: java.lang.IllegalStateException:
      at com.google.firebase.FirebaseApp.getInstance
      at org.cocos2dx.cpp.AppActivity.onCreate (AppActivity.java:135)

A copy that lost its line breaks gets them back before each located frame. Each frame is
rewritten as ``printStackTrace`` prints it (a frame without location as ``(Unknown
Source)``) and the text is handed to the JVM parser, so the frames are that parser's own.
"""

from __future__ import annotations

import re

from triagebot.stack import Reader, java
from triagebot.stack.model import Trace
from triagebot.stack.text import LINE_START, MAX_FRAMES, restore_breaks

__all__ = ["READER", "has_marker", "read"]

_NAME = r"(?P<name>[A-Za-z_$][\w$]*+(?:\.[\w$<>-]++)++)"
#: What only this layout holds: a blank between a JVM name and its source file.
_LOCATED_ANY = re.compile(r"[\w$>] \((?:[\w$-]++\.(?:java|kt)(?::\d++)?|Native Method)\)")
# "  at android.os.Looper.loop (Looper.java:154)", "com.instabug.bug.view.e.h (e.java:303)",
# "at java.lang.reflect.Method.invoke (Native Method)", "at a.B.-wrap14 (ActivityThread.java)"
_LOCATED = re.compile(
    LINE_START + r"[ \t]*+(?:at[ \t]++)?" + _NAME + r"[ \t]++\((?P<where>Native Method"
    r"|Unknown Source|[\w$-]++\.(?:java|kt|kts|scala|groovy)(?::\d++)?)\)[ \t]*+$"
)
# "  at com.google.firebase.FirebaseApp.getInstance"
_BARE = re.compile(LINE_START + r"[ \t]*+at[ \t]++" + _NAME + r"[ \t]*+$")
#: Where a page copied without its line breaks gets them back: before a located frame or a
#: cause, read from the first blank of a run.
_BREAK = re.compile(
    r"[ \t](?<![ \t]{2})[ \t]*+(?:(?:at[ \t]++)?[A-Za-z_$][\w$]*+(?:\.[\w$<>-]++)++[ \t]++\("
    r"(?:Native Method|[\w$-]++\.(?:java|kt)(?::\d++)?)\)|Caused by: )"
)


#: What every ``_LOCATED_ANY`` match holds: the blank before the location, and a JVM source
#: file's extension or a native method.
_LOCATED_MARKS = (".java", ".kt", "Native Method)")


def has_marker(text: str) -> bool:
    """Whether ``text`` holds what ``_LOCATED_ANY``, the first test of ``read``, needs: literal
    tests, many times cheaper than that search, which starts with a character class."""
    return " (" in text and any(mark in text for mark in _LOCATED_MARKS)


def read(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The crash of a Play Console or Crashlytics page in ``text``, or ``None``."""
    if _LOCATED_ANY.search(text) is None:
        return None
    lines = restore_breaks(text, _BREAK).split("\n")
    located = 0
    for index, line in enumerate(lines):
        if "(" in line and (match := _LOCATED.match(line)) is not None:
            lines[index] = f"\tat {match['name']}({match['where']})"
            located += 1
        elif line.lstrip().startswith("at ") and (match := _BARE.match(line)) is not None:
            lines[index] = f"\tat {match['name']}(Unknown Source)"
    if not located:
        return None
    trace = java.parse("\n".join(lines), max_frames)
    if trace is None or not trace.frame_count or not trace.exceptions[0].type:
        return None
    return trace


READER = Reader(read=read, marker=has_marker)
