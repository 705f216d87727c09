"""JVM stack traces (``Throwable.printStackTrace()``: Java, Kotlin, Scala, Android): find, parse,
normalise frames.

``Caused by:`` links form the causal chain, outermost first, as printed. ``Suppressed:`` blocks
(indented) are side exceptions of the exception whose frames they follow; an indented
``Caused by:`` inside such a block is the suppressed exception's own cause and stays with it.
``weave_side_exceptions`` places them so the causal chain keeps its order and ``Trace.root``
stays the root cause. ``... 12 more`` lines (frames shared with the enclosing trace) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from triagebot.stack import Language, NormalizedFrame
from triagebot.stack.model import ExceptionInfo, Frame, Trace
from triagebot.stack.text import (
    LINE_START,
    MAX_FRAMES,
    FrameBudget,
    first_frame_line,
    restore_breaks,
    weave_side_exceptions,
)

__all__ = ["LANGUAGE", "has_marker", "normalize_frame", "parse"]

# "(Foo.java:42)", "(Foo.kt)", "(Unknown Source)", "(Unknown Source:2)", "(Native Method)",
# "(SourceFile:12)" (Android R8)
_SOURCE = r"\((?:Native Method|Unknown Source(?::\d+)?|[^\s():]+(?::\d+)?)\)"

#: One search over the whole text decides whether there is a JVM frame at all.
_FRAME_ANY = re.compile(r"at[ \t]+[\w$./@<>-]+" + _SOURCE)

#: Where a collapsed trace gets its line breaks back. A run of blanks is read once, from its
#: first blank or from where a match ending in "Caused by: " or "Suppressed: " left it.
_BREAK = re.compile(
    r"[ \t](?<!(?<!Caused by:)(?<!Suppressed:)[ \t]{2})[ \t]*+"
    r"(?:at[ \t]++[\w$./@<>-]++"
    + _SOURCE
    + r"|Caused by: |Suppressed: |\.\.\. \d+ (?:more|common frames omitted))"
)

# "\tat com.acme.Foo.bar(Foo.java:42)", "\tat java.base/java.lang.Thread.run(Thread.java:833)",
# "\tat app//com.acme.Foo.bar(Foo.java:1)", "\tat com.acme.Foo$$Lambda$123/0x0000000801234.apply(
# Unknown Source)", "\tat com.acme.Foo.bar(Foo.java:42) ~[acme-core-1.2.jar:1.2]" (logback);
# text after a frame is allowed: a collapsed trace runs on into the mail's next sentence.
# Line patterns start at LINE_START, so a search over a run of blanks stays linear.
_FRAME = re.compile(
    LINE_START + r"[ \t]*+at[ \t]+"
    r"(?:[\w.$@-]*/(?!(?:0x[0-9a-fA-F]+|\d+)\.)){0,2}"
    r"(?P<cls>[^\s(]+)\.(?P<fn>[^\s.(]+)"
    r"\((?:Native Method|Unknown Source(?::(?P<uline>\d+))?"
    r"|(?P<file>[^\s():]+)(?::(?P<line>\d+))?)\)"
    r"(?:[ \t]+[^\n]*)?$"
)
_TYPE = r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*"
# "\tCaused by: java.io.IOException: Broken pipe", "\tSuppressed: java.io.IOException: close"
_LINK = re.compile(
    LINE_START
    + r"(?P<indent>[ \t]*+)(?P<kind>Caused by|Suppressed):[ \t]*(?P<type>"
    + _TYPE
    + r")(?::[ \t]?(?P<message>.*))?$"
)
# "\t... 12 more", "\t... 3 common frames omitted" (logback)
_MORE = re.compile(LINE_START + r"[ \t]*+\.\.\. \d+ (?:more|common frames omitted)[ \t]*$")
# 'Exception in thread "main" java.lang.IllegalStateException: Queue full'
_HEAD = re.compile(
    LINE_START
    + r"[ \t]*+(?:Exception in thread \"[^\"\n]*\"[ \t]+|(?:Uncaught )?[Ee]xception:[ \t]*)?"
    r"(?P<type>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+)(?::[ \t]?(?P<message>.*))?$"
)
# "12:00:01.123 ERROR [main] c.a.Worker - Job failed: java.lang.IllegalStateException: Queue full"
_HEAD_EMBEDDED = re.compile(
    r"(?<![\w.$])(?P<type>(?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*(?:Exception|Error|Throwable))"
    r"(?::[ \t]?(?P<message>.*))?$"
)
# "11-27 10:00:01.123  1234  1234 E AndroidRuntime: \tat com.acme.MainActivity.onCreate(...)"
_LOGCAT = re.compile(r"^[^\n]*?\bAndroidRuntime(?:\([ \t]*\d+\))?:[ \t]?", re.MULTILINE)

_MAX_HEADER_LINES = 40

# Normalisation; examples in comments.
# Foo$$Lambda/0x0000000801234 (hidden class), Foo$$Lambda$5/1234567 (JDK 8 anonymous class)
_HIDDEN = re.compile(r"/(?:0x[0-9a-fA-F]+|\d+)$")
_LAMBDA_CLASS = re.compile(r"\$\$Lambda(?:\$\d+)?$")  # Foo$$Lambda$123
# Foo$$EnhancerBySpringCGLIB$$1a2b3c, Foo$$SpringCGLIB$$0, Foo$$FastClassBySpringCGLIB$$9f8e,
# Foo$HibernateProxy$AbC12, Foo$ByteBuddy$abc, Foo$MockitoMock$123, Foo_$$_jvst1a2_3
_PROXY = re.compile(
    r"(?:\$\$(?:EnhancerBy|FastClassBy)\w*?CGLIB\$\$|\$\$SpringCGLIB\$\$|\$HibernateProxy\$"
    r"|\$ByteBuddy\$|\$MockitoMock\$|_?\$\$_(?:javassist|jvst))[\w$]*$"
)
_JDK_PROXY = re.compile(r"(?:^|\.)\$Proxy\d+$")  # jdk.proxy2.$Proxy45, com.sun.proxy.$Proxy12
_ACCESSOR = re.compile(r"(Generated(?:Serialization)?(?:Method|Constructor)Accessor)\d+$")
_ANONFUN_CLASS = re.compile(r"\$\$anonfun\$(?P<name>[^$]+)\$\d+.*$")  # Foo$$anonfun$bar$1 (Scala)
_ANON = re.compile(r"\$\d+(?=\$|$)")  # Foo$1 (anonymous class)
# lambda$process$0 (Java), $anonfun$bar$1 / $anonfun$bar$1$adapted (Scala),
# load$lambda$0 / load$lambda-0 (Kotlin); fullmatch only: "^" keeps a search linear.
_LAMBDA_FUNCTION = re.compile(
    r"^(?:lambda\$(?P<java>.+?)\$\d+|\$anonfun\$(?P<scala>.+?)\$\d+(?:\$adapted)?"
    r"|(?P<kotlin>.+?)\$lambda[-$]?\d*)"
)
_ACCESS = re.compile(r"access\$\d+")  # synthetic accessor before nest-based access (Java 11)


@dataclass(slots=True)
class _Exception:
    """An exception being read: its message lines grow until its first frame."""

    type: str
    message: list[str]
    frames: list[Frame] = field(default_factory=list)

    def freeze(self) -> ExceptionInfo:
        return ExceptionInfo(
            type=self.type, message="\n".join(self.message).strip(), frames=tuple(self.frames)
        )


def parse(text: str, max_frames: int = MAX_FRAMES) -> Trace | None:
    """The first JVM exception chain in ``text``, or ``None`` when it holds no JVM frame; each
    exception keeps at most ``max_frames`` frames."""
    if _FRAME_ANY.search(text) is None:
        return None
    if "AndroidRuntime" in text:
        text = _LOGCAT.sub("", text)
    restored = restore_breaks(text.replace("\r\n", "\n") if "\r" in text else text, _BREAK)
    lines = restored.split("\n")
    first = first_frame_line(restored, lines, _FRAME_ANY.search, _FRAME)
    if first is None:
        return None
    start, indent, top = _header(lines, first)
    budget = FrameBudget(max_frames)
    exceptions = _read(lines, start, indent, top, budget)
    return Trace(language="java", exceptions=exceptions, dropped=budget.dropped)


def has_marker(text: str) -> bool:
    """Whether ``text`` holds the ``at`` and blank every ``_FRAME_ANY`` match starts with:
    ``parse`` reads nothing without such a match."""
    return "at " in text or "at\t" in text


def _header(lines: list[str], first: int) -> tuple[int, int, _Exception]:
    """The line after the top exception's header, its indentation, and that exception.

    Walks back from the first frame to the nearest ``Type: message`` line; ``Caused by:`` lines
    (a top exception without frames) keep it walking.
    """
    for index in range(first - 1, max(-1, first - 1 - _MAX_HEADER_LINES), -1):
        line = lines[index]
        if _LINK.match(line):
            continue
        match = _HEAD.match(line) or _HEAD_EMBEDDED.search(line)
        if match is not None:
            indent = len(line) - len(line.lstrip()) if match.re is _HEAD else 0
            return index + 1, indent, _Exception(match["type"], [match["message"] or ""])
    return first, 0, _Exception("", [])


def _read(
    lines: list[str], start: int, indent: int, top: _Exception, budget: FrameBudget
) -> tuple[ExceptionInfo, ...]:
    """Read frames and ``Caused by:``/``Suppressed:`` links until the trace ends.

    A ``Caused by:`` indented deeper than the top header belongs to a suppressed exception.
    """
    chain = [top]
    sides: list[list[_Exception]] = [[]]
    current = top
    pending: list[str] = []  # message continuation, kept only if a frame or link follows
    for line in lines[start:]:
        match = _FRAME.match(line)
        if match is not None:
            current.message.extend(pending)
            pending.clear()
            if budget.room(current.frames):
                current.frames.append(_frame(match, line))
            continue
        if _MORE.match(line):
            continue
        match = _LINK.match(line)
        if match is not None:
            current.message.extend(pending)
            pending.clear()
            current = _Exception(match["type"], [match["message"] or ""])
            if match["kind"] == "Caused by" and len(match["indent"]) <= indent:
                chain.append(current)
                sides.append([])
            else:
                sides[-1].append(current)
            continue
        if current.frames:
            if line.strip():
                break
            continue
        pending.append(line)
        if len(pending) > _MAX_HEADER_LINES:
            break
    return weave_side_exceptions(
        [e.freeze() for e in chain], [[e.freeze() for e in side] for side in sides]
    )


def _frame(match: re.Match[str], line: str) -> Frame:
    number = match["line"] or match["uline"]
    return Frame(
        module=match["cls"],
        function=match["fn"],
        file=match["file"],
        line=int(number) if number is not None else None,
        raw=line.strip(),
    )


def normalize_frame(frame: Frame) -> NormalizedFrame:
    """Stable identity of a JVM frame: generated classes and lambda ids folded, proxies skipped."""
    module = _HIDDEN.sub("", frame.module)
    function = frame.function
    if _JDK_PROXY.search(module):
        return NormalizedFrame(
            key=f"$Proxy.{function}", hint=f"JDK dynamic proxy {frame.module}", skip=True
        )
    proxy = _PROXY.search(module)
    if proxy is not None:
        return NormalizedFrame(
            key=f"{module[: proxy.start()]}.{function}",
            hint=f"generated proxy {frame.module}",
            skip=True,
        )
    accessor = _ACCESSOR.search(module)
    if accessor is not None:
        return NormalizedFrame(
            key=f"{module[: accessor.start()]}{accessor[1]}.{function}",
            hint=f"reflection accessor {frame.module}",
            skip=True,
        )
    lambda_class = _LAMBDA_CLASS.search(module)
    if lambda_class is not None:
        return NormalizedFrame(
            key=f"{module[: lambda_class.start()]}$$Lambda.{function}",
            hint=f"lambda bridge {frame.module}.{function}",
            skip=True,
        )
    if module.startswith("java.lang.invoke.LambdaForm$"):
        return NormalizedFrame(
            key=f"java.lang.invoke.LambdaForm.{function}",
            hint=f"method handle form {frame.module}",
            skip=True,
        )
    if _ACCESS.fullmatch(function):
        return NormalizedFrame(
            key=f"{_ANON.sub('$anon', module)}.access$",
            hint=f"synthetic accessor {function}",
            skip=True,
        )
    hints: list[str] = []
    anonfun = _ANONFUN_CLASS.search(module)
    if anonfun is not None:
        function = anonfun["name"]
        module = module[: anonfun.start()]
        hints.append(f"scala closure {frame.module}.{frame.function} folded to {function}")
    anon = _ANON.sub("$anon", module)
    if anon != module:
        hints.append(f"anonymous class {module} folded to {anon}")
        module = anon
    lam = _LAMBDA_FUNCTION.fullmatch(function)
    if lam is not None:
        name = lam["java"] or lam["scala"] or lam["kotlin"]
        hints.append(f"lambda {function} folded to {name}")
        function = name
    elif function.endswith("$default"):
        hints.append(f"default-arguments bridge {function} folded")
        function = function.removesuffix("$default")
    if module != frame.module and not hints:
        hints.append(f"hidden class address of {frame.module} dropped")
    return NormalizedFrame(key=f"{module}.{function}", hint="; ".join(hints))


#: Android's desugared lambdas, named anew by each build: D8's bridge classes
#: ``util.-$$Lambda$ExtractorHelper$5fJcha6Sq5APJBLdG6osaJby-mc`` and
#: ``ExtractorHelper$$ExternalSyntheticLambda6``, R8's ``ExtractorHelper.$r8$lambda$YTHJjS...``.
_D8_BRIDGE = "-$$Lambda$"
_D8_SYNTHETIC = "$$ExternalSyntheticLambda"
_R8_METHOD = "$r8$lambda$"


def renames(frame: Frame) -> tuple[Frame, str] | None:
    """An Android build's lambda bridges, classes and R8's methods, as the JDK's bridge class
    (``Outer$$Lambda``), which ``normalize_frame`` skips (``Language.renames``)."""
    module, function = frame.module, frame.function
    head, bridge, rest = module.rpartition(_D8_BRIDGE)
    if bridge and (not head or head.endswith(".")) and "$" in rest:
        module = f"{head}{rest.rpartition('$')[0]}$$Lambda"
    head, synthetic, number = module.rpartition(_D8_SYNTHETIC)
    if synthetic and number.isdigit():
        module = f"{head}$$Lambda"
    if function.startswith(_R8_METHOD):  # a static bridge to the lambda's body, as D8's class
        module, function = f"{module}$$Lambda", _R8_METHOD.rstrip("$")
    if (module, function) == (frame.module, frame.function):
        return None
    return replace(frame, module=module, function=function), "Android build's lambda name folded"


LANGUAGE = Language(
    name="java",
    version="v1",
    parse=parse,
    normalize_frame=normalize_frame,
    marker=has_marker,
    breaks=(_BREAK,),
    renames=renames,
)
