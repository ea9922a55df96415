"""Lexical classification of product descriptions into HS 2022 subheadings.

English: a weighted bag of stemmed tokens (plus the HS vocabulary that the
English lexicon adds for everyday words) is scored with BM25 (bm25s) at three
levels of the nomenclature -- chapter, heading and subheading -- and the three
normalised scores are combined per subheading. Lexicon hints add a bounded
prior to the codes under the prefixes they name.

Korean: kiwipiepy splits the text into morphemes; runs of adjacent morphemes are
looked up (longest first) in the Korean lexicon, which maps them to English HS
vocabulary and hints; Latin-script words in the Korean text go through the
English path. The resulting query is scored by the same index.

Plain Python; the index is built once per process (get_index(), thread-safe).
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from dataclasses import dataclass, field

import bm25s
import numpy as np

from .lexicon import LexEntry, Lexicon, load_lexicon
from .nomenclature import Nomenclature, get_nomenclature
from .text import en_tokens, stem, words

# Combination weights of the three levels (normalised BM25 scores), and the
# prior a lexicon hint adds. Chosen on the method (grid over a few values on
# the dev sets, same values for both languages), not per row.
LEVEL_WEIGHTS = {6: 1.0, 4: 0.6, 2: 0.5}
HINT_WEIGHT = {2: 0.35, 4: 0.6, 6: 0.8}
BM25_K1 = 1.2
MAX_PER_HEADING = 2  # in the top few candidates
BM25_B = 0.75

# Kind weights for Korean lexicon matches: what the product is matters most.
KIND_WEIGHTS = {"product": 0.5, "brand": 0.6, "material": 0.5, "process": 0.5, "use": 0.5, "form": 0.4}
KIND_HINT_WEIGHTS = {"product": 1.0, "brand": 1.0, "material": 1.0, "process": 0.4, "use": 0.5, "form": 0.3}

# Clause markers in English descriptions: words after them describe material or
# use rather than the product itself, and weigh a little less.
_TAIL_MARKERS = re.compile(
    r"\b(?:made of|made from|composed of|consisting of|constructed of|comprised of|used (?:for|in|to|as)|"
    r"for use|designed (?:for|to)|intended (?:for|to)|which|that|imported|packaged|packed|put up|"
    r"in the form of|containing|with)\b",
    re.IGNORECASE,
)
TAIL_WEIGHT = 0.7

# Packaging is not the product: "packaged in a blue box", "수지제 봉지에 소매포장한 것".
_EN_PACKAGING = re.compile(
    r"\b(?:packaged|packed|put up|presented|sold|supplied|shipped|housed|contained|bottled|filled)\s+"
    r"(?:for retail sale\s+)?(?:in|into|on|inside)\s+[^.;,]{0,60}",
    re.IGNORECASE,
)
_EN_ORIGIN = re.compile(r"\b(?:made|manufactured|produced|imported|originating)?\s*(?:in|from)\s+(?:the\s+)?"
                        r"(?:china|prc|korea|japan|taiwan|vietnam|india|thailand|indonesia|malaysia|germany|italy|"
                        r"france|spain|turkey|mexico|canada|brazil|usa|united states|new zealand|australia|"
                        r"pakistan|bangladesh|cambodia|philippines|hong kong|sri lanka|chile|peru|argentina)\b",
                        re.IGNORECASE)
_KO_PACKAGING = re.compile(r"((?:\S+\s+){0,2}\S+?)(?:에|으로|로)\s*(?:소매\s*)?(?:포장|소포|담|충전|넣|밀봉|봉입)")
PACKAGING_WEIGHT = 0.15

# Systematic chemical names ("2,4-diaminopyrimidine", "디프로필렌 글리콜", "CAS 555-31-7") point at
# chapters 28/29; mixed with "mixture"/"혼합" they point at chemical preparations (38).
_CHEMICAL = re.compile(
    r"\bcas\b|\d+-\d{2}-\d\b|\b\d(?:,\d)*-[a-z]|"
    r"(?:methyl|ethyl|propyl|butyl|phenyl|benz|chlor|fluor|bromo|iodo|amino|hydroxy|carbox|sulfon|sulphon|nitro|"
    r"amide|amine|oate\b|anoic|pyrid|pyrim|imidaz|azol|thio|glycol|acetate|ketone|aldehyde|oxide\b|hydrochloride|"
    r"메틸|에틸|프로필|부틸|페닐|벤조|벤젠|클로로|클로라이드|플루오로|브로모|아미노|하이드록시|카복|설폰|니트로|"
    r"아마이드|아미드|아민|피리|피리미|이미다|티오|글리콜|아세테이트|산나트륨|산칼륨|산칼슘)",
    re.IGNORECASE,
)
_MIXTURE = re.compile(r"mixture|preparation|formulation|blend|혼합|조제|배합", re.IGNORECASE)
CHEMICAL_HINT = 0.5


def chemical_hints(text: str) -> dict[str, float]:
    found = len(_CHEMICAL.findall(text))
    if found < 2:
        return {}
    hints = {"29": CHEMICAL_HINT, "28": CHEMICAL_HINT * 0.5}
    if _MIXTURE.search(text):
        hints["38"] = CHEMICAL_HINT
    return hints


@dataclass
class Query:
    """A weighted bag of stemmed tokens plus hinted HS prefixes, and what produced them."""

    weights: dict[str, float] = field(default_factory=dict)
    surface: dict[str, str] = field(default_factory=dict)
    hints: dict[str, float] = field(default_factory=dict)
    matched: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)  # (surface, kind, hints)
    unknown: list[str] = field(default_factory=list)  # content words the lexicon did not know

    def add_tokens(self, tokens: list[str], weight: float, surface: str | None = None) -> None:
        for token in tokens:
            self.weights[token] = self.weights.get(token, 0.0) + weight
            if surface is not None:
                self.surface.setdefault(token, surface)

    def add_hints(self, hints: tuple[str, ...], weight: float) -> None:
        for hint in hints:
            self.hints[hint] = max(self.hints.get(hint, 0.0), weight)

    def kinds(self) -> set[str]:
        return {kind for _, kind, _ in self.matched}

    def dampened(self) -> dict[str, float]:
        """Repeated tokens count sub-linearly."""
        return {t: (w if w <= 1.0 else 1.0 + math.log(w)) for t, w in self.weights.items()}

    @property
    def empty(self) -> bool:
        return not self.weights and not self.hints


@dataclass(frozen=True)
class Ranked:
    code: str
    score: float
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Ranking:
    items: tuple[Ranked, ...]
    top_scores: tuple[float, ...]  # the best few combined scores, for calibration features
    chapter_share: float  # share of the top-20 score mass held by the top candidate's chapter
    heading_share: float


class HSIndex:
    """BM25 over the nomenclature at chapter, heading and subheading level."""

    def __init__(self, nomenclature: Nomenclature, spelling: dict[str, str]):
        self.nomenclature = nomenclature
        self.spelling = spelling
        subs = sorted(nomenclature.entries(6), key=lambda e: e.code)
        heads = sorted(nomenclature.entries(4), key=lambda e: e.code)
        chaps = sorted(nomenclature.entries(2), key=lambda e: e.code)
        self.sub_codes = [e.code for e in subs]
        self.head_codes = [e.code for e in heads]
        self.chap_codes = [e.code for e in chaps]
        head_pos = {c: i for i, c in enumerate(self.head_codes)}
        chap_pos = {c: i for i, c in enumerate(self.chap_codes)}
        self.sub_head = np.array([head_pos.get(c[:4], -1) for c in self.sub_codes])
        self.sub_chap = np.array([chap_pos.get(c[:2], -1) for c in self.sub_codes])

        def tok(text: str) -> list[str]:
            return en_tokens(text, spelling, boilerplate=True)

        sub_docs = []
        self.sub_tokens: list[frozenset[str]] = []
        for e in subs:
            own = tok(e.description)
            head = nomenclature.get(e.code[:4])
            parent = tok(head.description) if head else []
            sub_docs.append(own + own + parent)
            self.sub_tokens.append(frozenset(own + parent))
        head_docs = []
        for e in heads:
            children = [t for c in nomenclature.children(e.code) for t in tok(c.description)]
            head_docs.append(tok(e.description) * 2 + children)
        chap_docs = []
        for e in chaps:
            heads_text = [t for c in nomenclature.children(e.code) for t in tok(c.description)]
            chap_docs.append(tok(e.description) * 2 + heads_text)

        self.bm6 = _bm25(sub_docs)
        self.bm4 = _bm25(head_docs)
        self.bm2 = _bm25(chap_docs)
        self._prefix_cache: dict[str, np.ndarray] = {}

    def prefix_indices(self, prefix: str) -> np.ndarray:
        cached = self._prefix_cache.get(prefix)
        if cached is None:
            lo = bisect.bisect_left(self.sub_codes, prefix)
            hi = bisect.bisect_left(self.sub_codes, prefix + "\uffff")
            cached = np.arange(lo, hi)
            self._prefix_cache[prefix] = cached
        return cached

    def known(self, token: str) -> bool:
        return token in self.bm6.vocab_dict or token in self.bm2.vocab_dict

    def rank(self, query: Query, k: int = 5, *, diverse: bool = True, extra: np.ndarray | None = None) -> Ranking:
        """`extra`: further scores per subheading (aligned with sub_codes), added to the combined score."""
        weights = query.dampened()
        s6 = _scores(self.bm6, weights)
        s4 = _scores(self.bm4, weights)
        s2 = _scores(self.bm2, weights)
        combined = np.zeros(len(self.sub_codes), dtype=np.float32)
        for level, scores, index in ((6, s6, None), (4, s4, self.sub_head), (2, s2, self.sub_chap)):
            top = float(scores.max()) if scores.size else 0.0
            if top <= 0:
                continue
            normed = scores / top
            combined += LEVEL_WEIGHTS[level] * (normed if index is None else normed[index])
        if extra is not None:
            combined += extra
        if query.hints:
            total = sum(LEVEL_WEIGHTS.values())
            for prefix, weight in query.hints.items():
                idx = self.prefix_indices(prefix)
                if idx.size:
                    combined[idx] += total * HINT_WEIGHT[len(prefix)] * weight
        if float(combined.max(initial=0.0)) <= 0:
            return Ranking(items=(), top_scores=(), chapter_share=0.0, heading_share=0.0)
        n_top = min(20, len(combined))
        top_idx = np.argpartition(-combined, n_top - 1)[:n_top]
        top_idx = top_idx[np.argsort(-combined[top_idx], kind="stable")]
        top_vals = combined[top_idx]
        mass = float(top_vals.sum()) or 1.0
        best = top_idx[0]
        chapter_share = float(top_vals[self.sub_chap[top_idx] == self.sub_chap[best]].sum()) / mass
        heading_share = float(top_vals[self.sub_head[top_idx] == self.sub_head[best]].sum()) / mass
        items = []
        per_heading: dict[int, int] = {}
        for i in top_idx:
            if combined[i] <= 0 or len(items) >= k:
                break
            # keep the short list diverse: a wrong heading should not fill all of it
            head = int(self.sub_head[i])
            if diverse and per_heading.get(head, 0) >= MAX_PER_HEADING and len(items) >= 1:
                continue
            per_heading[head] = per_heading.get(head, 0) + 1
            items.append(Ranked(code=self.sub_codes[i], score=float(combined[i]), evidence=self._evidence(i, query)))
        return Ranking(
            items=tuple(items),
            top_scores=tuple(float(v) for v in top_vals[:5]),
            chapter_share=chapter_share,
            heading_share=heading_share,
        )

    def _evidence(self, i: int, query: Query) -> tuple[str, ...]:
        doc = self.sub_tokens[i]
        found: list[str] = []
        for token in query.weights:
            if token in doc:
                word = query.surface.get(token, token)
                if word not in found:
                    found.append(word)
        code = self.sub_codes[i]
        for surface, _kind, hints in query.matched:
            if surface not in found and any(code.startswith(p) for p in hints):
                found.append(surface)
        return tuple(found[:8])


def _bm25(docs: list[list[str]]) -> bm25s.BM25:
    model = bm25s.BM25(k1=BM25_K1, b=BM25_B)
    model.index([d if d else [""] for d in docs], show_progress=False)
    return model


def _scores(model: bm25s.BM25, weights: dict[str, float]) -> np.ndarray:
    data = model.scores["data"]
    indices = model.scores["indices"]
    indptr = model.scores["indptr"]
    out = np.zeros(model.scores["num_docs"], dtype=np.float32)
    vocab = model.vocab_dict
    for token, weight in weights.items():
        tid = vocab.get(token)
        if tid is None or not token:
            continue
        start, end = indptr[tid], indptr[tid + 1]
        if end > start:
            out[indices[start:end]] += weight * data[start:end]
    return out


# --- query building ---------------------------------------------------------------


def english_query(text: str, lexicon: Lexicon, query: Query | None = None, weight: float = 1.0) -> Query:
    """Tokens of `text`, with the lexicon's HS vocabulary added for the phrases it knows."""
    query = query or Query()
    spelling = lexicon.spelling()
    text = _EN_ORIGIN.sub(" ", _EN_PACKAGING.sub(" ", text))
    for prefix, hint_weight in chemical_hints(text).items():
        query.hints[prefix] = max(query.hints.get(prefix, 0.0), hint_weight * weight)
    head, tail = _split_head(text)
    for part, part_weight in ((head, 1.0), (tail, TAIL_WEIGHT)):
        if not part:
            continue
        ws = [spelling.get(w, w) for w in words(part)]
        i = 0
        while i < len(ws):
            matched = False
            for n in range(min(lexicon.max_words, len(ws) - i), 0, -1):
                phrase = " ".join(ws[i : i + n])
                entry = lexicon.get(phrase)
                if entry is None and n == 1 and phrase.endswith("s"):
                    entry = lexicon.get(phrase[:-1])
                if entry is None or entry.kind == "spelling":
                    continue
                _apply_entry(query, entry, phrase, weight * part_weight)
                # the phrase's own words still count (lightly) when it is a multi-word match
                i += n
                matched = True
                break
            if not matched:
                word = ws[i]
                i += 1
                tokens = en_tokens(word)
                if tokens:
                    query.unknown.append(word)
                for token in tokens:
                    query.add_tokens([token], weight * part_weight, surface=word)
    return query


