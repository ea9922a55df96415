"""Find and normalise HS codes written in the notations people use.

Recognised: 8517.13, 8517.13.00, 8517.13-0000, 8517.13.0000, 851713,
85171300, 8517130000 (Korean HSK, 10 digits), "HS 8517", "HS코드 8517",
"제8517호", "8517호", "제85류", "85류", "chapter 85", "heading 8517".
The first six digits are the international code; further digits are the
national (HSK, HTS) extension and are kept as typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .nomenclature import Nomenclature, get_nomenclature

_DIGIT_TRANSLATION = str.maketrans("０１２３４５６７８９．－", "0123456789.-")

# Order matters: the more specific notations are tried first and their spans
# are claimed so that a looser pattern cannot re-match the same digits.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # 8517.13, 8517.13.00, 8517.13-0000, 8517.13.0000, 8517.13.00.00
    ("dotted", re.compile(r"(?<![\d.])(\d{4})\.(\d{2})(?:[.\-](\d{2})(?:[.\-]?(\d{2}))?)?(?![\d])")),
    # 8517-13-0000 / 8517-130000 (hyphenated customs form)
    ("hyphenated", re.compile(r"(?<![\d\-])(\d{4})-(\d{2})-?(\d{2,4})?(?![\d\-])")),
    # 제8517호, 8517호, 제85류, 85류, 제8517.13호
    ("korean_heading", re.compile(r"(?:제\s*)?(?<!\d)(\d{4})\s*호(?!\w*[가-힣]*\d)")),
    ("korean_chapter", re.compile(r"(?:제\s*)?(?<!\d)(\d{1,2})\s*류")),
    # chapter 85 / heading 8517 / subheading 851713
    ("english_chapter", re.compile(r"\bchapter\s+(\d{1,2})\b", re.IGNORECASE)),
    ("english_heading", re.compile(r"\b(?:heading|hs\s*heading)\s+(\d{4})\b", re.IGNORECASE)),
    # HS 8517, HS code 851713, HS코드 8517130000, HSK 8517130000
    ("prefixed", re.compile(r"\bHSK?\s*(?:code|코드|번호)?\s*[:：]?\s*(\d{2}(?:\d{2}){0,4})(?!\d)", re.IGNORECASE)),
    # bare 6, 8 or 10 digits: 851713, 85171300, 8517130000
    (
        "bare",
        re.compile(r"(?<![\d.\-])(\d{6}|\d{8}|\d{10})(?![\d.\-]|\s*(?:원|won|달러|usd|개|kg|톤|%))", re.IGNORECASE),
    ),
]


@dataclass(frozen=True, slots=True)
class CodeMention:
    """One code found in text. `code` is the international part (2, 4 or 6 digits)."""

    raw: str
    code: str
    national: str  # digits after the first six, as typed ("" when none)
    notation: str
    span: tuple[int, int]
    valid: bool
    reason: str = ""
    suggestions: tuple[str, ...] = field(default=())

    @property
    def level(self) -> int:
        return len(self.code)

    @property
    def dotted(self) -> str:
        """8517.13, with the national digits kept: 8517.13.00 or 8517.13-0000 (HSK)."""
        if self.level < 6:
            return self.code
        base = f"{self.code[:4]}.{self.code[4:]}"
        if not self.national:
            return base
        if len(self.national) == 4:
            return f"{base}-{self.national}"
        return f"{base}.{self.national}"

    @property
    def full_digits(self) -> str:
        return self.code + self.national


def _validate(code: str, nomenclature: Nomenclature) -> tuple[bool, str, tuple[str, ...]]:
    """Check each level from the chapter down; say which level is missing and why."""
    if len(code) not in (2, 4, 6):
        return False, f"{code}: an HS code has 2, 4 or 6 international digits", ()
    names = {2: "chapter", 4: "heading", 6: "subheading"}
    for length in (2, 4, 6):
        if length > len(code):
            break
        part = code[:length]
        if part not in nomenclature:
            if length == 2 and part in ("77", "98", "99"):
                why = f"chapter {part} is reserved for future or national use and is not part of HS 2022"
            else:
                why = f"{names[length]} {_dotted(part)} does not exist in HS 2022"
            suggestions = tuple(e.dotted for e in nomenclature.nearest(code))
            return False, why, suggestions
    return True, "", ()


def _dotted(code: str) -> str:
    return code if len(code) < 6 else f"{code[:4]}.{code[4:]}"


def normalize_code(text: str, nomenclature: Nomenclature | None = None) -> CodeMention | None:
    """Normalise a single code such as '8517.13.00' or '제85류'; None when it is no code at all."""
    mentions = extract_codes(text, nomenclature)
    return mentions[0] if mentions else None


def extract_codes(text: str, nomenclature: Nomenclature | None = None) -> list[CodeMention]:
    """All HS code mentions in `text`, in order of appearance, validated against HS 2022."""
    nomenclature = nomenclature or get_nomenclature()
    text = text.translate(_DIGIT_TRANSLATION)
    claimed: list[tuple[int, int]] = []
    mentions: list[CodeMention] = []

    for notation, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < c_end and c_start < end for c_start, c_end in claimed):
                continue
            digits = "".join(g for g in match.groups() if g)
            if notation == "korean_chapter" or notation == "english_chapter":
                digits = digits.zfill(2)
            if notation == "bare" and not _plausible_bare(digits, nomenclature):
                continue
            code, national = digits[:6], digits[6:]
            if len(code) in (3, 5):  # e.g. "HS 851" is no code
                continue
            valid, reason, suggestions = _validate(code, nomenclature)
            claimed.append((start, end))
            mentions.append(
                CodeMention(
                    raw=match.group(0).strip(),
                    code=code,
                    national=national,
                    notation=notation,
                    span=(start, end),
                    valid=valid,
                    reason=reason,
                    suggestions=suggestions,
                )
            )
    mentions.sort(key=lambda m: m.span[0])
    return mentions


def _plausible_bare(digits: str, nomenclature: Nomenclature) -> bool:
    """A bare digit run is taken for a code only when its chapter exists (not a price or a date)."""
    return digits[:2] in nomenclature and not digits.startswith("0000")
