"""Stack signature: a short, stable fingerprint of *the bug*, not of the occurrence.

Only what identifies the bug contributes: the language, the exception types of the chain, and
the normalised in-app frames (no line numbers, addresses, generated counters, lambda ids,
install paths; recursion folded). With no in-app frames the top library frames stand in; with
no frames at all, the exception type plus the message with its variable parts replaced.

Every decision leaves a ``FrameNote`` (contributes yes/no and why), so ``triagebot explain``
can show exactly what was hashed. Algorithms are versioned (``SIGNATURE_VERSIONS``): a new
version is a new entry, old ones never change, so stored signatures stay reproducible.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, fields, replace
from functools import cache, partial
from importlib import resources
from typing import Any

from triagebot.stack import Language
from triagebot.stack.detect import BY_NAME
from triagebot.stack.model import UNKNOWN_TYPE, UNRESOLVED_FUNCTION, ExceptionInfo, Frame, Trace


@dataclass(frozen=True, slots=True)
class SignatureVersion:
    """One frozen signature algorithm: its library-frame data file and its knobs."""

    version: str
    library_file: str
    #: Library-frame globs added by later versions (each file dated, never changed).
    more_library_files: tuple[str, ...] = ()
    max_app_frames: int = 20  # per exception: deeper frames vary with the caller, not the bug
    #: Entry-point globs per language: a trace whose only in-app frames match them is signed
    #: with its message and the innermost frames below them too (``None``: no such rule).
    entry_file: str | None = None
    #: Whether a chain signed by library frames or entry points alone also hashes its messages
    #: (and an entry point its source file): "Unable to start activity" from two apps, or two
    #: programs' ``main.main`` nil dereferences, share every such frame.
    weak_frames_message: bool = False
    #: Whether traces found only in unwrapped text are signed as found (``Trace.first_reading``).
    unwrapped: bool = False
    #: Languages whose traces a parser left unnamed are signed under the name their text gives
    #: elsewhere (``Trace.named``, ``Language.names``).
    named: tuple[str, ...] = ()
    #: Whether the top frames that ran while an exception unwound are left out
    #: (``Language.unwinding``: Go's deferred handlers above the last ``panic``).
    unwound: bool = False
    fallback_frames: int = 5  # library frames used when a chain has no in-app frame at all
    #: The runtime's own frames per language: a chain signed by library frames signs the
    #: innermost ``package_frames`` of the other libraries when it has any, and its innermost
    #: ``fallback_frames`` otherwise (``None``: every library frame alike).
    runtime_file: str | None = None
    more_runtime_files: tuple[str, ...] = ()  # the runtime's globs added by later versions
    package_frames: int = 1
    #: Frames signed of a chain whose frames are all the runtime's own and that has a message
    #: (reporters cut such traces at any depth; the message is hashed with them). Without a
    #: message it keeps ``fallback_frames``: an ``OutOfMemoryError`` in StringBuilder's growth
    #: is told apart by the caller five frames down.
    runtime_frames: int = 5
    #: Languages whose runtime modules found below a folder named ``lib`` in any case are the
    #: runtime's own where no library pattern says so: Windows installs and conda environments
    #: print ``C:\Python37\lib\tkinter\__init__.py``, not ``Lib``.
    lib_folders: tuple[str, ...] = ()
    #: Languages whose libraries are signed by the file they failed in
    #: (``NormalizedFrame.source``), not by the method: Ruby prints a C method such as
    #: ``require`` at its caller's line, so a trace cut at that line names the file and the
    #: C method, and the whole trace names the file and the caller.
    package_files: tuple[str, ...] = ()
    #: Languages whose frame keys name their program (``Acme.Portal.Program.Main``): an entry
    #: point's source file is hashed only for a key with no namespace (``Program.Main``), as
    #: a namespaced key already tells programs apart and the file's folder varies with the
    #: build (``Platforms/iOS/Program.cs`` and ``Platforms/MacCatalyst/Program.cs``).
    namespaced: tuple[str, ...] = ()
    #: Languages whose frames are signed as ``Language.renames`` folds them: a Python console
    #: script's launcher by its name alone (``pip``, ``pip3`` and ``pip3.8`` are one program),
    #: Go's closures of old compilers (``func·001``) and local packages (``_/home/user/app``),
    #: an Android build's lambda bridges (``-$$Lambda$Outer$5fJcha6S...``) as the JDK's.
    renamed: tuple[str, ...] = ()
    #: Whether messages are read through ``_REWORDED`` first: one error worded as each release
    #: of its runtime words it, and a Markdown code span's closing backtick pasted with it.
    reworded: bool = False
    max_cycle: int = 8  # longest repeated call cycle folded as recursion
    digest_chars: int = 16  # 64 bits, lowercase hex


# Reporters cut long traces and the same failing function is reached from other callers:
# the innermost five in-app frames identify the bug. Different bugs whose only in-app frame
# is ``main.main`` or ``Program.Main`` are told apart by their messages and library frames.
_V2 = SignatureVersion(
    version="v2",
    library_file="library-frames@2026-11-27.toml",
    more_library_files=("library-frames@2026-12-07.toml",),
    max_app_frames=5,
    entry_file="entry-points@2026-12-07.toml",
    weak_frames_message=True,
    unwrapped=True,
)
SIGNATURE_VERSIONS: dict[str, SignatureVersion] = {
    "v1": SignatureVersion(version="v1", library_file="library-frames@2026-11-27.toml"),
    "v2": _V2,
    # v2, and: a chain without in-app frames is signed by the innermost frame of the libraries
    # that called the runtime, not by the runtime's own (those change between its releases,
    # and two libraries failing in one runtime function are two bugs); an exception whose
    # type line its parser could not read is signed under the name its text gives elsewhere;
    # frames that ran while a Go panic unwound do not count.
    "v3": replace(
        _V2,
        version="v3",
        runtime_file="runtime-frames@2026-12-07.toml",
        named=("dotnet", "go", "ruby"),
        unwound=True,
    ),
}
# v3, and: a runtime module below a ``lib`` folder of any case is the runtime's own, a chain
# of the runtime's frames only with a message is signed by its innermost three (traces cut at
# three, four and five frames of one WPF failure were three defects), a Ruby library by the
# file it failed in (one ``LoadError`` was two defects: its trace cut at Kernel#require's
# line, and whole), PHP's uncaught errors whose header its parser could not read are named as
# PHP printed them, and a .NET or Java entry point whose key names its program does not hash
# its file.
SIGNATURE_VERSIONS["v4"] = replace(
    SIGNATURE_VERSIONS["v3"],
    version="v4",
    named=("dotnet", "go", "ruby", "php"),
    runtime_frames=3,
    lib_folders=("python",),
    package_files=("ruby",),
    namespaced=("dotnet", "java"),
)


# v4, and: a console script's launcher is keyed without its version (``pip3`` is ``pip``), as
# are Go's old closure counters, local packages' folders and Android's lambda bridges
# (``Language.renames``), and
# messages are read as one wording whatever the runtime's release (Python 2's ``cannot import
# name main`` is Python 3's ``'main'``; V8's ``Cannot read properties of undefined (reading
# 'x')`` its older ``Cannot read property 'x' of undefined``) without a pasted closing backtick,
# a Python traceback indented as a whole is named by its type line at the header's indent, and
# create-react-app's error overlay and a Python traceback whose first frame line was cut are
# read (``stack.extra.react_overlay`` and ``python_cut``, ``Reader.since``), and Ruby 4's
# standard library is the runtime's own as Ruby 3's.
SIGNATURE_VERSIONS["v5"] = replace(
    SIGNATURE_VERSIONS["v4"],
    version="v5",
    named=("dotnet", "go", "ruby", "php", "python"),
    renamed=("python", "go", "java"),
    more_runtime_files=("runtime-frames@2026-12-08.toml",),
    reworded=True,
)


# v5, and: a Python traceback whose lines lost their indentation (an HTML mail's text without
# ``<pre>``, a CI console) is read whole (``stack.extra.python_dedented``, ``Reader.since``).
SIGNATURE_VERSIONS["v6"] = replace(SIGNATURE_VERSIONS["v5"], version="v6")


DEFAULT_VERSION = "v6"


def older_versions(version: str) -> tuple[str, ...]:
    """The versions registered before ``version``, oldest first: a report is signed with
    them too, so the store can link its new signature to the defect an old one filed."""
    names = list(SIGNATURE_VERSIONS)
    return tuple(names[: names.index(version)]) if version in SIGNATURE_VERSIONS else ()


@dataclass(frozen=True, slots=True)
class FrameNote:
    """Why one frame did or did not count (the explain tree's leaf)."""

    exception: int
    raw: str
    key: str
    in_app: bool
    contributes: bool
    hint: str
    #: The key a library basis signs this frame by when it is not ``key`` (its file:
    #: ``SignatureVersion.package_files``).
    package: str = ""


@dataclass(frozen=True, slots=True)
class Signature:
    """The fingerprint plus everything needed to explain it and name the defect."""

    value: str
    version: str
    title: str
    language: str
    exception_types: tuple[str, ...]
    in_app_frames: tuple[str, ...]
    top_in_app: str | None
    basis: str  # "app-frames", "library-frames" or "message"
    message_template: str = ""
    # Works the frame notes out again: only ``explain`` reads them, so signing skips them.
    explained: Callable[[], tuple[FrameNote, ...]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def notes(self) -> tuple[FrameNote, ...]:
        """Why each frame did or did not count, in frame order."""
        return self.explained() if self.explained is not None else ()

    def __reduce__(self) -> tuple[type[Signature], tuple[object, ...]]:
        """Pickled without ``explained``, which holds the signer and all its caches (megabytes):
        a signature sent back by the analysis process carries what it is, not how to explain it."""
        kept = (f.name for f in fields(self) if f.name != "explained")
        return Signature, tuple(getattr(self, name) for name in kept)


def _glob_part(pattern: str) -> str:
    """One glob as a regex: the text between two stars is found at its first occurrence, once
    (atomic), so ``*/lib/python*/*`` cannot try every split of a long name between its stars;
    for a glob the first occurrence is always the one to take."""
    head, *middle = (re.escape(fixed).replace(r"\?", ".") for fixed in pattern.split("*"))
    if not middle:
        return head
    *middle, tail = middle
    return head + "".join(f"(?>.*?{fixed})" for fixed in middle) + ".*" + tail


def glob_regex(patterns: tuple[str, ...] | list[str]) -> re.Pattern[str] | None:
    """One regex for a list of globs where only ``*`` and ``?`` are special (``[`` is literal,
    so PHP's ``[internal function]`` needs no escaping). No group is captured: a capturing
    group per glob makes a long list 40 times slower to match."""
    if not patterns:
        return None
    return _whole(_glob_part(p) for p in patterns if p.strip())


def _whole(parts: Iterable[str]) -> re.Pattern[str]:
    """One regex matching a whole text that one of ``parts`` matches."""
    return re.compile(r"\A(?:" + "|".join(parts) + r")\Z", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _PatternSet:
    """Globs compiled once into one regex to test; to name the glob that matched, each one
    is compiled on its own the first time a search gets to it (most are never named)."""

    patterns: tuple[str, ...]
    combined: re.Pattern[str] | None

    @classmethod
    def of(cls, patterns: tuple[str, ...]) -> _PatternSet:
        """The set for ``patterns``, shared: the signature versions load mostly the same
        lists, and compiling them once each is most of a service's start-up."""
        return _pattern_set(patterns)

    def matches(self, qualified: str, file: str) -> bool:
        """Whether any glob matches the name or the file."""
        combined = self.combined
        return combined is not None and bool(
            combined.match(qualified) or (file and combined.match(file))
        )

    def matches_file(self, file: str) -> bool:
        """Whether any glob matches the file alone."""
        return bool(file) and self.combined is not None and bool(self.combined.match(file))

    def which(self, qualified: str, file: str) -> str | None:
        """The first glob (in list order) matching the name or the file, or None."""
        if not self.matches(qualified, file):
            return None
        for pattern in self.patterns:
            regex = _one_glob(pattern)
            if regex.match(qualified) or (file and regex.match(file)):
                return repr(pattern)
        return None  # pragma: no cover - the combined regex matched, so one glob does


@cache
def _one_glob(pattern: str) -> re.Pattern[str]:
    return _whole([_glob_part(pattern)])


@cache
def _pattern_set(patterns: tuple[str, ...]) -> _PatternSet:
    kept = tuple(p for p in patterns if p.strip())  # a blank glob matches nothing
    return _PatternSet(kept, glob_regex(kept))


class FrameClassifier:
    """Decides in-app: configured ``app_frames`` win, then library patterns (built-in + config).

    Answers are cached per (language, name, file): the same frames recur in every report of
    a bug, and the cache is bounded so a flood of distinct frames cannot grow it forever.
    """

    CACHE_LIMIT = 4_096  # entries per cache: recurring frames hit, memory stays a few MB

    def __init__(
        self,
        version: SignatureVersion,
        app_frames: tuple[str, ...] = (),
        library_frames: tuple[str, ...] = (),
    ) -> None:
        files = (version.library_file, *version.more_library_files)
        patterns = _globs(files)
        self._source = " + ".join(files)
        self._app = _PatternSet.of(app_frames) if app_frames else None
        self._library = {
            name: _PatternSet.of((*globs, *library_frames)) for name, globs in patterns.items()
        }
        self._extra = _PatternSet.of(library_frames)
        runtime = (
            (version.runtime_file, *version.more_runtime_files) if version.runtime_file else ()
        )
        self._runtime = {
            name: _PatternSet.of(tuple(globs)) for name, globs in _globs(runtime).items()
        }
        self._lib_folders = version.lib_folders
        self._cache: dict[tuple[str, str, str], tuple[bool, str]] = {}

    def classify(self, language: str, frame: Frame) -> tuple[bool, str]:
        """``(in_app, why)`` for one frame."""
        key = (language, frame.qualified, frame.file or "")
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= self.CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[key] = self._classify(*key)
        return found

    def runtime(self, language: str, frame: Frame) -> bool:
        """Whether a library frame is the runtime's own (``SignatureVersion.runtime_file``)."""
        found = self._runtime.get(language)
        file = frame.file or ""
        return found is not None and (
            found.matches(frame.qualified, file) or self._in_lib_folder(language, found, file)
        )

    def runtime_file(self, language: str, file: str) -> bool:
        """Whether ``file`` is one of the runtime's own (whatever the method printed in it)."""
        found = self._runtime.get(language)
        return found is not None and found.matches_file(file)

    def _in_lib_folder(self, language: str, runtime: _PatternSet, file: str) -> bool:
        """Whether ``file`` is a runtime module below a folder named ``lib`` in any case
        (``SignatureVersion.lib_folders``): ``...\\lib\\tkinter\\__init__.py`` is ``tkinter``."""
        if language not in self._lib_folders:
            return False
        path = file.replace("\\", "/")
        start = path.lower().rfind("/lib/")
        if start < 0:
            return False
        module = path[start + 5 :].rpartition(".")[0].replace("/", ".").removesuffix(".__init__")
        return bool(module) and runtime.matches(f"{module}.", "")

    def _classify(self, language: str, qualified: str, file: str) -> tuple[bool, str]:
        if self._app is not None:
            matched = self._app.which(qualified, file)
            if matched:
                return True, f"matches app_frames {matched}"
            return False, "not matched by app_frames"
        matched = self._library.get(language, self._extra).which(qualified, file)
        if matched:
            return False, f"library pattern {matched} ({self._source})"
        runtime = self._runtime.get(language)
        if runtime is not None and self._in_lib_folder(language, runtime, file):
            return False, "a runtime module in a lib folder"
        return True, "no library pattern matched"


def _when(group: str, replacement: str) -> Callable[[re.Match[str]], str]:
    """A replacement for a pattern that also matches text it must keep: ``replacement`` when
    ``group`` took part in the match, the matched text as it was otherwise."""
    return lambda match: replacement if match[group] is not None else match[0]


# Variable parts of exception messages, most specific first. Examples in comments.
# A URL's scheme and an address's local part are matched to the end of their run of characters
# even when no "://" or "@..." follows (then kept by ``_when``): each later start inside the same
# run fails the same way, and trying them one by one read the run again from each ("a.a.a...").
_MESSAGE_NOISE: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # 10.0.0.12:1433 (before dates, which would take 0.0.12 for a day)
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    # 2026-11-27T03:34:25.123Z, 27.11.2026 03:34, 11/27/2026
    (
        re.compile(
            r"\b\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b"
            r"|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}(?: \d\d:\d\d(?::\d\d)?)?\b"
        ),
        "<date>",
    ),
    (re.compile(r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b"), "<time>"),
    # 3f2504e0-4f89-11d3-9a0c-0305e82c3301
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<guid>"),
    # https://example.com/x?y=1, jdbc:postgresql://db:5432/app
    (
        re.compile(r"\b[a-z][a-z0-9+.-]*(?P<url>://[^\s'\"<>)]+)?", re.IGNORECASE),
        _when("url", "<url>"),
    ),
    # jdoe@example.com
    (re.compile(r"\b[\w.+-]+(?P<at>@[\w-]+(?:\.[\w-]+)+\b)?"), _when("at", "<email>")),
    # C:\Users\bob\file.txt, \\server\share\x, /var/lib/app/x.db
    (re.compile(r"(?:\b[A-Za-z]:\\|\\\\)[^\s'\"<>|]*|(?<![\w.])/(?:[\w.@-]+/)+[\w.@-]*"), "<path>"),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|‘[^’\n]{0,200}’|“[^”\n]{0,200}”"), "<str>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"(?<![A-Za-z])[-+]?\d+(?:[.,]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)


#: Per language, one error's wordings across its runtime's releases, rewritten to one of them
#: before the variable parts are replaced (``SignatureVersion.reworded``).
_REWORDED: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    # Python 2: "cannot import name main"; 3: "'main'"; 3.7: "'main' from 'pip' (/usr/...)".
    "python": (
        (
            re.compile(
                r"(?P<what>cannot import name|No module named) '?(?P<name>[\w.]+)'?"
                r"(?: from '[\w.]+' \([^()\n]*\))?"
            ),
            r"\g<what> '\g<name>'",
        ),
    ),
    # V8 9.x: "Cannot read properties of undefined (reading 'x')"; before: "Cannot read property
    # 'x' of undefined".
    "javascript": (
        (
            re.compile(
                r"Cannot read properties of (?P<what>undefined|null) \(reading (?P<p>'[^'\n]*')\)"
            ),
            r"Cannot read property \g<p> of \g<what>",
        ),
    ),
}


# A name quoted the way Ruby and older tools quote it: "undefined method `name' for nil".
_GRAVE_QUOTED = re.compile(r"`[^`'\n]*'")


def reworded(language: str, message: str) -> str:
    """``message`` as ``_REWORDED`` words it for ``language``, without the unmatched closing
    backtick of a Markdown code span it was pasted in (``cannot import name main```)."""
    text = message.strip()
    if text.endswith("`") and _GRAVE_QUOTED.sub("", text).count("`") % 2:
        text = text.rstrip("`").rstrip()
    for regex, replacement in _REWORDED.get(language, ()):
        if (match := regex.fullmatch(text)) is not None:
            return match.expand(replacement)
    return text


def read_later(trace: Trace, version: SignatureVersion) -> bool:
    """Whether a reader newer than ``version`` read ``trace`` (``Trace.since``)."""
    return bool(trace.since) and version.version in older_versions(trace.since)


def message_template(message: str) -> str:
    """Variable parts replaced: ``Order 42 not found`` → ``Order <n> not found``."""
    text = message.strip()[:500]
    for regex, replacement in _MESSAGE_NOISE:
        text = regex.sub(replacement, text)
    return text.strip()


def fold_recursion(keys: list[str], max_cycle: int) -> tuple[list[str], int]:
    """Collapse immediately repeated runs (``A A A`` → ``A``; ``A B A B`` → ``A B``)."""
    out: list[str] = []
    folded = 0
    for key in keys:
        out.append(key)
        limit = min(max_cycle, len(out) // 2)
        if not limit or key not in out[-1 - limit : -1]:
            continue  # a repeated run ends with an earlier copy of its last key
        for period in range(1, limit + 1):
            if out[-period:] == out[-2 * period : -period]:
                del out[-period:]
                folded += period
                break
    return out, folded


def short_name(key: str) -> str:
    """``Acme.Cases.CaseViewModel.Load`` → ``CaseViewModel.Load`` (for titles)."""
    parts = [p for p in re.split(r"[./\\:]+", key) if p]
    return ".".join(parts[-2:]) if parts else key


#: One frame judged: its key, in-app or not, skipped or not, why (the note's hint), and its key
#: as a library that is not the runtime's own (``None``: it is in-app, skipped or the
#: runtime's, when the version tells those apart).
_Judged = tuple[str, bool, bool, str, str | None]


class Signer:
    """Computes signatures for one configured algorithm version (precomputed at start-up)."""

    def __init__(
        self,
        version: str = DEFAULT_VERSION,
        app_frames: tuple[str, ...] = (),
        library_frames: tuple[str, ...] = (),
    ) -> None:
        """``app_frames``/``library_frames``: globs that mark frames in-app or not (see
        ``FrameClassifier``); an unknown ``version`` is a ``ValueError``."""
        if version not in SIGNATURE_VERSIONS:
            known = ", ".join(SIGNATURE_VERSIONS)
            raise ValueError(f"unknown version {version!r} (known: {known})")
        self.version = SIGNATURE_VERSIONS[version]
        self.classifier = FrameClassifier(self.version, app_frames, library_frames)
        self._entry_points = _entry_points(self.version.entry_file)
        self._judged: dict[str, dict[Hashable, _Judged]] = {}  # per language, bounded caches

    def sign(self, trace: Trace) -> Signature:
        """The signature of one parsed trace (its frame notes are worked out when read)."""
        return self._sign(self.reading(trace), None)

    def reading(self, trace: Trace) -> Trace:
        """The reading of the text this version signs: a version older than unwrapping, or than
        the reader that read it (``read_later``), signs what the text gave as it was, when that
        was a trace at all; a version that names unnamed exceptions signs one under its name
        (``Trace.named``)."""
        first = trace.first_reading
        if first is not None and (read_later(trace, self.version) or not self.version.unwrapped):
            return first
        if trace.named is not None and trace.language in self.version.named:
            only = trace.exceptions[0]
            return replace(trace, exceptions=(replace(trace.named, frames=only.frames),))
        return trace

    def _notes(self, trace: Trace) -> tuple[FrameNote, ...]:
        notes: list[FrameNote] = []
        self._sign(trace, notes)
        return tuple(notes)

    def _sign(self, trace: Trace, notes: list[FrameNote] | None) -> Signature:
        """The one algorithm; ``notes``, when given, collects why each frame counted."""
        language = BY_NAME.get(trace.language)
        chain = _fold_chain(trace.exceptions)
        types = tuple(e.type for e in chain)
        per_exception: list[list[str]] = []
        library: list[list[str]] = []
        packages: list[list[str]] = []
        for index, exc in enumerate(chain):
            app_keys, lib_keys, package_keys = self._frames(index, exc, language, notes)
            per_exception.append(app_keys)
            library.append(lib_keys)
            packages.append(package_keys)
        basis = "app-frames"
        if not any(per_exception):
            basis = "library-frames"
            if self.version.runtime_file and any(packages):
                per_exception = [keys[: self.version.package_frames] for keys in packages]
            else:
                depth = self.version.fallback_frames
                if self.version.runtime_file and any(exc.message.strip() for exc in chain):
                    depth = self.version.runtime_frames
                per_exception = [keys[:depth] for keys in library]
            if notes is not None:
                notes[:] = [_promote(n, per_exception, "no in-app frames") for n in notes]
        below: list[list[str]] = []
        if basis == "app-frames" and self._only_entry_points(trace.language, per_exception):
            basis = "entry-point"
            below = [keys[: self.version.fallback_frames] for keys in library]
            if notes is not None:
                notes[:] = [_promote(n, below, "below an entry point") for n in notes]
        if not any(per_exception):
            basis = "message"
        lines = [self.version.version, trace.language, *(f"E {t}" for t in types)]
        for index, keys in enumerate(per_exception):
            lines.extend(f"F{index} {k}" for k in keys)
        for index, keys in enumerate(below):
            lines.extend(f"L{index} {k}" for k in keys)
        template = ""
        if basis == "message":
            template = self._template(trace.language, chain[-1].message if chain else "")
            lines.append(f"M {template}")
        elif basis != "app-frames" and self.version.weak_frames_message:
            templates = [self._template(trace.language, exc.message) for exc in chain]
            lines.extend(f"M{index} {t}" for index, t in enumerate(templates))
            if basis == "entry-point":
                lines.extend(f"W {where}" for where in self._app_files(trace.language, chain))
            template = templates[-1] if templates else ""
        digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
        value = digest[: self.version.digest_chars]
        flat = tuple(k for keys in per_exception for k in keys)
        named, top = _title_source(chain, per_exception)
        return Signature(
            value=value,
            version=self.version.version,
            title=_title(named, top, template),
            language=trace.language,
            exception_types=types,
            in_app_frames=flat if basis in ("app-frames", "entry-point") else (),
            top_in_app=top if basis in ("app-frames", "entry-point") else None,
            basis=basis,
            message_template=template,
            explained=partial(self._notes, trace) if notes is None else None,
        )

    def _template(self, language: str, message: str) -> str:
        """``message_template`` of the message as this version reads it."""
        return message_template(reworded(language, message) if self.version.reworded else message)

    def _app_files(self, language: str, chain: tuple[ExceptionInfo, ...]) -> list[str]:
        """The in-app frames' source files as ``folder/file``: which program's entry point
        (not for a key that names it: ``SignatureVersion.namespaced``)."""
        judged = self._judged.get(language, {})
        reads = BY_NAME.get(language)
        named = language in self.version.namespaced
        files = []
        for exc in chain:
            for frame in exc.frames:
                found = judged.get(_judged_key(reads, frame))
                if not frame.file or found is None or not found[1] or found[2]:
                    continue
                if not (named and found[0].count(".") >= 2):
                    file = self._renamed(language, reads, frame)[0].file or frame.file
                    files.append("/".join(file.replace("\\", "/").split("/")[-2:]))
        return files

    def _only_entry_points(self, language: str, per_exception: list[list[str]]) -> bool:
        """Whether every in-app key only says where a program or thread starts."""
        regex = self._entry_points.get(language)
        return regex is not None and all(regex.match(k) for keys in per_exception for k in keys)

    def _frames(
        self,
        index: int,
        exc: ExceptionInfo,
        language: Language | None,
        notes: list[FrameNote] | None,
    ) -> tuple[list[str], list[str], list[str]]:
        """One exception's in-app keys (innermost first, capped), library keys, and library
        keys that are not the runtime's own."""
        name = language.name if language is not None else ""
        judged = self._judged.setdefault(name, {})
        app: list[str] = []
        lib: list[str] = []
        package: list[str] = []  # library frames that are not the runtime's own
        skipped = language.unwinding(exc.frames) if language and self.version.unwound else 0
        if notes is not None:
            notes.extend(
                FrameNote(index, f.raw, f.qualified, False, False, "ran while it unwound")
                for f in exc.frames[:skipped]
            )
        for frame in exc.frames[skipped:]:
            key = _judged_key(language, frame)
            found = judged.get(key)
            if found is None:
                if len(judged) >= FrameClassifier.CACHE_LIMIT:
                    judged.clear()
                found = judged[key] = self._judge(name, language, frame)
            key, in_app, skip, why, package_key = found
            if not skip:
                (app if in_app else lib).append(key)
            if package_key is not None:
                package.append(package_key)
            if notes is not None:
                signed = package_key if package_key and package_key != key else ""
                notes.append(FrameNote(index, frame.raw, key, in_app, in_app, why, signed))
        folded_app, n_app = fold_recursion(app, self.version.max_cycle)
        kept = folded_app[: self.version.max_app_frames]
        if notes is not None and (n_app or len(folded_app) > len(kept)):
            _mark_dropped(notes, index, kept, n_app, self.version.max_app_frames)
        return (
            kept,
            fold_recursion(lib, self.version.max_cycle)[0],
            fold_recursion(package, self.version.max_cycle)[0],
        )

    def _judge(self, name: str, language: Language | None, frame: Frame) -> _Judged:
        """Normalise and classify one frame (cached by the caller: frames recur)."""
        source = ""
        signed, renamed = self._renamed(name, language, frame)
        if frame.function == UNRESOLVED_FUNCTION:
            key, hint, skip = frame.function, "not resolved by the error tracker", True
        elif language is None:
            key, hint, skip = frame.qualified, "", False
        else:
            norm = language.normalize_frame(signed)
            key, hint, skip, source = norm.key, norm.hint, norm.skip, norm.source
        tail = f"; {renamed}" if renamed else ""
        if skip:
            return key, False, True, f"skip: {hint}{tail}", None
        in_app, why = self.classifier.classify(name, frame)
        runtime = not in_app and self.classifier.runtime(name, frame)
        if runtime:
            why = f"{why}; the runtime's own"
        package: str | None = None
        if not in_app and source and name in self.version.package_files:
            # A runtime method printed at its caller's line is that file's frame.
            if not self.classifier.runtime_file(name, frame.file or ""):
                package = source
        elif not in_app and not runtime:
            package = key
        return key, in_app, False, (f"{why}; {hint}" if hint else why) + tail, package

    def _renamed(self, name: str, language: Language | None, frame: Frame) -> tuple[Frame, str]:
        """The frame as this version signs it (``SignatureVersion.renamed``) and why."""
        if language is None or name not in self.version.renamed:
            return frame, ""
        return language.renames(frame) or (frame, "")


def _judged_key(language: Language | None, frame: Frame) -> Hashable:
    """What a frame's judgement depends on: not its line number, which every build shifts
    (keyed on the whole frame, nearly every frame of a new build was judged afresh)."""
    extra = language.judged_on(frame) if language is not None else None
    return frame.module, frame.function, frame.file, frame.line is None, extra


def _fold_chain(chain: tuple[ExceptionInfo, ...]) -> tuple[ExceptionInfo, ...]:
    """Drop an exception identical to the one before it (AggregateException repeats)."""
    out: list[ExceptionInfo] = []
    for exc in chain:
        if out and out[-1].type == exc.type and out[-1].frames == exc.frames:
            continue
        out.append(exc)
    return tuple(out)


def _mark_dropped(
    notes: list[FrameNote], index: int, kept: list[str], folded: int, cap: int
) -> None:
    """Re-label in-app notes of one exception that recursion folding or the cap left out."""
    budget: dict[str, int] = {}
    for key in kept:
        budget[key] = budget.get(key, 0) + 1
    for i, note in enumerate(notes):
        if note.exception != index or not note.contributes:
            continue
        if budget.get(note.key, 0) > 0:
            budget[note.key] -= 1
            continue
        reason = "recursion folded" if folded else f"beyond the first {cap} in-app frames"
        notes[i] = FrameNote(index, note.raw, note.key, True, False, f"{note.hint}; {reason}")


def _promote(note: FrameNote, used: list[list[str]], why: str) -> FrameNote:
    """A library frame that contributes after all (no in-app frames, or only entry points),
    under the key it was signed by."""
    if note.in_app or note.hint.startswith("skip"):
        return note
    for key, how in ((note.key, why), (note.package, f"{why}; signed by its file")):
        if key and key in used[note.exception]:
            return FrameNote(note.exception, note.raw, key, False, True, f"{note.hint}; {how}")
    return note


@cache
def _data(data_file: str) -> dict[str, Any]:
    """One of the shipped data files (``triagebot/data``), by name, read once: every signature
    version loads mostly the same files, and reading them was most of a pipeline's start-up.
    Read-only for its callers, which share it."""
    return tomllib.loads(resources.files("triagebot.data").joinpath(data_file).read_text("utf-8"))


def _globs(files: tuple[str, ...]) -> dict[str, list[str]]:
    """Each language's globs in the data files, in their order."""
    patterns: dict[str, list[str]] = {}
    for data_file in files:
        for name, table in _data(data_file).items():
            patterns.setdefault(name, []).extend(table["patterns"])
    return patterns


def _entry_points(data_file: str | None) -> dict[str, re.Pattern[str]]:
    """The entry-point globs of a version's data file, one regex per language."""
    if data_file is None:
        return {}
    compiled = {name: glob_regex(table["patterns"]) for name, table in _data(data_file).items()}
    return {name: regex for name, regex in compiled.items() if regex is not None}


def _title_source(
    chain: tuple[ExceptionInfo, ...], per_exception: list[list[str]]
) -> tuple[ExceptionInfo | None, str | None]:
    """The innermost exception that has contributing frames, and its top one.

    ``SqlException ---> Win32Exception`` (no frames) is named after the SqlException's frame;
    a chain without frames is named after its root cause.
    """
    for exc, keys in zip(reversed(chain), reversed(per_exception), strict=True):
        if keys:
            return exc, keys[0]
    return (chain[-1] if chain else None), None


def _title(exc: ExceptionInfo | None, top: str | None, template: str) -> str:
    if exc is None:
        return "Unknown error"
    # A type line nobody read is said as such, not shown as "<unknown>" or an empty name.
    name = exc.short_type if exc.type not in ("", UNKNOWN_TYPE) else "Unnamed exception"
    first_line = template.splitlines()[0] if template else ""
    if top:
        where = f"{name} in {short_name(top)}"
        return (f"{where}: {first_line}" if first_line else where)[:255]
    return (f"{name}: {first_line}" if first_line else name)[:255]


def explain(signature: Signature) -> str:
    """Human-readable account of what went into a signature and why."""
    lines = [
        f"signature {signature.value} ({signature.version}, basis: {signature.basis})",
        f"title     {signature.title}",
        f"language  {signature.language}",
        "chain     " + " ---> ".join(signature.exception_types),
    ]
    if signature.message_template:
        lines.append(f"message   {signature.message_template}")
    for note in signature.notes:
        mark = "+" if note.contributes else "-"
        app = "in-app" if note.in_app else "not in-app"
        lines.append(f"  {mark} [{note.exception}] {note.key}  ({app}: {note.hint})")
    return "\n".join(lines)
