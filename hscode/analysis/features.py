"""Query features shared by the retrieval and the case index. Plain Python."""

from __future__ import annotations

from .classifier import KoreanAnalyzer, Query, english_query, get_korean
from .lexicon import load_lexicon
from .text import detect_language, en_tokens, for_analysis


def build_query(text: str, language: str) -> tuple[Query, list[tuple[str, str, int, int]]]:
    """The retrieval query for `text` and, for Korean, its morphemes."""
    if language == "ko":
        korean = get_korean()
        morphs = korean.morphemes(text)
        return korean.query(text, morphs), morphs
    return english_query(text, load_lexicon("en")), []


def features(text: str) -> frozenset[str]:
    """Token set used by CaseIndex: query tokens plus raw Korean content morphemes.

    A Korean text's query tokens are the English HS vocabulary its lexicon terms
    expand to, so a Korean query also meets English cases through the lexicon.
    """
    text = for_analysis(text)
    language = detect_language(text)
    query, morphs = build_query(text, language)
    return features_of(text, language, query, morphs)


def features_of(text: str, language: str, query: Query, morphs: list[tuple[str, str, int, int]]) -> frozenset[str]:
    """features() from a query already built for `text` (the analysis builds it once for both stages)."""
    tokens = set(query.weights)
    for form, tag, _start, _len in morphs:
        if tag in KoreanAnalyzer.NOUN_TAGS or tag in ("VV", "VA"):
            tokens.add("ko:" + form.lower())
    if language == "en":
        tokens.update(en_tokens(text))
    return frozenset(t for t in tokens if t)
