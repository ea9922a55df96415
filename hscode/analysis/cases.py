"""Labelled cases (text -> hs6): a nearest-neighbour vote merged with retrieval.

A CaseIndex holds the shipped KCS decisions (English trade names, Korean
rulings), operator imports and staff verdicts. Two views of each case are
indexed as L2-normalised tf-idf vectors in numpy inverted lists:

- word features: the same tokens as a retrieval query (stemmed English, the
  lexicon's HS vocabulary, raw Korean content morphemes), so a Korean query
  also meets English cases through the lexicon's English vocabulary;
- character n-grams (trigrams of Latin words, bigrams of Hangul words): trade
  names are noisy (brands, glued words, `;`-separated fields) and n-grams
  still match "VEALRIBCAGE" with "veal rib cage".

The similarity of a case to the query is WORD_SHARE x word cosine + (1 -
WORD_SHARE) x n-gram cosine (exact, over every case). The NEIGHBOURS most
similar cases vote for their code with similarity squared times the weight of
their source: a staff verdict outweighs an imported decision. The vote says
which cases it leaned on (CaseRef: text, source, reference id, decision date).
Plain Python.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .features import features
from .text import clean

_HS6 = re.compile(r"^\d{6}$")
NEIGHBOURS = 5
WORD_SHARE = 0.3
# How much one neighbour's vote counts, by where the case comes from. A staff verdict is a decision about
# this very service's traffic and outranks imported decisions; a KCS ruling is a reasoned decision on a
# described product, a trade-name declaration a terser one.
SOURCE_WEIGHTS = {"review": 4.0, "kcs_ruling": 1.5, "kcs_names": 1.0, "import": 1.0}
_WORD_RE = re.compile(r"[a-z0-9]+|[가-힣]+")


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled decision."""

    text: str
    hs6: str
    source: str = "import"
    reference_id: str = ""
    decision_date: str = ""  # ISO date, "" when unknown
    hsk10: str = ""


@dataclass(frozen=True)
class CaseRef:
    """A case the vote leaned on."""

    text: str
    hs6: str
    source: str
    reference_id: str
    decision_date: str
    similarity: float

    def to_dict(self) -> dict:
        return {
            "text": self.text[:120],
            "code": f"{self.hs6[:4]}.{self.hs6[4:]}",
            "source": self.source,
            "reference_id": self.reference_id,
            "decision_date": self.decision_date,
            "similarity": round(self.similarity, 3),
        }


@dataclass(frozen=True)
class CaseVote:
    code: str
    score: float  # share of the neighbours' weighted vote, 0..1
    similarity: float  # best similarity of a neighbour with this code, 0..1
    evidence: tuple[str, ...]  # texts of the matching cases (shortened)
    cases: tuple[CaseRef, ...] = ()  # the matching cases, most similar first


def normalised_text(text: str) -> str:
    return " ".join(text.lower().split())


def char_ngrams(text: str) -> dict[str, float]:
    """Sublinear counts of character trigrams of Latin/digit words and bigrams of Hangul words."""
    counts: dict[str, int] = {}
    for word in _WORD_RE.findall(text.lower()):
        if "가" <= word[0] <= "힣":
            grams = [word] if len(word) < 2 else [word[i : i + 2] for i in range(len(word) - 1)]
        else:
            padded = f" {word} "
            grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
        for gram in grams:
            counts[gram] = counts.get(gram, 0) + 1
    return {g: 1.0 + math.log(c) for g, c in counts.items()}