def _split_head(text: str) -> tuple[str, str]:
    match = _TAIL_MARKERS.search(text)
    if not match or match.start() < 3:
        return text, ""
    return text[: match.start()], text[match.start() :]


def _apply_entry(query: Query, entry: LexEntry, surface: str, weight: float) -> None:
    if entry.kind == "stop":
        return
    kind_weight = KIND_WEIGHTS.get(entry.kind, 0.6)
    tokens = en_tokens(entry.english) if entry.english else []
    if tokens:
        # spread the term's weight over its expansion, keeping each token meaningful
        per = weight * kind_weight * max(0.5, 2.0 / (1 + len(tokens)) ** 0.5)
        query.add_tokens(tokens, per, surface=surface)
    if entry.hints:
        query.add_hints(entry.hints, weight * KIND_HINT_WEIGHTS.get(entry.kind, 0.5))
    query.matched.append((surface, entry.kind, entry.hints))


class KoreanAnalyzer:
    """kiwipiepy morphemes -> lexicon matches (longest run of adjacent morphemes first)."""

    CONTENT_TAGS = ("NNG", "NNP", "NR", "SL", "SH", "XR", "VV", "VA", "XSN", "SN", "NNB")
    NOUN_TAGS = frozenset({"NNG", "NNP", "SL", "SH", "XR"})

    def __init__(self, lexicon: Lexicon, en_lexicon: Lexicon):
        from kiwipiepy import Kiwi

        self.kiwi = Kiwi()
        self.lexicon = lexicon
        self.en_lexicon = en_lexicon
        self._lock = threading.Lock()

    def _split_compound(self, word: str) -> list[tuple[LexEntry, int]]:
        """Korean compounds are right-headed: '알루미늄프레임' -> 프레임 (head) + 알루미늄 (modifier).

        The longest known suffix of at least two syllables is the head; a known prefix
        before it is kept as a modifier (a product prefix then counts as a use).
        """
        for cut in range(1, len(word) - 1):
            head = self.lexicon.get(word[cut:])
            if head is None or head.kind == "stop":
                continue
            found = [(head, cut)]
            modifier = self.lexicon.get(word[:cut])
            if modifier is not None and modifier.kind != "stop":
                if modifier.kind == "product":
                    modifier = LexEntry(modifier.term, "use", modifier.english, modifier.hints)
                found.insert(0, (modifier, 0))
            return found
        # no known head word: a productive one-syllable head suffix ("~기" machine, "~제" preparation)
        suffix = self.lexicon.get("~" + word[-1])
        if suffix is not None:
            modifier = self.lexicon.get(word[:-1])
            if word[-1] == "제" and modifier is not None and modifier.kind == "material":
                # "니켈제": made of nickel, not a nickel preparation
                return [(modifier, 0)]
            found = [(suffix, len(word) - 1)]
            if modifier is not None and modifier.kind != "stop":
                found.insert(0, (LexEntry(modifier.term, "use", modifier.english, modifier.hints), 0))
            return found
        return []

    def morphemes(self, text: str) -> list[tuple[str, str, int, int]]:
        with self._lock:
            tokens = self.kiwi.tokenize(text)
        return [(t.form, t.tag, t.start, t.len) for t in tokens]

    def query(self, text: str, morphs: list[tuple[str, str, int, int]] | None = None) -> Query:
        query = Query()
        morphs = self.morphemes(text) if morphs is None else morphs
        matches: list[tuple[LexEntry, str, int]] = []
        latin_words: list[str] = []
        n = len(morphs)
        i = 0
        max_chars = self.lexicon.max_words
        while i < n:
            form, tag, start, _length = morphs[i]
            if not tag.startswith(self.CONTENT_TAGS) and not tag.startswith("NN"):
                i += 1
                continue
            best: tuple[int, LexEntry, str] | None = None
            joined = ""
            for j in range(i, min(n, i + 6)):
                f, t, s, ln = morphs[j]
                if j > i and (t.startswith(("J", "E", "SF", "SP", "SS", "SE", "SO", "SW"))):
                    break
                joined += f
                if len(joined) > max_chars:
                    break
                entry = self.lexicon.get(joined)
                if entry is not None:
                    best = (j, entry, text[start : s + ln])
            if best is not None and _is_fragment(morphs, i, best[0]):
                # a one-syllable term glued inside a longer word ("일면", "소포장", "파일") is a fragment
                best = None
            if best is not None:
                j, entry, surface = best
                # "엔진용", "사료용": a noun followed by the suffix 용 names the use, not the product
                if j + 1 < n and morphs[j + 1][0] == "용" and morphs[j + 1][1] == "XSN" and entry.kind == "product":
                    entry = LexEntry(entry.term, "use", entry.english, entry.hints)
                matches.append((entry, surface, start))
                i = j + 1
                continue
            if tag == "SL":
                latin_words.append(form)
            elif tag in self.NOUN_TAGS and len(form) > 2:
                parts = self._split_compound(form)
                if parts:
                    for part_entry, offset in parts:
                        matches.append((part_entry, form, start + offset))
                else:
                    query.unknown.append(form)
            elif tag in self.NOUN_TAGS and len(form) > 1:
                query.unknown.append(form)
            i += 1
        main_end = _main_clause_end(text)
        packaging = [m.span(1) for m in _KO_PACKAGING.finditer(text)]
        use_spans = _use_clauses(text)
        for entry, surface, start in matches:
            if entry.kind in ("product", "brand") and any(a <= start < b for a, b in use_spans):
                # "용도 : 화장품 원료": what the goods are for is not what they are
                entry = LexEntry(entry.term, "use", entry.english, entry.hints)
            if start < main_end:
                weight = KO_POSITION_MIN + (KO_POSITION_MAX - KO_POSITION_MIN) * (start / max(1, main_end))
            else:
                weight = KO_DETAIL_WEIGHT
            if any(a <= start < b for a, b in packaging):
                weight *= PACKAGING_WEIGHT
            _apply_entry(query, entry, surface, weight)
        if latin_words:
            english_query(" ".join(latin_words), self.en_lexicon, query, weight=LATIN_IN_KOREAN_WEIGHT)
        for prefix, hint_weight in chemical_hints(text).items():
            query.hints[prefix] = max(query.hints.get(prefix, 0.0), hint_weight)
        return query


