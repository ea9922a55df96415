"""Find and normalise HS codes written in the notations people use.

Recognised: 8517.13, 8517.13.00, 8517.13-0000, 8517.13.0000, 851713,
85171300, 8517130000 (Korean HSK, 10 digits), "HS 8517", "HS코드 8517",
"제8517호", "8517호", "제85류", "85류", "chapter 85", "heading 8517".
The first six digits are the international code; further digits are the
national (HSK, HTS) extension and are kept as typed.

A digit run is a typed code only when the text marks it as one: a notation
that only codes use (dotted, dashed, 제…호, …류, HS/HSK prefix), a cue word
next to it (HS, HSK, 세번, 품목번호, code, 코드, …) or a message that is only the
code (with at most a question around it: "8517130000 수입 요건"). A bare 6, 8
or 10 digit run inside a product description ("Galaxy 851713 case",
"FROZEN VEAL RIB ; 020220") is a model, part or lot number as often as a code:
it is kept with `cued=False`, is never `explicit`, and the classifier uses it
only as a weak hint weighed against the text.
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
    cued: bool = True  # False: a bare digit run inside a description (a hint, never a typed code)

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
            cued = notation != "bare" or _bare_is_cued(text, start, end)
            if not cued and not valid:
                continue  # an invalid number in a description is no code the person typed
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
                    cued=cued,
                )
            )
    mentions.sort(key=lambda m: m.span[0])
    return mentions


def _plausible_bare(digits: str, nomenclature: Nomenclature) -> bool:
    """A bare digit run is taken for a code only when its chapter exists (not a price or a date)."""
    return digits[:2] in nomenclature and not digits.startswith("0000")


# A word next to a bare digit run that marks it as a code ("세번 8517130000", "품목번호: 851713").
_CUE_BEFORE = re.compile(
    r"(?:\bhsk?|\bhts|세번|세\s번|품목\s*번호|품목분류(?:번호)?|관세\s*번호|\bcode|코드|\btariff|\bsubheading|\bheading)"
    r"\s*(?:code|코드|번호|no\.?|number)?\s*(?:은|는|이|가|:|：|=|#|-)?\s*$",
    re.IGNORECASE,
)
_REFERENCE_BEFORE = re.compile(r"\b(?:of|than|under|in|to|from)\s+(?:the\s+)?(?:sub)?headings?\s*(?:no\.?)?\s*$",
                               re.IGNORECASE)
_CUE_AFTER = re.compile(r"^\s*(?:번|호|\(?hsk?\)?|hs\s*code|hs코드|코드|세번)(?![가-힣a-z])", re.IGNORECASE)
# Words that may surround a code in a message that is only the code ("851713 관세율 알려줘").
_QUESTION_WORDS_EN = frozenset(
    """
    what whats what's which is are the hs hsk hts code codes for of tariff tariffs duty duties rate rates import
    importing imports export exporting exports to from into korea korean please tell me my i we want need
    classify classification how much does do can could would show find give get info information about on in a an
    and or customs tax taxes vat fta regulation regulations requirement requirements statistics stats check this it
    number lookup look up search
    """.split()
)
_QUESTION_STEMS_KO = (
    "알려", "알고", "뭐", "무엇", "무슨", "관세", "세율", "수입", "수출", "요건", "규제",
    "규정", "통계", "정보", "조회", "검색", "확인", "코드", "품목", "해당", "부탁",
    "어떻게", "어떤", "어디", "인가", "인지", "입니", "맞나", "맞아", "맞는", "궁금",
    "얼마", "찾아", "보여", "설명", "세관", "원산지", "무역", "번호", "분류", "세번",
    "이야", "인데", "이에요", "예요", "인가요", "주세요", "하려", "나요", "까요", "에요",
    "어요", "내용",
)
_WORDS = re.compile(r"[A-Za-z]+|[가-힣]+")


def _bare_is_cued(text: str, start: int, end: int) -> bool:
    """True when a bare digit run is marked as a code by a cue word next to it or by being the whole message."""
    before = text[max(0, start - 24) : start]
    if _REFERENCE_BEFORE.search(before):
        return False  # "parts of subheading 84433110": a cross-reference in a description, not the goods' code
    if _CUE_BEFORE.search(before) or _CUE_AFTER.match(text[end : end + 12]):
        return True
    rest = text[:start] + " " + text[end:]
    for word in _WORDS.findall(rest):
        low = word.lower()
        if low.isascii():
            if low not in _QUESTION_WORDS_EN:
                return False
        elif len(word) > 1 and not word.startswith(_QUESTION_STEMS_KO):
            return False
    return True
