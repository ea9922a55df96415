"""Which lexicon entries fire only on evaluation rows: the check behind the lexicon rule (docs/classifier.md).

An entry *fires* on a text when the analyser finds its term there (the Korean analyser over kiwipiepy morphemes
and compounds, the English one over words and phrases; Latin words inside Korean text go to the English
lexicon, as in the analysis). An entry that fires on evaluation rows and on none of the reference texts -- the
shipped case corpora and the names of the nomenclature (the KCS table's Korean and English names, the HS 2022
descriptions) -- is a candidate for fitting: general trade vocabulary turns up in trade names, rulings or the
nomenclature itself. Each candidate is then reviewed by hand (a rare but general word stays). Plain Python.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from kcs.hsk_file import read_hsk_table

from .classifier import english_query, get_korean
from .evaluation import read_jsonl
from .lexicon import LexEntry, Lexicon, load_lexicon
from .nomenclature import get_nomenclature
from .text import clean, detect_language, for_analysis


class _RecordingLexicon:
    """A Lexicon look-alike that remembers every entry it was asked for and had."""

    def __init__(self, lexicon: Lexicon):
        self._lexicon = lexicon
        self.name = lexicon.name
        self.version = lexicon.version
        self.entries = lexicon.entries
        self.max_words = lexicon.max_words
        self.found: set[str] = set()

    def get(self, term: str) -> LexEntry | None:
        entry = self._lexicon.get(term)
        if entry is not None:
            self.found.add(entry.term)
        return entry

    def spelling(self) -> dict[str, str]:
        return self._lexicon.spelling()

    def __len__(self) -> int:
        return len(self._lexicon)


@dataclass(frozen=True)
class LexiconHits:
    """Entries found per lexicon ('ko', 'en') in one text."""

    ko: frozenset[str]
    en: frozenset[str]


class LexiconProbe:
    def __init__(self) -> None:
        self.ko = _RecordingLexicon(load_lexicon("ko"))
        self.en = _RecordingLexicon(load_lexicon("en"))
        self._korean = copy.copy(get_korean())  # shares the Kiwi model; looks terms up in the recorders
        self._korean.lexicon = self.ko  # type: ignore[assignment]
        self._korean.en_lexicon = self.en  # type: ignore[assignment]

    def hits(self, text: str) -> LexiconHits:
        self.ko.found.clear()
        self.en.found.clear()
        text = for_analysis(clean(text))
        if detect_language(text) == "ko":
            self._korean.query(text)
        else:
            english_query(text, self.en)  # type: ignore[arg-type]
        return LexiconHits(frozenset(self.ko.found), frozenset(self.en.found))


@dataclass(frozen=True)
class EvaluationOnlyEntry:
    lexicon: str
    term: str
    kind: str
    hints: tuple[str, ...]
    rows: tuple[int, ...]  # 1-based lines of the evaluation file(s) it fires on


def evaluation_only_entries(evaluation: Iterable[str], reference: Iterable[str]) -> list[EvaluationOnlyEntry]:
    """Entries that fire on at least one evaluation text and on no reference text."""
    probe = LexiconProbe()
    seen = {"ko": set(), "en": set()}
    for text in reference:
        hits = probe.hits(text)
        seen["ko"] |= hits.ko
        seen["en"] |= hits.en
    rows: dict[tuple[str, str], list[int]] = {}
    for number, text in enumerate(evaluation, start=1):
        hits = probe.hits(text)
        for name, found in (("ko", hits.ko), ("en", hits.en)):
            for term in found - seen[name]:
                rows.setdefault((name, term), []).append(number)
    out = []
    for (name, term), lines in sorted(rows.items()):
        entry = load_lexicon(name).entries[term]
        out.append(EvaluationOnlyEntry(name, term, entry.kind, entry.hints, tuple(lines)))
    return out


def reference_texts(case_files: Iterable[str], hsk_file: str) -> list[str]:
    """The texts an entry must fire on somewhere to count as general: the shipped case corpora (texts and
    product names), the KCS table's Korean and English names and the HS 2022 descriptions."""
    texts: list[str] = []
    for path in case_files:
        for row in read_jsonl(path):
            texts.append(str(row["text"]))
            if row.get("product_name"):
                texts.append(str(row["product_name"]))
    table = read_hsk_table(hsk_file)
    for item in [*table.lines, *table.groups]:
        texts += [item.name_ko, item.name_en]
    texts += [entry.description for entry in get_nomenclature().entries()]
    return texts