_GLUE_TAGS = ("NNG", "NNP", "XR", "SN", "SL")


def _is_fragment(morphs: list[tuple[str, str, int, int]], i: int, j: int) -> bool:
    """True when the match morphs[i..j] is one syllable glued to a content morpheme before or after it."""
    if j != i or len(morphs[i][0]) != 1:
        return False
    _form, _tag, start, length = morphs[i]
    if i > 0:
        _f, t, s, ln = morphs[i - 1]
        if s + ln == start and t.startswith(_GLUE_TAGS):
            return True
    if i + 1 < len(morphs):
        _f, t, s, _ln = morphs[i + 1]
        if s == start + length and t.startswith(("NNG", "NNP", "XR")):
            return True
    return False


# Latin-script words inside Korean text (scientific names, model codes, units) are noisier than the Korean
# terms around them: they go through the English path at LATIN_IN_KOREAN_WEIGHT.
LATIN_IN_KOREAN_WEIGHT = 0.6

# Korean descriptions put the product last in the main clause ("...을 냉동한 삼겹살"): later
# terms weigh more; details after " - ", "※" or "용도:" weigh less.
KO_POSITION_MIN = 0.6
KO_POSITION_MAX = 1.2
KO_DETAIL_WEIGHT = 0.5
_MAIN_END = re.compile(r"\s-\s|\s-\(|\s-[가-힣]|※|\n|\(?용도\)?\s*[:：]|\[|ㅇ\s")