class _InvertedIndex:
    """L2-normalised tf-idf vectors in per-feature posting arrays; cosine with a query over all documents.

    Documents are added one by one into flat arrays (no per-document Python objects are kept), then
    finish() turns them into postings: the index of 35,000 cases holds about 13 MB of arrays.
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._fids = array("i")
        self._tfs = array("f")
        self._ptr = array("q", [0])
        self.n_docs = 0
        self.idf = np.zeros(0, dtype=np.float32)
        self.indptr = np.zeros(1, dtype=np.int64)
        self.doc_ids = np.zeros(0, dtype=np.int32)
        self.values = np.zeros(0, dtype=np.float32)

    def add(self, doc: dict[str, float]) -> None:
        vocab = self.vocab
        for feature, tf in doc.items():
            fid = vocab.get(feature)
            if fid is None:
                fid = vocab[feature] = len(vocab)
            self._fids.append(fid)
            self._tfs.append(tf)
        self._ptr.append(len(self._fids))
        self.n_docs += 1

    def finish(self) -> None:
        n, n_features = self.n_docs, len(self.vocab)
        fids = np.frombuffer(self._fids, dtype=np.int32).astype(np.int64)
        tfs = np.frombuffer(self._tfs, dtype=np.float32).astype(np.float64)
        ptr = np.frombuffer(self._ptr, dtype=np.int64)
        df = np.bincount(fids, minlength=n_features)
        self.idf = np.log1p(n / np.maximum(df, 1)).astype(np.float32)
        weights = tfs * self.idf[fids]
        doc_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(ptr))
        norms = np.sqrt(np.bincount(doc_of, weights=weights * weights, minlength=n))
        norms[norms == 0] = 1.0
        weights /= norms[doc_of]
        order = np.argsort(fids, kind="stable")
        self.doc_ids = doc_of[order]
        self.values = weights[order].astype(np.float32)
        self.indptr = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        self._fids, self._tfs, self._ptr = array("i"), array("f"), array("q", [0])

    def cosine(self, query: dict[str, float]) -> np.ndarray:
        out = np.zeros(self.n_docs, dtype=np.float32)
        weighted = [(self.vocab[f], w * float(self.idf[self.vocab[f]])) for f, w in query.items() if f in self.vocab]
        # features unseen in the cases still count in the query's norm: they make it less similar
        unseen = math.log(1 + self.n_docs)
        norm = math.sqrt(sum(w * w for _, w in weighted) + sum((w * unseen) ** 2 for f, w in query.items()
                                                                 if f not in self.vocab)) or 1.0
        for fid, w in weighted:
            start, end = self.indptr[fid], self.indptr[fid + 1]
            out[self.doc_ids[start:end]] += (w / norm) * self.values[start:end]
        return out

    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.doc_ids.nbytes + self.values.nbytes + self.idf.nbytes)


class CaseIndex:
    """Nearest-neighbour index over labelled cases. Build once; query many times.

    Accepts Case objects or (text, hs6) pairs (source "import").
    """

    def __init__(self, cases: Iterable[Case | tuple[str, str]]):
        self.cases: list[Case] = []
        self._texts: set[str] = set()
        self._words = _InvertedIndex()
        self._chars = _InvertedIndex()
        seen: set[tuple[str, str, str]] = set()
        for item in cases:
            case = item if isinstance(item, Case) else Case(text=str(item[0]), hs6=str(item[1]))
            code = "".join(ch for ch in str(case.hs6) if ch.isdigit())[:6]
            text = clean(str(case.text)).strip()
            if not text or not _HS6.match(code) or (text, code, case.source) in seen:
                continue
            seen.add((text, code, case.source))
            words = features(text)
            grams = char_ngrams(text)
            if not words and not grams:
                continue
            self.cases.append(Case(text, code, case.source, case.reference_id, case.decision_date, case.hsk10))
            self._texts.add(normalised_text(text))
            self._words.add(dict.fromkeys(words, 1.0))
            self._chars.add(grams)
        self._words.finish()
        self._chars.finish()
        self.codes = [c.hs6 for c in self.cases]
        self._weights = np.array([SOURCE_WEIGHTS.get(c.source, 1.0) for c in self.cases], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.cases)

    def contains(self, text: str) -> bool:
        """True when a case has this text (case and spacing aside): scoring it would measure memory."""
        return normalised_text(clean(text)) in self._texts

    def nbytes(self) -> int:
        """Bytes held by the numeric arrays (the texts and vocabularies come on top)."""
        return self._words.nbytes() + self._chars.nbytes() + int(self._weights.nbytes)

    def similarities(self, text: str, words: frozenset[str] | None = None) -> np.ndarray:
        """Similarity of `text` to every case, 0..1 (`words`: its features(), when the caller has them)."""
        text = clean(text)
        words = features(text) if words is None else words
        sims = WORD_SHARE * self._words.cosine(dict.fromkeys(words, 1.0)) if words else None
        chars = char_ngrams(text)
        char_sims = (1.0 - WORD_SHARE) * self._chars.cosine(chars) if chars else None
        if sims is None and char_sims is None:
            return np.zeros(len(self.cases), dtype=np.float32)
        if sims is None:
            return char_sims
        return sims if char_sims is None else sims + char_sims

    def source_weights(self) -> np.ndarray:
        return self._weights

    def vote(self, text: str, k: int | None = None, words: frozenset[str] | None = None) -> list[CaseVote]:
        """Codes voted for by the nearest cases, best first."""
        return _vote(self, text, k or NEIGHBOURS, words)


class CombinedCaseIndex:
    """Several CaseIndex parts queried as one (the shipped corpora, and the small, often-changing rest)."""

    def __init__(self, parts: Iterable[CaseIndex]):
        self.parts = [p for p in parts if len(p)]
        self.cases = [c for p in self.parts for c in p.cases]
        self._weights = (np.concatenate([p.source_weights() for p in self.parts]) if self.parts
                         else np.zeros(0, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.cases)

    def contains(self, text: str) -> bool:
        return any(p.contains(text) for p in self.parts)

    def nbytes(self) -> int:
        return sum(p.nbytes() for p in self.parts)

    def similarities(self, text: str, words: frozenset[str] | None = None) -> np.ndarray:
        if not self.parts:
            return np.zeros(0, dtype=np.float32)
        words = features(clean(text)) if words is None else words
        return np.concatenate([p.similarities(text, words) for p in self.parts])

    def source_weights(self) -> np.ndarray:
        return self._weights

    def vote(self, text: str, k: int | None = None, words: frozenset[str] | None = None) -> list[CaseVote]:
        return _vote(self, text, k or NEIGHBOURS, words)


def _vote(index: CaseIndex | CombinedCaseIndex, text: str, k: int, words: frozenset[str] | None) -> list[CaseVote]:
    """The k most similar cases vote for their code with similarity squared times their source's weight."""
    if not index.cases:
        return []
    sims = index.similarities(text, words)
    weights = index.source_weights()
    k = min(k, len(index.cases))
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    votes: dict[str, float] = {}
    best: dict[str, float] = {}
    refs: dict[str, list[CaseRef]] = {}
    for i in top:
        sim = float(sims[i])
        if sim <= 0:
            break
        case = index.cases[int(i)]
        votes[case.hs6] = votes.get(case.hs6, 0.0) + sim * sim * float(weights[i])
        best[case.hs6] = max(best.get(case.hs6, 0.0), sim)
        refs.setdefault(case.hs6, []).append(
            CaseRef(case.text, case.hs6, case.source, case.reference_id, case.decision_date, min(1.0, sim))
        )
    total = sum(votes.values()) or 1.0
    out = [
        CaseVote(
            code=code,
            score=weight / total,
            similarity=min(1.0, best[code]),
            evidence=tuple(r.text[:80] for r in refs[code][:3]),
            cases=tuple(refs[code][:3]),
        )
        for code, weight in votes.items()
    ]
    out.sort(key=lambda v: (-v.score * v.similarity, v.code))
    return out


# What analyse_text and the evaluation accept.
AnyCaseIndex = CaseIndex | CombinedCaseIndex
