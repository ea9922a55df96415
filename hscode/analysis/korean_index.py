"""Korean documents for Korean text: BM25 over the KCS HS table's Korean names (출처: 관세청).

The table (data/kcs/hsk_2025_kcs.csv, read with kcs.hsk_file) names each HSK 10-digit line relative to its
parent ("간" under 0206.41, "기타" under a group "수신기기를 갖춘 송신기기"). A subheading's document joins the
names of all its 10-digit lines with the names of the group rows above them, cut into kiwipiepy morphemes
(nouns, roots, Latin words); "기타" and the like carry nothing. A Korean query's content morphemes are scored
against these documents, and the normalised scores are added to the English retrieval's combined score
(classifier.HSIndex.rank, `extra`), so a Korean query meets Korean nomenclature directly while the lexicon's
translation path stays as the second route. Plain Python.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import bm25s
import numpy as np

from kcs.hsk_file import read_hsk_table

from .classifier import KoreanAnalyzer, get_index, get_korean

HSK_FILE = Path(__file__).resolve().parents[2] / "data" / "kcs" / "hsk_2025_kcs.csv"
# Weight of the Korean-name score in the combined retrieval score (the subheading level of the English
# retrieval weighs 1.0). Chosen on the KCS rulings corpus (not on the dev files).
KOREAN_NAME_WEIGHT = 1.0
# Share of the heading-level score next to the subheading's own.
HEADING_SHARE = 1.0
_TAGS = ("NNG", "NNP", "XR", "SL")
# Words that name no goods: "other", "of which", units and shapes of the nomenclature's own language.
_STOP = frozenset("기타 것 그 밖 한정 해당 경우 제외 포함 이 그 등 중 및 또는 용 제 호 류 종류".split())


class KoreanNameIndex:
    """BM25 over one Korean document per HS 6-digit subheading."""

    def __init__(self, names: Iterable[tuple[str, str]], sub_codes: Sequence[str], analyzer: KoreanAnalyzer):
        """`names`: (code of 7-10 digits, Korean name) pairs; `sub_codes`: the retrieval's subheadings, in order."""
        position = {code: i for i, code in enumerate(sub_codes)}
        docs: list[list[str]] = [[] for _ in sub_codes]
        self._names: dict[str, list[str]] = {}
        for code, name in names:
            i = position.get(code[:6])
            if i is not None:
                docs[i].extend(self._tokens(analyzer, name))
                if name.strip() and name.strip() != "기타":
                    self._names.setdefault(code[:6], []).append(name.strip())
        self.n_subheadings = len(sub_codes)
        self.covered = sum(1 for d in docs if d)
        self._bm25 = bm25s.BM25()
        self._bm25.index([d if d else [""] for d in docs], show_progress=False)
        # heading documents: every name under the heading (a "기타" line still belongs to a heading about horses)
        headings = sorted({code[:4] for code in sub_codes})
        head_position = {h: i for i, h in enumerate(headings)}
        head_docs: list[list[str]] = [[] for _ in headings]
        for i, code in enumerate(sub_codes):
            head_docs[head_position[code[:4]]].extend(docs[i])
        self._sub_head = np.array([head_position[code[:4]] for code in sub_codes])
        self._bm25_head = bm25s.BM25()
        self._bm25_head.index([d if d else [""] for d in head_docs], show_progress=False)

    def names(self, hs6: str, limit: int = 3) -> str:
        """A few Korean names of the subheading's lines ("" when the table has none)."""
        return " · ".join(self._names.get(hs6, [])[:limit])

    @staticmethod
    def _tokens(analyzer: KoreanAnalyzer, text: str) -> list[str]:
        return [
            form.lower()
            for form, tag, _start, _len in analyzer.morphemes(text)
            if tag.startswith(_TAGS) and form not in _STOP and (len(form) > 1 or tag == "NNG")
        ]

    def query_tokens(self, morphs: list[tuple[str, str, int, int]]) -> list[str]:
        return [
            form.lower()
            for form, tag, _start, _len in morphs
            if tag.startswith(_TAGS) and form not in _STOP and (len(form) > 1 or tag == "NNG")
        ]

    def scores(self, morphs: list[tuple[str, str, int, int]]) -> np.ndarray | None:
        """Scores per subheading (aligned with the retrieval's sub_codes), divided by their maximum; None when
        no query word is a word of the table."""
        tokens = list(dict.fromkeys(self.query_tokens(morphs)))
        total = np.zeros(self.n_subheadings, dtype=np.float32)
        for model, weight, index in ((self._bm25, 1.0, None), (self._bm25_head, HEADING_SHARE, self._sub_head)):
            ids = [model.vocab_dict[t] for t in tokens if t in model.vocab_dict]
            if not ids:
                continue
            scores = np.asarray(model.get_scores_from_ids(ids), dtype=np.float32)
            top = float(scores.max(initial=0.0))
            if top > 0:
                total += weight * (scores / top if index is None else (scores / top)[index])
        top = float(total.max(initial=0.0))
        return total / top if top > 0 else None


_lock = threading.Lock()
_state: dict[str, KoreanNameIndex] = {}


def get_korean_names() -> KoreanNameIndex:
    index = _state.get("index")
    if index is None:
        with _lock:
            index = _state.get("index")
            if index is None:
                table = read_hsk_table(HSK_FILE)
                names = [(line.code, line.name_ko) for line in table.lines]
                names += [(group.code, group.name_ko) for group in table.groups]
                index = KoreanNameIndex(names, get_index().sub_codes, get_korean())
                _state["index"] = index
    return index