_USE_CLAUSE = re.compile(r"(?:제시\s*)?용도\s*\)?\s*[:：]?")
_USE_CLAUSE_END = re.compile(r"\s-\s|※|\n|\[|ㅇ\s|[①-⑳]")


def _use_clauses(text: str) -> list[tuple[int, int]]:
    """Spans of "용도 : ..." clauses (up to the next detail marker)."""
    spans = []
    for match in _USE_CLAUSE.finditer(text):
        end = _USE_CLAUSE_END.search(text, match.end())
        spans.append((match.end(), end.start() if end else len(text)))
    return spans


def _main_clause_end(text: str) -> int:
    match = _MAIN_END.search(text, 8)
    return match.start() if match else len(text)


_lock = threading.Lock()
_state: dict[str, object] = {}


def get_index() -> HSIndex:
    index = _state.get("index")
    if index is None:
        with _lock:
            index = _state.get("index")
            if index is None:
                index = HSIndex(get_nomenclature(), load_lexicon("en").spelling())
                _state["index"] = index
    return index  # type: ignore[return-value]


def get_korean() -> KoreanAnalyzer:
    analyzer = _state.get("korean")
    if analyzer is None:
        with _lock:
            analyzer = _state.get("korean")
            if analyzer is None:
                analyzer = KoreanAnalyzer(load_lexicon("ko"), load_lexicon("en"))
                _state["korean"] = analyzer
    return analyzer  # type: ignore[return-value]


def stem_word(word: str) -> str:
    return stem(word)
