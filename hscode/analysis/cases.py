"""Labelled cases (text, hs6): a nearest-neighbour vote merged with retrieval.

A CaseIndex holds operator-loaded cases (imports, staff reviews). Each case is
turned into the same features as a query (stemmed English tokens, the Korean
lexicon's HS vocabulary, and the raw Korean content morphemes, so that words
the lexicon lacks still match between two Korean texts). BM25 (bm25s) finds the
nearest cases; their similarity to the query is the idf-weighted cosine of the
feature sets, and each neighbour votes for its code with similarity squared.
Plain Python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import bm25s

from .text import clean

_HS6 = re.compile(r"^\d{6}$")
NEIGHBOURS = 10


@dataclass(frozen=True)
class CaseVote:
    code: str
    score: float  # share of the neighbours' vote, 0..1
    similarity: float  # best similarity of a neighbour with this code, 0..1
    evidence: tuple[str, ...]  # texts of the matching cases (shortened)


class CaseIndex:
    """Nearest-neighbour index over (text, hs6) pairs. Build once; query many times."""

    def __init__(self, pairs: Iterable[tuple[str, str]]):
        from .analyse import features  # local import: analyse imports this module

        self.texts: list[str] = []
        self.codes: list[str] = []
        docs: list[list[str]] = []
        seen: set[tuple[str, str]] = set()
        for text, hs6 in pairs:
            code = "".join(ch for ch in str(hs6) if ch.isdigit())[:6]
            text = clean(str(text)).strip()
            if not text or not _HS6.match(code) or (text, code) in seen:
                continue
            seen.add((text, code))
            tokens = sorted(features(text))
            if not tokens:
                continue
            self.texts.append(text)
            self.codes.append(code)
            docs.append(tokens)
        self._docs = [frozenset(d) for d in docs]
        df: dict[str, int] = {}
        for doc in self._docs:
            for token in doc:
                df[token] = df.get(token, 0) + 1
        n = max(1, len(docs))
        self._idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self._default_idf = math.log(1 + n)
        self._bm25: bm25s.BM25 | None = None
        if docs:
            self._bm25 = bm25s.BM25()
            self._bm25.index(docs, show_progress=False)

    def __len__(self) -> int:
        return len(self.codes)

    def vote(self, text: str, k: int = NEIGHBOURS) -> list[CaseVote]:
        """Codes voted for by the nearest cases, best first."""
        if self._bm25 is None:
            return []
        from .analyse import features

        query = features(clean(text))
        if not query:
            return []
        ids = [self._bm25.vocab_dict[t] for t in query if t in self._bm25.vocab_dict]
        if not ids:
            return []
        scores = self._bm25.get_scores_from_ids(ids)
        k = min(k, len(self.codes))
        order = scores.argsort()[::-1][:k]
        qnorm = math.sqrt(sum(self._weight(t) ** 2 for t in query))
        votes: dict[str, list[float]] = {}
        evidence: dict[str, list[str]] = {}
        for i in order:
            if scores[i] <= 0:
                break
            doc = self._docs[i]
            shared = sum(self._weight(t) ** 2 for t in query & doc)
            dnorm = math.sqrt(sum(self._weight(t) ** 2 for t in doc))
            sim = shared / (qnorm * dnorm) if qnorm and dnorm else 0.0
            code = self.codes[i]
            votes.setdefault(code, []).append(sim)
            evidence.setdefault(code, []).append(self.texts[i][:80])
        total = sum(s * s for sims in votes.values() for s in sims) or 1.0
        out = [
            CaseVote(
                code=code,
                score=sum(s * s for s in sims) / total,
                similarity=max(sims),
                evidence=tuple(evidence[code][:3]),
            )
            for code, sims in votes.items()
        ]
        out.sort(key=lambda v: (-v.score * v.similarity, v.code))
        return out

    def _weight(self, token: str) -> float:
        return self._idf.get(token, self._default_idf)
