"""Text helpers shared by the classifier stages: language guess, English tokens.

Plain Python, no Django. English tokens are lower-cased, spelling-normalised
(fiber -> fibre, aluminum -> aluminium), stemmed with PyStemmer and stripped of
stop words and the HS boilerplate ("other", "n.e.c.", "excluding ...",
"of heading 8517") that would otherwise match every subheading.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import Stemmer

MAX_CHARS = 2000

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_LATIN = re.compile(r"[A-Za-z]")
_WORD = re.compile(r"[a-z][a-z0-9]*(?:'[a-z]+)?")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Clauses that exclude goods: their words must not count as a match.
_EXCLUSION = re.compile(
    r"\b(?:excluding|excl\.|other than|except|but not|not including|not of|not being|neither|nor)\b[^;:()\[\]]*?"
    r"(?=[;:()\[\]]|,\s*(?:of|for|with|in|whether|including|used|containing|put up|n\.e\.c)\b|$)",
    re.IGNORECASE,
)
_NOT_WORD = re.compile(r"\b(?:whether or not|not)\s+[\w-]+", re.IGNORECASE)
_REFERENCE = re.compile(
    r"\b(?:of|in|to|from|under)?\s*(?:the\s+)?(?:sub)?(?:heading|item|chapter|section|note|subheadings|headings)s?"
    r"\s*(?:no\.?|nos\.?|number)?\s*[\d.,\s]*(?:and|or|to)?\s*[\d.]*",
    re.IGNORECASE,
)
_NEC = re.compile(r"\bn\.?e\.?c\.?|\bn\.?e\.?s\.?|\bnot elsewhere (?:specified|included)|\bnesoi\b", re.IGNORECASE)

STOPWORDS = frozenset(
    """
    a an and are as at be been being but by can could did do does for from had has have having he her his i if in
    into is it its itself me my no nor not of off on once only or our out over own same she should so some such than
    that the their them then there these they this those through to too under until up very was we were what when
    where which while who whom why will with would you your yours also per via etc eg ie within without whether
    other others otherwise thereof therefor therewith thereto herein whereof such similar like kind kinds type types
    used use uses using made make making consisting consist consists comprising comprised contain containing
    including include includes included n e c nec nes specified elsewhere heading headings subheading subheadings
    item items chapter chapters section sections note notes no nos number hs code hts cas imported importer import
    export exporter product products goods good article articles new designed intended suitable various approximately
    approx about each one two three four five six seven eight nine ten shown sample samples model models
    """.split()
)

_stemmer_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    # PyStemmer objects are not thread-safe: one per thread.
    stemmer = getattr(_stemmer_local, "stemmer", None)
    if stemmer is None:
        stemmer = Stemmer.Stemmer("english")
        _stemmer_local.stemmer = stemmer
    return stemmer


def clean(text: str) -> str:
    """Make any str safe to analyse: lone surrogates and control characters out, NFKC, length capped."""
    if not isinstance(text, str):
        text = str(text)
    text = _SURROGATES.sub(" ", text[: MAX_CHARS * 2])
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub(" ", text)
    return text[:MAX_CHARS]


ANALYSIS_CHARS = 800  # a product description longer than this adds noise, not meaning
_LONG_RUN = re.compile(r"\S{41,}")
_REPEATS = re.compile(r"(\S+)(?:\s+\1\b){2,}")


def for_analysis(text: str) -> str:
    """Bound the work per message: no 'word' over 40 characters, no word repeated 3+ times, 800 characters."""
    text = _LONG_RUN.sub(lambda m: m.group(0)[:40], text[: ANALYSIS_CHARS * 3])
    text = _REPEATS.sub(r"\1", text)
    return text[:ANALYSIS_CHARS]


def detect_language(text: str) -> str:
    """'ko' when Hangul makes up a fair share of the letters, else 'en'."""
    hangul = len(_HANGUL.findall(text))
    latin = len(_LATIN.findall(text))
    if hangul and hangul * 3 >= latin:
        return "ko"
    return "en"


def strip_boilerplate(description: str) -> str:
    """Remove exclusion clauses, negations and cross-references from an HS description."""
    text = _NEC.sub(" ", description)
    text = _EXCLUSION.sub(" ", text)
    text = _NOT_WORD.sub(" ", text)
    text = _REFERENCE.sub(" ", text)
    return text


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def words(text: str) -> list[str]:
    """Lower-cased word forms (letters first, digits allowed after), possessives dropped."""
    out = []
    for match in _WORD.finditer(text.lower()):
        word = match.group(0)
        if word.endswith("'s"):
            word = word[:-2]
        word = word.replace("'", "")
        if len(word) < 2:
            continue
        out.append(word)
    return out


def en_tokens(text: str, spelling: dict[str, str] | None = None, *, boilerplate: bool = False) -> list[str]:
    """Stemmed content tokens of English text; `boilerplate=True` strips HS boilerplate first."""
    if boilerplate:
        text = strip_boilerplate(text)
    tokens: list[str] = []
    for word in words(text):
        if spelling:
            word = spelling.get(word, word)
        if word in STOPWORDS:
            continue
        token = stem(word)
        if token in STOPWORDS or len(token) < 2:
            continue
        tokens.append(token)
    return tokens
