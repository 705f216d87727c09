"""The SMTP listener as the receiving server of RFC 8601: it stamps what it verified itself.

Mail that reaches triagebot through its own listener passed no MTA that could vouch for it, so
the listener does what a receiving MTA does before it delivers: it removes every incoming
``Authentication-Results`` field carrying its own authserv-id (a forger's, RFC 8601 section 5),
verifies the DKIM signatures with dkimpy, and prepends its own stamp, which
``triagebot.confirm.stamps`` reads like any trusted MTA's (a ``dkim=pass`` whose ``header.d``
is aligned with the From domain proves the author). DMARC is not evaluated: the stamp carries
dkim results only.

Nothing here refuses or loses a mail: a failed key lookup is ``temperror``, a malformed
signature or a missing key ``permerror``, and the mail is spooled either way. The work is
bounded: the first ``MAX_SIGNATURES`` signatures are verified, each with one key lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import authres
import dkim
from dkim.dnsplug import get_txt

from triagebot.confirm.stamps import authserv_id

__all__ = ["DNS_TIMEOUT", "MAX_SIGNATURES", "DkimResult", "Stamped", "Stamper", "TxtLookup"]

#: Signatures verified per mail, from the top; real mail carries one to three.
MAX_SIGNATURES = 5
#: Seconds one key lookup may take (dkimpy passes it to the lookup).
DNS_TIMEOUT = 5.0
_REASON_CHARS = 80
# What a stamp may carry unquoted: host-name characters (d=, s=; "^": used with fullmatch).
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,253}")
# A bytes repr in dkimpy's messages ("missing b'bh='"): its text is kept.
_BYTES = re.compile(r"b'([^'\\]*+)'")
# Anything a quoted reason should not hold.
_UNSAFE = re.compile(r"[^A-Za-z0-9 .,:=/+_-]++")
_FIELD = b"authentication-results"


class TxtLookup(Protocol):
    """A DNS TXT lookup as dkimpy calls it: the record's text, or None when there is none."""

    def __call__(self, name: bytes, timeout: float = ...) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class DkimResult:
    """One signature's verdict in RFC 8601 words (``pass``, ``fail``, ``policy``,
    ``permerror``, ``temperror``); ``domain`` and ``selector`` are its ``d=`` and ``s=``
    (``""`` when the signature was unreadable)."""

    result: str
    domain: str = ""
    selector: str = ""
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.result} {self.domain or '(none)'}"


@dataclass(frozen=True, slots=True)
class Stamped:
    """The mail as it is spooled, what was verified, and how many forged stamps went."""

    raw: bytes
    results: tuple[DkimResult, ...]
    removed: int


