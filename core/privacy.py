"""Personal data is masked before anything a user typed is stored."""

from __future__ import annotations

import re

_NUMBER_RUN = re.compile(r"(?<![0-9A-Za-z])\d(?:[ -]?\d){10,18}(?:[ -]?[Xx])?(?![0-9A-Za-z])")


def _mask_number(m: re.Match) -> str:
    raw = m.group(0)
    digits = re.sub(r"[ -]", "", raw)
    if len(digits) == 11 and re.match(r"1[3-9]", digits):
        return digits[:3] + "****" + digits[-4:]
    if len(digits) == 18 and re.match(r"\d{17}[\dXx]$", digits) or len(digits) == 15:
        return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]
    if 12 <= len(digits) <= 19 and digits.isdigit():
        return digits[:4] + " **** **** " + digits[-4:]
    return raw


def mask_personal_data(text: str) -> str:
    """Mask mainland phone, ID-card and bank-card numbers (spaces or dashes inside allowed)."""
    return _NUMBER_RUN.sub(_mask_number, text)
