"""SMS text: GSM-7 or UCS-2, segment counting, and fitting an alert into few segments.

A single non-GSM character (a smart quote pasted from a word processor) turns
the whole message into UCS-2, where a segment holds 70 characters instead of
160: a three-segment alert becomes a seven-segment one, slower to send at
1 segment/s and more likely to arrive out of order. So text is normalised to
GSM-7 wherever that keeps its meaning, and counted the way carriers count it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# GSM 03.38 default alphabet (0x1B, the escape to the extension table, left out).
_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each costs an escape septet plus its own.
_EXTENSION = frozenset("\f^{}\\[~]|€")

# (single-segment capacity, per-part capacity of a concatenated message): the
# user data header of a multipart message takes 7 septets / 3 UCS-2 units.
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}

# Characters with a GSM-7 equivalent that keeps the meaning of the text.
_REPLACEMENTS = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u2039\u203a`\u00b4", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043", "-"),
    **dict.fromkeys("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007", " "),
    **dict.fromkeys("\u2008\u2009\u200a\u202f\u205f\u3000\t\v", " "),
    **dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", ""),
    **dict.fromkeys("\u2028\u2029", "\n"),
    "\u2026": "...",
    "\u2022": "*",
    "\u00b7": "*",
    "\u2044": "/",
    "\u2215": "/",
    "\u00d7": "x",
    "\u2192": "->",
    "\u2190": "<-",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u00bd": "1/2",
    "\u00bc": "1/4",
    "\u00be": "3/4",
    "\u2116": "No.",
    "\ufe63": "-",
    "\uff0d": "-",
}
_TABLE = str.maketrans(_REPLACEMENTS)
_SPACES = re.compile(r"\s+")

REPLY_CODES = "Reply 1 ACK, 2 EN ROUTE, 3 UNAVAILABLE."
ELLIPSIS = "..."
# Cutting at a word boundary reads better, but not at any price: give up at
# most this many characters of the body to avoid cutting a word in two.
_WORD_BACKOFF = 20


def normalise(text: str) -> str:
    """Replace common non-GSM characters by GSM-7 ones with the same meaning.

    Characters without such an equivalent (other scripts, emoji) are kept: the
    message then goes out as UCS-2, which is right for them.
    """
    return text.translate(_TABLE)


def encoding(text: str) -> str:
    """ "GSM-7" when every character is in the GSM 03.38 alphabet, else "UCS-2"."""
    return GSM7 if all(c in _BASIC or c in _EXTENSION for c in text) else UCS2


def _units(text: str, enc: str) -> list[int]:
    """The cost of each character: septets in GSM-7, UTF-16 code units in UCS-2."""
    if enc == GSM7:
        return [2 if c in _EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def length(text: str) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) that the text takes."""
    return sum(_units(text, encoding(text)))


def segments(text: str) -> int:
    """How many SMS segments (billed parts) the text is sent as; 1 for empty text."""
    enc = encoding(text)
    units = _units(text, enc)
    single, part = _LIMITS[enc]
    if sum(units) <= single:
        return 1
    # An escape pair or a surrogate pair is never split across two parts, so
    # a part may end a unit short: pack greedily as phones and carriers do.
    count, used = 1, 0
    for unit in units:
        if used + unit > part:
            count, used = count + 1, 0
        used += unit
    return count


def compose(headline: str, body: str, link: str, marker: str = "") -> str:
    """The alert SMS without any trimming; `marker` (a drill's EXERCISE words) first."""
    head = f"Tocsin {headline}".rstrip()
    if head[-1] not in ".!?":
        head += "."
    return " ".join(part for part in (marker, head, body, REPLY_CODES, link) if part)


def fit(headline: str, body: str, link: str, *, max_segments: int = 3, marker: str = "") -> str:
    """The alert SMS in as few segments as its content allows, at most max_segments.

    Text is normalised to GSM-7 where meaning allows and whitespace collapsed.
    The marker, the reply codes and the link are never dropped or cut; when the
    whole does not fit, the body is cut (at a word when close by) and ends with
    "..."; if even the headline alone does not fit, it is cut the same way. A
    link longer than max_segments on its own still goes out whole.
    """
    headline, body, marker = _clean(headline), _clean(body), _clean(marker)
    link = link.strip()
    text = compose(headline, body, link, marker)
    if segments(text) <= max_segments:
        return text
    if segments(compose(headline, "", link, marker)) <= max_segments:
        body = _trim(body, lambda b: compose(headline, b, link, marker), max_segments)
        return compose(headline, body, link, marker)
    head = _trim(headline, lambda h: compose(h, "", link, marker), max_segments)
    return compose(head, "", link, marker)


def _clean(text: str) -> str:
    return _SPACES.sub(" ", normalise(text)).strip()


def _trim(text: str, render: Callable[[str], str], max_segments: int) -> str:
    """The longest prefix of text plus "..." whose rendering fits; "" when none does."""

    def fits(n: int) -> bool:
        return segments(render(_cut(text, n))) <= max_segments

    # segments() never decreases as the prefix grows, so the longest fitting
    # prefix can be found by bisection.
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    space = text.rfind(" ", 0, low)
    if low < len(text) and text[low] != " " and space > 0 and low - space <= _WORD_BACKOFF:
        low = space
    # Even "..." alone may not fit; the text then goes entirely.
    return _cut(text, low) if fits(low) else ""


def _cut(text: str, n: int) -> str:
    return f"{text[:n].rstrip()}{ELLIPSIS}"