class _KeyUnavailable(Exception):
    """Raised through dkimpy, which would turn a DNS failure into a plain ``False``."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


class _KeyLookup:
    """The injected lookup for one signature: notes that verification reached the key, and
    tells a failed lookup (temperror) and a missing key (permerror) from a bad signature."""

    def __init__(self, lookup: TxtLookup) -> None:
        self._lookup = lookup
        self.asked = False

    def __call__(self, name: bytes, timeout: float = DNS_TIMEOUT) -> bytes:
        self.asked = True
        try:
            record = self._lookup(name, timeout=timeout)
        except Exception as exc:  # any resolver's error: the key may be there next time
            raise _KeyUnavailable("temperror", f"key lookup failed ({type(exc).__name__})") from exc
        if not record:
            raise _KeyUnavailable("permerror", "no key for signature")
        return record


class Stamper:
    """Strips forged stamps, verifies DKIM and stamps a mail as ``authserv_id``.

    ``lookup`` answers the key queries; None uses dkimpy's own DNS resolver.
    """

    def __init__(self, authserv_id: str, lookup: TxtLookup | None = None) -> None:
        self.authserv_id = authserv_id.lower()
        self._lookup: TxtLookup = lookup or get_txt

    def __call__(self, raw: bytes) -> Stamped:
        results = self.verify(raw)
        kept, removed, newline = self._strip(raw)
        return Stamped(self.stamp(results).encode() + newline + kept, results, removed)

    def verify(self, raw: bytes) -> tuple[DkimResult, ...]:
        """The verdicts of the first ``MAX_SIGNATURES`` signatures; ``()`` when unsigned."""
        try:
            headers = dkim.DKIM(raw).headers
        except Exception as exc:  # dkimpy's parser on a malformed header section
            return (DkimResult("permerror", reason=_reason(exc)),)
        count = sum(1 for name, _ in headers if name.lower() == b"dkim-signature")
        return tuple(self._one(raw, index) for index in range(min(count, MAX_SIGNATURES)))

    def _one(self, raw: bytes, index: int) -> DkimResult:
        verifier = dkim.DKIM(raw, timeout=DNS_TIMEOUT)  # its own: no state of another signature
        key = _KeyLookup(self._lookup)
        try:
            verified = verifier.verify(idx=index, dnsfunc=key)
        except _KeyUnavailable as exc:
            return _result(verifier, exc.result, exc.reason)
        except Exception as exc:  # before the key lookup: malformed; after: it did not verify
            return _result(verifier, "fail" if key.asked else "permerror", _reason(exc))
        if not verified:
            return _result(verifier, "fail", "signature did not verify")
        if b"l" in verifier.signature_fields:
            return _result(verifier, "policy", "l= signs only part of the body")
        return _result(verifier, "pass", "")

    def stamp(self, results: tuple[DkimResult, ...]) -> str:
        """The ``Authentication-Results`` field (without line end), written with authres."""
        found = [
            authres.DKIMAuthenticationResult(
                result=r.result,
                header_d=r.domain or None,
                header_s=r.selector or None,
                reason=r.reason or None,
            )
            for r in results
        ] or [authres.DKIMAuthenticationResult(result="none")]
        return str(authres.AuthenticationResultsHeader(authserv_id=self.authserv_id, results=found))

    def _strip(self, raw: bytes) -> tuple[bytes, int, bytes]:
        """``raw`` without the header fields that carry this authserv-id, how many went, and
        the mail's own line end (for the stamp)."""
        lines = raw.splitlines(keepends=True)
        end = next((n for n, line in enumerate(lines) if line in (b"\r\n", b"\n")), len(lines))
        newline = b"\r\n" if lines and lines[0].endswith(b"\r\n") else b"\n"
        fields: list[list[bytes]] = []
        for line in lines[:end]:
            if fields and line[:1] in (b" ", b"\t"):
                fields[-1].append(line)
            else:
                fields.append([line])
        kept = [b"".join(field) for field in fields if not self._ours(field)]
        removed = len(fields) - len(kept)
        return b"".join(kept + lines[end:]), removed, newline

    def _ours(self, field: list[bytes]) -> bool:
        name, colon, value = b"".join(field).partition(b":")
        if not colon or name.strip().lower() != _FIELD:
            return False
        return authserv_id(value.decode("ascii", "surrogateescape")) == self.authserv_id


def _result(verifier: Any, result: str, reason: str) -> DkimResult:
    """A verdict naming the signature's ``d=``/``s=`` when they are safe to write unquoted; a
    pass without a writable domain proves nothing, so it becomes a permerror."""
    domain, selector = _token(verifier.domain), _token(verifier.selector)
    if result == "pass" and not domain:
        return DkimResult("permerror", "", selector, "d= is not a domain name")
    return DkimResult(result, domain, selector, reason)


def _token(value: object) -> str:
    if not isinstance(value, bytes):
        return ""
    text = value.decode("ascii", "replace")
    return text.lower() if _TOKEN.fullmatch(text) else ""


def _reason(exc: Exception) -> str:
    """dkimpy's message without its byte dumps (``body hash mismatch (got b'...')``) and
    reprs (``missing b'bh='``)."""
    text = _UNSAFE.sub(" ", _BYTES.sub(r"\1", str(exc).partition("(")[0])).strip()
    return " ".join(text.split())[:_REASON_CHARS] or type(exc).__name__
