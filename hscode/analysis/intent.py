"""Intent detection for Korean and English trade questions.

Five intents (seed 002 `intent_detection`): hscode_search, regulation_inquiry,
trade_statistics, tariff_rate, general. Each intent has cue phrases with a
weight; Korean cues are matched on the text with spaces removed (so "관세 율"
and "관세율" both count), English cues on word boundaries. A product phrase or
a code with no other cue means the person wants the classification. The
primary intent is the best score; secondary intents are the others that reach
half of it; confidence grows with the primary's score and its lead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INTENTS = ("hscode_search", "regulation_inquiry", "trade_statistics", "tariff_rate", "general")

_KO_CUES: dict[str, dict[str, float]] = {
    "hscode_search": {
        "hs코드": 2.0, "hs부호": 2.0, "hsk": 1.5, "품목분류": 2.0, "품목번호": 2.0, "세번": 1.5, "세번부호": 2.0,
        "코드": 1.0, "분류": 1.0, "몇류": 1.5, "몇호": 1.5, "어디에분류": 2.0, "무슨코드": 2.0, "어느코드": 2.0,
        "번호가뭐": 1.0, "hs번호": 2.0,
    },
    "regulation_inquiry": {
        "규제": 2.0, "규정": 1.5, "요건": 1.5, "수입요건": 2.0, "수출요건": 2.0, "인증": 1.5, "허가": 1.5,
        "승인": 1.0, "검역": 2.0, "검사": 1.0, "통관": 1.0, "서류": 1.0, "금지": 1.5, "제한": 1.0, "kc인증": 2.0,
        "전파인증": 2.0, "식약처": 1.5, "라벨": 1.0, "표시사항": 1.5, "신고": 0.8, "원산지표시": 1.5,
        "필요한서류": 1.5, "수입신고": 1.0, "전략물자": 2.0, "수출통제": 2.0, "cbam": 1.5, "eudr": 1.5, "fda": 1.5,
        "ce인증": 2.0, "안전기준": 1.5, "법령": 1.5, "통관절차": 2.0, "수입절차": 1.5, "조건": 0.6,
    },
    "trade_statistics": {
        "통계": 2.0, "수출액": 2.0, "수입액": 2.0, "수출실적": 2.0, "수입실적": 2.0, "무역통계": 2.0, "실적": 1.0,
        "추이": 1.5, "동향": 1.5, "규모": 1.0, "물량": 1.0, "점유율": 1.5, "순위": 1.0, "얼마나수출": 2.0,
        "얼마나수입": 2.0, "수출량": 2.0, "수입량": 2.0, "무역수지": 2.0, "증가율": 1.0, "전년대비": 1.5,
        "데이터": 0.8, "주요수출국": 1.5, "주요수입국": 1.5,
    },
    "tariff_rate": {
        "관세": 1.5, "관세율": 2.0, "세율": 2.0, "세금": 1.5, "fta": 1.5, "특혜관세": 2.0, "협정세율": 2.0,
        "기본세율": 2.0, "부가세": 1.5, "부가가치세": 1.5, "양허": 1.5, "관세액": 2.0, "세액": 1.5, "면세": 1.5,
        "감면": 1.0, "환급": 1.0, "덤핑": 1.5, "관세가얼마": 2.0, "세금이얼마": 2.0, "개별소비세": 1.5,
    },
    "general": {
        "안녕": 1.0, "고마워": 1.0, "고맙": 1.0, "감사": 1.0, "누구": 0.6, "도움말": 1.0, "뭐할수": 1.0, "반가": 1.0,
        "반갑": 1.0,
    },
}

_EN_CUES: dict[str, dict[str, float]] = {
    "hscode_search": {
        "hs code": 2.0, "hs-code": 2.0, "hts": 1.5, "tariff code": 1.5, "classify": 2.0, "classification": 1.5,
        "classified": 1.5, "commodity code": 2.0, "which code": 1.5, "what code": 1.5, "heading": 1.0,
        "subheading": 1.0, "harmonized": 1.0, "hs number": 2.0, "code for": 1.0,
    },
    "regulation_inquiry": {
        "regulation": 2.0, "regulations": 2.0, "regulated": 1.5, "requirement": 1.5, "requirements": 1.5,
        "license": 1.5, "licence": 1.5, "permit": 1.5, "certification": 1.5, "certificate": 1.2, "quarantine": 2.0,
        "inspection": 1.0, "banned": 1.5, "ban": 1.0, "prohibited": 1.5, "restricted": 1.5, "restriction": 1.5,
        "compliance": 1.5, "labeling": 1.2, "labelling": 1.2, "documents": 1.0, "paperwork": 1.0,
        "customs clearance": 1.5, "export control": 2.0, "sanction": 1.5, "sanctions": 1.5, "fda": 1.5,
        "cbam": 1.5, "eudr": 1.5, "allowed to": 1.0, "legal": 1.0, "rules": 1.0, "approval": 1.0,
    },
    "trade_statistics": {
        "statistics": 2.0, "stats": 2.0, "trade data": 2.0, "export value": 2.0, "import value": 2.0,
        "trade volume": 2.0, "volume": 1.0, "trend": 1.5, "trends": 1.5, "market share": 1.5, "how much": 0.8,
        "how many": 0.6, "top exporters": 2.0, "top importers": 2.0, "exports of": 1.0, "imports of": 1.0,
        "growth": 1.0, "year on year": 1.5, "yoy": 1.5, "figures": 1.0, "trade balance": 2.0,
    },
    "tariff_rate": {
        "tariff": 1.5, "tariffs": 1.5, "duty": 1.5, "duties": 1.5, "duty rate": 2.0, "tariff rate": 2.0,
        "tax": 1.2, "taxes": 1.2, "vat": 1.5, "fta": 1.5, "preferential": 1.5, "customs duty": 2.0,
        "anti-dumping": 1.5, "rate of duty": 2.0, "duty free": 1.5, "duty-free": 1.5,
    },
    "general": {
        "hello": 1.0, "hi": 0.8, "thanks": 1.0, "thank you": 1.0, "who are you": 1.0, "help": 0.6,
    },
}

_EN_PATTERNS = {
    intent: [(re.compile(r"(?<![a-z])" + re.escape(cue) + r"(?![a-z])"), weight) for cue, weight in cues.items()]
    for intent, cues in _EN_CUES.items()
}
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class IntentResult:
    primary_intent: str
    secondary_intents: tuple[str, ...]
    intent_confidence: float

    def to_dict(self) -> dict:
        return {
            "primary_intent": self.primary_intent,
            "secondary_intents": list(self.secondary_intents),
            "intent_confidence": self.intent_confidence,
        }


def intent_scores(text: str) -> dict[str, float]:
    lowered = text.lower()
    compact = _SPACES.sub("", lowered)
    scores = dict.fromkeys(INTENTS, 0.0)
    for intent, cues in _KO_CUES.items():
        for cue, weight in cues.items():
            if cue in compact:
                scores[intent] += weight
    for intent, patterns in _EN_PATTERNS.items():
        for pattern, weight in patterns:
            if pattern.search(lowered):
                scores[intent] += weight
    # Nested Korean cues ("관세율" contains "관세") should not double count fully.
    if "관세율" in compact and "관세" in compact:
        scores["tariff_rate"] -= 1.0
    if "hs코드" in compact and "코드" in compact:
        scores["hscode_search"] -= 1.0
    return scores


# Words that pad a greeting or a thank-you without naming anything ("hi there", "thanks a lot").
_SMALL_TALK_FILLERS = frozenset({"there", "everyone", "all", "so", "much", "a", "lot", "you", "very", "guys",
                                 "again", "and", "good", "morning", "evening", "afternoon"})
_PUNCTUATION = re.compile(r"[^\w\s]+")


def is_small_talk(text: str) -> bool:
    """A greeting, a thank-you or a "who are you", and nothing else: every word is such a cue (a Korean word begins
    with one, as 안녕하세요 and 감사합니다 do) or a filler. Such a message names no product to classify."""
    phrase = " ".join(_PUNCTUATION.sub(" ", text.lower()).split())
    if not phrase:
        return False
    for cue in (c for c in _EN_CUES["general"] if " " in c):
        phrase = phrase.replace(cue, " ")
    single = {c for c in _EN_CUES["general"] if " " not in c}
    return all(
        word in single or word in _SMALL_TALK_FILLERS or any(word.startswith(cue) for cue in _KO_CUES["general"])
        for word in phrase.split()
    )


def detect_intent(text: str, *, has_product: bool = False, has_code: bool = False) -> IntentResult:
    """Intent of `text`; `has_product`/`has_code` say whether a product phrase or an HS code was found."""
    scores = intent_scores(text)
    specific = {k: v for k, v in scores.items() if k != "general"}
    if has_code:
        scores["hscode_search"] += 0.8
    if has_product and max(specific.values()) == 0:
        scores["hscode_search"] += 1.2
    elif has_product:
        scores["hscode_search"] += 0.4
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], INTENTS.index(kv[0])))
    best_intent, best = ranked[0]
    if best <= 0:
        return IntentResult("general", (), 0.5)
    if best_intent == "general" and any(v > 0 for k, v in ranked[1:] if k != "general"):
        # a greeting plus a real question: the question wins
        best_intent, best = next((k, v) for k, v in ranked if k != "general")
    second = max((v for k, v in scores.items() if k != best_intent), default=0.0)
    secondary = tuple(k for k, v in ranked if k != best_intent and k != "general" and v > 0 and v >= 0.5 * best)
    strength = 1.0 - 1.0 / (1.0 + best)  # 1 cue of weight 2 -> 0.67
    lead = (best - second) / best
    confidence = round(min(0.97, 0.35 + 0.45 * strength + 0.2 * lead), 3)
    return IntentResult(best_intent, secondary, confidence)
