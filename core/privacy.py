"""Personal data is masked before anything a user typed is stored.

One place, one order: the text is NFKC-normalised first (full-width digits and letters,
`＠` and `．` become ASCII, so `１３８…` is a phone number like `138…`), then e-mail
addresses, mobile numbers (with or without +86, `tel:` or any letters in front), ID-card
and bank-card numbers, and landline numbers are found and masked. Only what is masked
changes: the rest of the text is stored as the user wrote it (full-width punctuation too).
"""

from __future__ import annotations

import re
import unicodedata

from core.text import clean_input

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
# Only a digit may not come before: "tel13812345678" and "TEL:" prefixes are still phone numbers.
_MOBILE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[ -]?)?(1[3-9]\d(?:[ -]?\d){8})(?![\dXx])")
_COUNTRY = re.compile(r"^(?:\+|00)?86")
# ID and bank cards: a letter before means an order or parcel number, which stays readable.
_NUMBER_RUN = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){10,18}(?:[ -]?[Xx])?(?![0-9A-Za-z])")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[ -]?(\d{3,4}[ -]?\d{4})(?!\d)")


def _mask_mobile(m: re.Match) -> str:
    digits = re.sub(r"[ -]", "", m.group(1))
    country = "+86 " if _COUNTRY.match(m.group(0)) else ""
    return f"{country}{digits[:3]}****{digits[-4:]}"


def _mask_number(m: re.Match) -> str:
    raw = m.group(0)
    digits = re.sub(r"[ -]", "", raw)
    if len(digits) == 18 and re.match(r"\d{17}[\dXx]$", digits) or len(digits) == 15:
        return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]
    if 12 <= len(digits) <= 19 and digits.isdigit():
        return digits[:4] + " **** **** " + digits[-4:]
    return raw


def _mask_landline(m: re.Match) -> str:
    number = re.sub(r"[ -]", "", m.group(2))
    if not 7 <= len(number) <= 8:
        return m.group(0)
    return f"{m.group(1)}-****{number[-4:]}"


_PATTERNS = ((_EMAIL, lambda m: f"{m.group(1)}***{m.group(2)}"), (_MOBILE, _mask_mobile),
             (_NUMBER_RUN, _mask_number), (_LANDLINE, _mask_landline))


def mask_personal_data(text: str) -> str:
    """Mask e-mail, mobile, ID-card, bank-card and landline numbers, found on the NFKC form."""
    text = clean_input(text or "")
    pieces = [unicodedata.normalize("NFKC", c) for c in text]
    owner = [i for i, p in enumerate(pieces) for _ in p]  # folded position -> original character
    work = list("".join(pieces))
    spans: list[tuple[int, int, str]] = []
    for pattern, mask in _PATTERNS:
        for m in pattern.finditer("".join(work)):
            masked = mask(m)
            if masked != m.group(0):
                spans.append((owner[m.start()], owner[m.end() - 1] + 1, masked))
                # Out of reach of the later patterns, as if it were replaced already.
                work[m.start():m.end()] = "\0" * (m.end() - m.start())
    out, pos = [], 0
    for start, end, masked in sorted(spans):
        out += [text[pos:start], masked]
        pos = end
    return "".join(out) + text[pos:]
