"""The new part of a reply: what a helpdesk member wrote, without the mail they answered.

Commands are read from the first lines of a reply, so everything the sender did not write
must go: attribution lines (``On ... wrote:`` in many languages, possibly wrapped), Outlook
header blocks and ``-----Original Message-----`` separators, forwarded mails, ``>`` quotes
below the new text and signatures. Pure and line based: every line gets a kind, then one
forward pass decides what stays.

* Inline answers are kept: an attribution followed by a quote and then more new text is an
  answer interleaved with the quote, so only the attribution line goes.
* A quote or forwarded mail *before* any new text (bottom-posting, a forward) is dropped
  together with its attribution or header block, and reading continues after it.
* Separators, header blocks and attributions *after* new text end it.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["new_text"]

# Line kinds.
_EMPTY: Final = 0
_QUOTE: Final = 1
_TEXT: Final = 2
_SEPARATOR: Final = 3  # "-- ", "_____", "-----Original Message-----", "Begin forwarded message:"
_SIGNATURE: Final = 4  # one-line device signature: "Sent from my iPhone"
_HEADER: Final = 5  # "From: ...", "Gesendet: ...", "*Subject:* ..."
_ATTRIBUTION: Final = 6  # first line of "On <date>, <name> wrote:" (``wraps`` maps it to its last)

_NEWLINES = re.compile(r"\r\n?")
_QUOTE_PREFIX = re.compile(r"^[ \t]*>[ \t>]*")
_FENCE = "```"
# Supercite quoting ("C> text", "Richard> text"); never read as the start of an inline answer.
_SUPERCITE = re.compile(r"[A-Za-z]{1,10}>(?:[ \t]|$)")

# "--", "-- ", "_____", "*****", "=====", "~~~", and the lone Gmail tracker mark "ᐧ".
# Runs of blanks are read once (possessive) in these line patterns: two blank runs side by side
# ("[ \t]*[*_]*[ \t]*") tried every split of a long one.
_RULE = re.compile(r"^[ \t]*+(?:(?:[-_=+~#*—–•][ \t]*+){2,}|ᐧ)[ \t]*$")
# "-----Original Message-----", "*-------- Forwarded message --------*",
# "-----Ursprüngliche Nachricht-----", "Begin forwarded message:", "Anfang der ...".
_MARKER = re.compile(
    r"^[ \t]*+[*_]*+[ \t]*+(?:-{2,}[ \t]*[^-\n]{0,30}?(?<![^\W\d_])(?:original|forward|message|"
    r"mensaje|mensagem|messaggio|nachricht|ursprüngliche|weitergeleitet|transféré|reenviado|"
    r"encaminhad|inoltrat|bericht|wiadomo|przekazan|zpráva|сообщени|пересланн|исходн|"
    r"meddelande|meddelelse|melding|viesti|邮件|郵件|转发|轉寄|メッセージ)[^-\n]{0,30}-{2,}"
    r"|(?:begin forwarded message|anfang der weitergeleiteten nachricht|début du message "
    r"(?:réexpédié|transféré)|inicio del mensaje reenviado|inizio messaggio inoltrato|"
    r"begin doorgestuurd bericht)[ \t]*+:?)[ \t]*+[*_]*+[ \t]*$",
    re.IGNORECASE,
)
_DEVICES = (
    r"iphone|ipad|ipod|android|mobile|mail|outlook|airmail|mailbox|blackberry|phone|device|"
    r"yahoo|aol|gmail|windows|tablet|samsung|galaxy|huawei|smartphone|kindle|cell|verizon|"
    r"sprint|t-mobile"
)
# Device and app signatures that stand on a line of their own, wherever they appear. "Sent
# from my" is a signature when it names a device, or is short and has no clause after a comma
# ("Sent from my desk, the VPN is down" is prose); without "my" the line must name a device or
# mail app before any comma. Outlook's mobile link ("Get Outlook for iOS<https://...>", "Outlook
# für Android herunterladen") must be the whole line. The opening blanks and brackets are read
# once (possessive); "(から送信" keeps its match through the last alternative, where ".{1,40}"
# took the bracket.
_DEVICE_SIGNATURE = re.compile(
    r"^[ \t]*+[(<\[]*+[ \t]*+(?:(?:"
    r"(?:sent|envoyé|enviado|inviato|verzonden|verstuurd|skickat|sendt|lähetetty|wysłane|"
    r"odesláno|отправлено|надіслано)[ \t]+(?:from|by|via|with|using|on|de|depuis|desde|da|met|"
    r"vanaf|van|från|fra|z|ze|с|из|з)[ \t]+(?:(?:my|mon|ma|mi|mio|il mio|mijn|min|mitt|mój|"
    rf"mého|моего|мого)\b(?:[^,;!?\n]{{0,60}}$|[^,;!?\n]{{0,40}}?(?<![^\W\d_])(?:{_DEVICES}))"
    rf"|[^,;!?\n]{{0,40}}?(?<![^\W\d_])(?:{_DEVICES})(?![^\W\d_])[^,;!\n]{{0,80}}$)"
    r"|von meine[mr]? .{1,60}gesendet"
    r"|diese nachricht wurde von .{1,80}gesendet"
    r"|from my (?:iphone|ipad|ipod|android|mobile|phone|cell|samsung|galaxy|blackberry|device)"
    r"|.{0,30}\bfrom (?:my )?mobile\b"
    r"|(?:寄自|发自|發自|来自|從|从)我的"
    r"|.{1,40}から送信"
    r"|(?<=[ \t(<\[])から送信"
    r").{0,120}"
    r"|(?:(?:get|obtenir|obtener|ottieni|scarica|download|descargar|télécharger|baixe)[ \t]+)?"
    r"\[?outlook (?:for|für|pour|para|per|voor|na|för) (?:ios|android)\]?"
    r"(?:[ \t]+(?:herunterladen|beziehen|downloaden|ophalen|scaricare))?"
    r"[ \t]*+(?:[<(]?https?://[^\s<>()]*+[>)]?)?"
    r")[ \t]*$",
    re.IGNORECASE,
)
_FROM_NAMES = (
    r"from|von|de|da|van|od|от|від|från|fra|frá|lähettäjä|feladó|kimden|από|"
    r"发件人|發件人|寄件者|差出人|보낸 사람"
)
_HEADER_START = r"^[ \t]*+\*{0,2}(?:"
_HEADER_END = r")[ \t]*+\*{0,2}[ \t]*+[:：]"
_HEADER_LINE = re.compile(
    _HEADER_START + _FROM_NAMES + "|"
    # sent / date
    r"sent|date|gesendet|datum|envoyé|enviado|enviada|inviato|data|fecha|verzonden|wysłane|"
    r"wysłano|отправлено|надіслано|дата|skickat|sendt|lähetetty|päivämäärä|elküldve|dátum|"
    r"gönderildi|tarih|odesláno|στάλθηκε|发送时间|發送時間|日期|送信日時|보낸 날짜|"
    # to / cc / reply-to
    r"to|an|à|a|para|aan|do|кому|till|til|vastaanottaja|címzett|kime|προς|komu|"
    r"收件人|宛先|받는 사람|cc|bcc|kopie|copie|copia|kopia|копия|копія|kopio|másolat|bilgi|"
    r"抄送|副本|reply-to|antwort an|répondre à|responder a|rispondi a|antwoord aan|"
    # subject
    r"subject|betreff|objet|asunto|assunto|oggetto|onderwerp|temat|тема|ämne|emne|aihe|"
    r"tárgy|konu|θέμα|předmět|主题|主旨|件名|제목" + _HEADER_END,
    re.IGNORECASE,
)
# A block of only two headers ("From: ...", "Sent: ...") counts when it starts with the sender.
_FROM_LINE = re.compile(_HEADER_START + _FROM_NAMES + _HEADER_END, re.IGNORECASE)
# Verbs of "<someone> wrote:"; Latin-script ones must stand as words.
_WORD_VERBS = (
    r"wrote|writes|schrieb|a écrit|ont écrit|escribió|escribio|ha escrito|"
    r"ha scritto|scrisse|schreef|geschreven|escreveu|skrev|skrevet|kirjoitti|"
    r"napisał\(a\)|napisała|napisał|pisze|napsal\(a\)|napsal|írta|yazdı|пишет|написал\(а\)|"
    r"написала|написал|пише|написав|έγραψε|đã viết"
)
_CJK_VERBS = "写道|寫道|書きました|작성"
_WROTE = rf"(?:(?<![^\W\d_])(?:{_WORD_VERBS})(?![^\W\d_])|{_CJK_VERBS})"
# One logical attribution line (already unwrapped) ends in a colon: the verb, then at most a
# short tail ("wrote:", "schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:", "skrev Name <a@b>:"),
# or "<address>:" and "<address> sent:" (Gmail's Russian and Japanese forms have no verb); or,
# without the colon, a closing run of dashes ("wrote ----", "wrote-----"). Searched from every
# position: a lookahead for the verbs' first letters (and "<") passes over the others at once
# instead of trying thirty alternatives at each.
_FIRST_LETTERS = "".join(sorted({verb[0] for verb in f"{_WORD_VERBS}|{_CJK_VERBS}|<".split("|")}))
_ATTRIBUTION_END = re.compile(
    rf"(?=[{_FIRST_LETTERS}])(?:{_WROTE}(?:.{{0,120}}[:：]|[ \t]*+-{{2,}})[ \t]*$"
    r"|<[^<>\s]+@[^<>\s]+>(?:[ \t]++sent)?[ \t]*+[:：][ \t]*$)",
    re.IGNORECASE,
)
# Gmail's date-first form: "2016-03-03 17:21 GMT+01:00 Name <a@b>", "2016年12月12日 ... <a@b>:".
_DATE_FIRST = re.compile(
    r"\d{4}(?:[-/.]\d{1,2}[-/.]\d{1,2}|年\d{1,2}月\d{1,2}日).{0,150}?(?:GMT[+-]\d|@)"
)
# What makes "<...> wrote:" an attribution rather than prose: an address, a time or a year, or
# a frame of dashes ("---- John Smith wrote ----").
_EVIDENCE = re.compile(r"@|(?<!\d)(?:\d{1,2}[:.h]\d{2}|(?:19|20)\d{2})(?!\d)|^-{2,}")
# Words that open an attribution, then a date within a few characters: "On Mon, Jun 3, 2024",
# "Am 03.06.24", "Le lun. 3 juin", "Vào Th 2, 3 thg 6". Case matters: prose has "on Monday".
_OPENER = r"(?:On|Am|Le|El|Il giorno|Il|Op|Em|Den|W dniu|Dne|Vào|Na)[ \t]+[^\d\n]{0,16}\d"
_STARTS_WITH_OPENER = re.compile(_OPENER)  # used with match
# Where a reply written on the attribution's own line ends ("confirm On Wed, Apr 4, 2012 ...
# wrote:"): the blanks before an opener, each run tried once from its start.
_OPENER_INSIDE = re.compile(rf"(?<![ \t])[ \t]++(?={_OPENER})")
# "name@host> wrote:", "mailto:Name <name@host>": the second line of a wrapped attribution.
_ADDRESS_TAIL = re.compile(r"^(?:mailto:|[\w.+-]+@)", re.IGNORECASE)  # "^": used with match
#: Lines an attribution may be wrapped over ("On ..., Name <\nname@host> wrote:").
_WRAP = 5
_MAX_ATTRIBUTION = 400
_MIN_HEADER_BLOCK = 3
_MIN_FROM_BLOCK = 2


def _single_kind(line: str) -> int:
    """Kind of one line on its own (attributions over several lines are found later)."""
    stripped = line.strip()
    if not stripped:
        return _EMPTY
    if stripped[0] == ">" or _SUPERCITE.match(stripped):
        return _QUOTE
    if _RULE.match(stripped) or _MARKER.match(stripped):
        return _SEPARATOR
    if _DEVICE_SIGNATURE.match(stripped):
        return _SIGNATURE
    if (":" in stripped or "：" in stripped) and _HEADER_LINE.match(stripped):
        return _HEADER
    if _is_attribution(stripped):
        return _ATTRIBUTION
    return _TEXT


def _is_attribution(text: str) -> bool:
    """Whether one (unwrapped, stripped) line is an attribution; cheap tests first."""
    if not text or len(text) > _MAX_ATTRIBUTION:
        return False
    if text[-1] in ":：-":
        found = _ATTRIBUTION_END.search(text) is not None
    else:
        found = text[0].isdigit() and _DATE_FIRST.match(text) is not None
    return found and _EVIDENCE.search(text) is not None


def _classify(lines: list[str]) -> list[int]:
    kinds: list[int] = []
    fenced = False
    for line in lines:
        if line.lstrip().startswith(_FENCE):
            fenced = not fenced
            kinds.append(_TEXT)
        elif fenced:
            kinds.append(_TEXT if line.strip() else _EMPTY)
        else:
            kinds.append(_single_kind(line))
    return kinds


def _unwrap_attributions(lines: list[str], kinds: list[int]) -> dict[int, int]:
    """Attributions, wrapped ones joined: first line → last line; ``kinds`` updated.

    A wrapped attribution is found from its end (a line ending in a colon, or an attribution
    whose first line is a continuation such as ``name@host> wrote:``) back to the nearest
    line that can start one, over blank and ``>``-prefixed pieces ("> wrote:" after a wrapped
    address). The nearest start wins, so prose before an attribution is never swallowed.
    """
    wraps: dict[int, int] = {}
    for end, kind in enumerate(kinds):
        if kind not in (_TEXT, _QUOTE, _ATTRIBUTION):
            continue
        piece = _QUOTE_PREFIX.sub("", lines[end]).strip()
        if kind == _ATTRIBUTION and _starts(piece):
            wraps[end] = end
            continue
        if not piece or piece[-1] not in ":：":
            continue
        if kind == _QUOTE and _starts(piece) and _is_attribution(piece):
            continue  # complete on its own: a quoted attribution stays part of the quote
        start = _wrapped_start(lines, kinds, end, piece)
        if start >= 0:
            wraps[start] = end
            kinds[start] = _ATTRIBUTION
            for inner in range(start + 1, end + 1):
                kinds[inner] = _EMPTY
        elif kind == _ATTRIBUTION:
            wraps[end] = end
    return wraps


def _starts(piece: str) -> bool:
    """Whether a line can begin an attribution (not the tail of a wrapped address)."""
    return bool(piece) and piece[0] not in "<>:" and _ADDRESS_TAIL.match(piece) is None


def _wrapped_start(lines: list[str], kinds: list[int], end: int, last: str) -> int:
    pieces = [last]
    for start in range(end - 1, max(-1, end - _WRAP), -1):
        kind = kinds[start]
        if kind == _EMPTY:
            continue
        piece = _QUOTE_PREFIX.sub("", lines[start]).strip()
        if kind not in (_TEXT, _QUOTE, _ATTRIBUTION) or (
            kind == _ATTRIBUTION and piece.endswith((":", "："))
        ):
            return -1
        pieces.append(piece)
        if _starts(piece) and kind != _ATTRIBUTION and _is_attribution(piece):
            return -1  # a complete attribution of its own ends the search
        if kind != _QUOTE and _starts(piece) and _is_attribution(" ".join(reversed(pieces))):
            return start
    return -1


def _header_block_end(lines: list[str], kinds: list[int], start: int) -> int:
    """Last line of a header block starting at ``start``, or -1 when it is too short.

    Three headers make a block, or two when the first names the sender (Outlook's
    ``From:``/``Sent:`` without ``To:`` and ``Subject:``). Single unknown lines between headers
    belong to the block (a wrapped ``Subject:``, an unlisted header such as ``Risposta:``).
    """
    count = len(kinds)
    headers = 0
    last = index = start
    while index < count:
        if kinds[index] == _HEADER:
            headers += 1
            last = index
        elif not (
            kinds[index] in (_TEXT, _QUOTE)
            and index + 1 < count
            and kinds[index + 1] == _HEADER
            and kinds[index - 1] == _HEADER
        ):
            break
        index += 1
    minimum = _MIN_FROM_BLOCK if _FROM_LINE.match(lines[start]) else _MIN_HEADER_BLOCK
    return last if headers >= minimum else -1


def _reply_before(line: str) -> str:
    """Text before an attribution on its own line ("confirm On Wed, ... wrote:"), else ""."""
    if _STARTS_WITH_OPENER.match(line.lstrip()):
        return ""
    found = _OPENER_INSIDE.search(line)
    reply = line[: found.start()] if found else ""
    return reply if any(char.isalnum() for char in reply) else ""


def _skip(kinds: list[int], index: int, skipped: tuple[int, ...]) -> int:
    while index < len(kinds) and kinds[index] in skipped:
        index += 1
    return index


def _kept(lines: list[str], kinds: list[int], wraps: dict[int, int]) -> tuple[list[int], bool]:
    """Indices of the lines that stay, and whether any of them is new text (not a quote).

    A reply written on its attribution's line stays, cut before the attribution (``lines`` is
    updated).
    """
    kept: list[int] = []
    seen_text = False
    count = len(kinds)
    index = 0
    while index < count:
        kind = kinds[index]
        if kind == _HEADER:
            end = _header_block_end(lines, kinds, index)
            if end < 0:
                kind = _TEXT
            elif seen_text:
                break
            else:  # a forwarded mail's headers: its body is what was sent
                index = end + 1
                continue
        if kind == _SEPARATOR:
            if seen_text:
                break
        elif kind == _ATTRIBUTION:
            reply = _reply_before(lines[index])
            if reply:
                lines[index] = reply
                kept.append(index)
                seen_text = True
            after = _skip(kinds, wraps[index] + 1, (_EMPTY,))
            if not seen_text:  # bottom-posting: the quoted mail comes first
                index = _skip(kinds, after, (_EMPTY, _QUOTE))
                continue
            if after < count and lines[after].lstrip().startswith(">"):
                resumes = _skip(kinds, after, (_EMPTY, _QUOTE, _SIGNATURE))
                if resumes < count and kinds[resumes] == _TEXT:
                    index = after  # answered inline: keep the quote and the answers
                    continue
            break
        elif kind != _SIGNATURE:
            kept.append(index)
            seen_text = seen_text or kind == _TEXT
        index += 1
    return kept, seen_text


def new_text(body: str) -> str:
    """The new part of a reply: quotes, attributions, embedded earlier mails, signatures removed.

    Takes ``Report.body`` (CRLF or LF). Indentation and inner blank lines of the new text are
    kept; only blank lines around it and trailing spaces go. A body that is only a quote stays
    as it is unless the quote starts with an attribution (then it is an earlier mail, and the
    result is empty).
    """
    if "\r" in body:
        body = _NEWLINES.sub("\n", body)
    lines = body.split("\n")
    kinds = _classify(lines)
    wraps = _unwrap_attributions(lines, kinds)
    kept, seen_text = _kept(lines, kinds, wraps)
    trailing = (_EMPTY, _QUOTE) if seen_text else (_EMPTY,)
    while kept and kinds[kept[-1]] in trailing:
        kept.pop()
    start = _skip([kinds[i] for i in kept], 0, (_EMPTY,))
    if start == len(kept) or (not seen_text and _quoted_attribution(lines[kept[start]])):
        return ""
    return "\n".join([lines[i] for i in kept[start:]]).rstrip()


def _quoted_attribution(line: str) -> bool:
    return _is_attribution(_QUOTE_PREFIX.sub("", line).strip())
