"""Versioned term lexicons (hscode/data/*.tsv) that map everyday words to HS vocabulary.

File format (UTF-8, tab-separated, '#' starts a comment line):

    # lexicon: ko
    # version: 2026.11.21-1
    # columns: term  kind  english  hint
    아이폰	brand	smartphones telephone sets cellular wireless networks	851713
    삼겹살	product	meat of swine pork bellies streaky	0203

- term: the word as people write it (Korean lexicon) or a lower-case English
  word or phrase (English lexicon). Spaces inside a term are ignored when
  matching Korean.
- kind: product | brand | material | process | use | form | stop | spelling.
  `stop` marks words that carry no product meaning (수입, 관세, 알려줘);
  `spelling` (English only) rewrites a variant spelling (fiber -> fibre).
- english: HS vocabulary that the term stands for (free text, tokenised like
  the nomenclature). Empty for stop words.
- hint: optional HS prefixes (2, 4 or 6 digits, several separated by '|') that
  the term points at; they add a bounded prior to candidates under them.

A term listed twice keeps its last row, so an override can be appended.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
KINDS = frozenset({"product", "brand", "material", "process", "use", "form", "stop", "spelling"})


@dataclass(frozen=True, slots=True)
class LexEntry:
    term: str
    kind: str
    english: str
    hints: tuple[str, ...]


@dataclass(frozen=True)
class Lexicon:
    name: str
    version: str
    entries: dict[str, LexEntry]
    max_words: int  # longest term, in words (English) or characters (Korean)

    def get(self, term: str) -> LexEntry | None:
        return self.entries.get(term)

    def __len__(self) -> int:
        return len(self.entries)

    def spelling(self) -> dict[str, str]:
        return {e.term: e.english for e in self.entries.values() if e.kind == "spelling"}


class LexiconError(ValueError):
    pass


def parse_lexicon(lines: list[str], name: str, *, korean: bool) -> Lexicon:
    version = ""
    entries: dict[str, LexEntry] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if key.strip() == "version":
                version = value.strip()
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise LexiconError(f"{name}:{number}: expected term<TAB>kind<TAB>english<TAB>hint")
        term = parts[0].strip()
        kind = parts[1].strip()
        english = parts[2].strip() if len(parts) > 2 else ""
        hint_field = parts[3].strip() if len(parts) > 3 else ""
        if kind not in KINDS:
            raise LexiconError(f"{name}:{number}: unknown kind {kind!r}")
        hints = tuple(h for h in (x.strip() for x in hint_field.split("|")) if h)
        for hint in hints:
            if not (hint.isdigit() and len(hint) in (2, 4, 6)):
                raise LexiconError(f"{name}:{number}: hint {hint!r} is not a 2, 4 or 6 digit prefix")
        key = term.replace(" ", "") if korean else term.lower()
        if not key:
            continue
        entries[key] = LexEntry(term=key, kind=kind, english=english, hints=hints)
    if not version:
        raise LexiconError(f"{name}: missing '# version:' header")
    if korean:
        max_len = max((len(k) for k in entries), default=1)
    else:
        max_len = max((len(k.split()) for k in entries), default=1)
    return Lexicon(name=name, version=version, entries=entries, max_words=max_len)


_lock = threading.Lock()
_cache: dict[str, Lexicon] = {}


def load_lexicon(name: str) -> Lexicon:
    """Load hscode/data/{name}_lexicon.tsv once per process ('ko' or 'en')."""
    lexicon = _cache.get(name)
    if lexicon is not None:
        return lexicon
    with _lock:
        lexicon = _cache.get(name)
        if lexicon is None:
            path = os.path.join(DATA_DIR, f"{name}_lexicon.tsv")
            with open(path, encoding="utf-8") as fh:
                lexicon = parse_lexicon(fh.readlines(), name, korean=(name == "ko"))
            _cache[name] = lexicon
    return lexicon
