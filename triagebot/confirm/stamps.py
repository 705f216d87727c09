"""Authentication-Results stamps (RFC 8601): which one counts, and what it says about From.

The receiving server prepends its own stamp and removes any that arrive with its authserv-id
(RFC 8601 section 5); every stamp below it was written by whoever sent the mail. So only the
topmost stamp whose authserv-id is in ``[helpdesk].trusted_authserv_ids`` counts, and it is
read with ``authres``, an RFC 8601 parser: comments, quoted reasons and property values are
never results. It vouches for the ``From:`` domain with ``dmarc=pass`` whose ``header.from``
is that domain, or ``dkim=pass`` whose ``header.d`` is aligned with it (``aligned``); it shows
a failure with such a ``dmarc=fail`` (one without ``header.from`` counts: DMARC is evaluated
on the From domain) or an aligned ``dkim=fail``. SPF is never read: it vouches for the
envelope sender, which the author chooses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import authres

__all__ = [
    "MAX_STAMPS",
    "MAX_STAMP_CHARS",
    "Evidence",
    "Finding",
    "StampNote",
    "aligned",
    "authserv_id",
    "read",
]

#: Stamps looked at, from the top; real mail carries a handful.
MAX_STAMPS = 32
#: A longer stamp is not read: ``authres`` takes quadratic time in the length, and real stamps
#: stay under 2,000 characters.
MAX_STAMP_CHARS = 8192
_SHOWN_CHARS = 300
# The authserv-id: the first token or quoted string, after any (unnested) comments ("^": used
# with match).
_AUTHSERV = re.compile(r'^\s*+(?:\((?:[^()\\]|\\.)*+\)\s*+)*+("(?:[^"\\]|\\.)*+"|[^\s;()"]++)')
_PROPERTY = {"dkim": ("header", "d"), "dmarc": ("header", "from")}


@dataclass(frozen=True, slots=True)
class Finding:
    """One dkim or dmarc result; ``domain`` is its ``header.d`` / ``header.from`` (``""`` when
    absent or given twice)."""

    method: str
    result: str
    domain: str

    def __str__(self) -> str:
        name = ".".join(_PROPERTY[self.method])
        return f"{self.method}={self.result} {name}={self.domain or '(none)'}"


@dataclass(frozen=True, slots=True)
class StampNote:
    """One ``Authentication-Results`` field as ``explain`` shows it."""

    position: int  # 1 is the topmost
    authserv_id: str
    counted: bool
    why: str
    value: str

    def as_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "authserv_id": self.authserv_id,
            "counted": self.counted,
            "why": self.why,
            "value": self.value,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the counted stamp says about the From domain.

    ``proof`` / ``failure``: the finding that vouches for it or shows it failed (``""`` when
    none); ``summary``: the counted stamp's dkim/dmarc results, or why no stamp counted.
    """

    proof: str
    failure: str
    summary: str
    notes: tuple[StampNote, ...]


def aligned(signer: str, domain: str) -> bool:
    """Relaxed alignment (RFC 7489 section 3.1.1) without a public-suffix list: the signing
    domain is the From domain, a parent of it or a subdomain of it.

    Sibling subdomains (``eu.acme.example`` signing for ``us.acme.example``) are refused,
    which is stricter than DMARC; a parent zone, even a public suffix, controls the From
    domain's DNS anyway, so accepting it grants nothing new.
    """
    signer, domain = signer.lower().rstrip("."), domain.lower().rstrip(".")
    if not signer or not domain:
        return False
    return signer == domain or domain.endswith("." + signer) or signer.endswith("." + domain)


def authserv_id(value: str) -> str:
    """The authserv-id a raw stamp value starts with, lower-cased (``""`` when none); the
    listener removes incoming stamps by the same reading (``mail.authentication``)."""
    match = _AUTHSERV.match(value)
    return match[1].strip('"').lower() if match else ""


def _findings(value: str, authserv: str) -> tuple[tuple[Finding, ...], str]:
    """The dkim/dmarc results of one stamp, or ``()`` and why it cannot be read."""
    if len(value) > MAX_STAMP_CHARS:
        return (), f"longer than {MAX_STAMP_CHARS} characters: not read"
    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
    except Exception as exc:  # authres raises its own errors, and RecursionError on nesting
        return (), f"not RFC 8601 ({type(exc).__name__}): not read"
    if str(header.authserv_id).lower() != authserv:
        return (), "authserv-id unclear: not read"
    found = []
    for result in header.results:
        method = str(result.method).lower()
        if method not in _PROPERTY:
            continue
        ptype, name = _PROPERTY[method]
        values = [
            str(p.value).lower()
            for p in result.properties
            if str(p.type).lower() == ptype and str(p.name).lower() == name
        ]
        found.append(
            Finding(method, str(result.result).lower(), values[0] if len(values) == 1 else "")
        )
    return tuple(found), ""


def _vouches(finding: Finding, domain: str) -> bool:
    if finding.method == "dmarc":
        return bool(domain) and finding.domain == domain
    return aligned(finding.domain, domain)


def _fails(finding: Finding, domain: str) -> bool:
    if finding.result != "fail":
        return False
    if finding.method == "dmarc":
        return finding.domain in ("", domain)
    return aligned(finding.domain, domain)


def read(values: Sequence[str], trusted: frozenset[str], domain: str) -> Evidence:
    """The evidence of the raw ``Authentication-Results`` ``values`` (top first) about the
    From ``domain``, with ``trusted`` authserv-ids lower-cased."""
    notes: list[StampNote] = []
    counted: tuple[str, tuple[Finding, ...], str] | None = None
    for position, value in enumerate(values[:MAX_STAMPS], 1):
        authserv = authserv_id(value[:MAX_STAMP_CHARS])
        shown = " ".join(value[: _SHOWN_CHARS * 2].split())[:_SHOWN_CHARS]
        if authserv not in trusted:
            why = "authserv-id not in [helpdesk].trusted_authserv_ids"
        elif counted is not None:
            why = "below the topmost trusted stamp: written before it arrived, ignored"
        else:
            findings, unreadable = _findings(value, authserv)
            counted = (authserv, findings, unreadable)
            why = unreadable or "the topmost stamp of a trusted authserv-id"
            notes.append(StampNote(position, authserv, True, why, shown))
            continue
        notes.append(StampNote(position, authserv, False, why, shown))
    if len(values) > MAX_STAMPS:
        why = f"only the first {MAX_STAMPS} stamps are looked at"
        notes.append(StampNote(MAX_STAMPS + 1, "", False, why, ""))
    if counted is None:
        return Evidence("", "", "no trusted Authentication-Results stamp", tuple(notes))
    authserv, findings, unreadable = counted
    shown = ", ".join(map(str, findings)) or unreadable or "no dkim or dmarc result"
    proof = next((f for f in findings if f.result == "pass" and _vouches(f, domain)), None)
    failure = next((f for f in findings if _fails(f, domain)), None)
    return Evidence(
        str(proof or ""),
        "" if proof is not None or failure is None else str(failure),
        f"authentication-results from {authserv}: {shown}",
        tuple(notes),
    )
