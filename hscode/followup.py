"""The follow-up question for an uncertain classification, taken from the candidates actually on the table.

A feature is asked about only when the candidates' own HS descriptions differ in it (frozen vs salted for pork,
household tool vs semi-finished steel for an opener) and the person has not already said it. Nothing here is a
fixed list of questions: the vocabulary below only names the features an HS description can carry, and a
question exists only when the candidates disagree on one of them. When none separates them, the question lists
the candidates themselves.

Plain Python (no Django).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    key: str
    pattern: str  # English, as HS descriptions write it (a regular expression, word-bounded)
    ko: str
    en: str
    ko_cues: tuple[str, ...] = ()  # how a Korean question says it (the ko label is always one)

    def in_english(self, text: str) -> bool:
        return re.search(r"(?<![a-z])(?:" + self.pattern + r")(?![a-z])", text) is not None

    def in_korean(self, text: str) -> bool:
        return any(cue in text for cue in (self.ko, *self.ko_cues))


@dataclass(frozen=True)
class Feature:
    key: str
    ko: str
    en: str
    terms: tuple[Term, ...]


FEATURES: tuple[Feature, ...] = (
    Feature("state", "보관·가공 상태", "state", (
        Term("live", r"live", "살아 있는 것", "live", ("활어", "산 채")),
        Term("fresh", r"fresh", "신선", "fresh", ("생고기", "생물")),
        Term("chilled", r"chilled", "냉장", "chilled"),
        Term("frozen", r"frozen", "냉동", "frozen"),
        Term("dried", r"dried", "건조", "dried", ("말린",)),
        Term("salted", r"salted|in brine", "염장", "salted or in brine", ("소금",)),
        Term("smoked", r"smoked", "훈제", "smoked"),
        Term("prepared", r"prepared|preserved|cooked", "조리·조제", "prepared or preserved", ("조리", "가공품")),
    )),
    Feature("bone", "뼈 포함 여부", "bone", (
        Term("bone_in", r"bone in|with bone", "뼈 있는", "bone in", ("뼈째", "뼈있는")),
        Term("boneless", r"boneless", "뼈 없는", "boneless", ("뼈없는", "순살")),
    )),
    Feature("cut", "부위·형태", "cut", (
        Term("carcass", r"carcasses|half-carcasses|carcass", "도체·반도체", "carcasses or half-carcasses", ("도체",)),
        Term("bellies", r"bellies|belly|streaky", "삼겹살", "bellies"),
        Term("hams", r"hams|shoulders", "햄·어깨살", "hams or shoulders", ("앞다리", "뒷다리")),
        Term("fillets", r"fillets", "필레", "fillets", ("필렛",)),
        Term("offal", r"offal", "부산물", "offal", ("내장",)),
    )),
    Feature("material", "재질", "material", (
        Term("stainless", r"stainless", "스테인리스강", "stainless steel", ("스테인리스", "스텐")),
        Term("iron_steel", r"iron or (?:non-alloy )?steel|iron|steel", "철강", "iron or steel", ("강철", "쇠")),
        Term("aluminium", r"aluminium|aluminum", "알루미늄", "aluminium"),
        Term("copper", r"copper", "구리", "copper", ("황동", "동합금")),
        Term("base_metal", r"base metal", "비금속(卑金屬)", "base metal", ("금속",)),
        Term("plastics", r"plastics?", "플라스틱", "plastics"),
        Term("wood", r"wood|wooden", "목재", "wood", ("나무",)),
        Term("glass", r"glass", "유리", "glass"),
        Term("ceramic", r"ceramic|porcelain", "도자기", "ceramic or porcelain", ("세라믹",)),
        Term("cotton", r"cotton", "면(綿)", "cotton", ("면직", "순면", "코튼")),
        Term("wool", r"wool", "양모", "wool", ("모직",)),
        Term("synthetic", r"synthetic|man-made", "합성섬유", "synthetic fibres", ("폴리에스터", "나일론")),
        Term("leather", r"leather", "가죽", "leather"),
        Term("rubber", r"rubber", "고무", "rubber"),
        Term("paper", r"paper|paperboard", "종이", "paper", ("판지",)),
    )),
    Feature("use", "용도", "use", (
        Term("household", r"household|domestic", "가정용", "household", ("가정", "생활용")),
        Term("kitchen", r"kitchen|table", "주방·식탁용", "kitchen or table", ("주방", "식탁")),
        Term("industrial", r"industrial", "산업용", "industrial", ("공업용",)),
        Term("medical", r"medical|surgical", "의료용", "medical", ("의료",)),
        Term("agricultural", r"agricultural|horticultural", "농업용", "agricultural", ("농업",)),
        Term("vehicle", r"motor vehicles?|vehicles?", "차량용", "for vehicles", ("자동차",)),
    )),
    Feature("form", "형태", "form", (
        Term("primary", r"ingots|primary forms", "잉곳·1차 형태", "ingots or primary forms", ("잉곳",)),
        Term("semi", r"semi-finished", "반제품", "semi-finished", ()),
        Term("bars", r"bars|rods", "봉·막대", "bars or rods", ("막대",)),
        Term("flat", r"flat-rolled|sheets|plates", "판재", "sheets or plates", ("강판", "철판")),
        Term("wire", r"wire", "선재", "wire", ("와이어",)),
        Term("powder", r"powders?", "분말", "powder", ("가루",)),
        Term("parts", r"parts", "부분품", "parts", ("부품",)),
        Term("tools", r"tools?|implements", "공구·도구", "tools", ("공구", "도구")),
        Term("machines", r"machines|machinery|appliances", "기계·기기", "machines or appliances", ("기계",)),
    )),
    Feature("power", "동력", "power", (
        Term("hand", r"hand-operated|hand", "수동", "hand-operated", ("손으로",)),
        Term("electric", r"electric|electro-mechanical|electrical", "전동", "electric", ("전기",)),
    )),
)

QUESTIONS_MAX = 2
# Below the confidence threshold, a candidate is offered to the person from this confidence on (else it is noise).
CANDIDATE_MIN_CONFIDENCE = 0.05


@dataclass(frozen=True)
class Question:
    feature: str  # a Feature key, or "candidate" when only the candidates themselves can be offered
    options: tuple[tuple[str, str], ...]  # (Korean, English) per option

    def text(self, language: str) -> str:
        english = language.startswith("en")
        if self.feature == "candidate":
            shown = " / ".join(en if english else ko for ko, en in self.options)
            return f"Which is closest: {shown}?" if english else f"다음 중 어느 쪽에 가까운가요: {shown}"
        feature = next(f for f in FEATURES if f.key == self.feature)
        names = [en if english else ko for ko, en in self.options]
        if len(names) == 1:
            names.append("something else" if english else "그 밖의 것")
        shown = " / ".join(names)
        if english:
            return f"What is its {feature.en}: {shown}?"
        return f"{feature.ko} — {shown} 중 어느 쪽인가요?"


def _mentioned(feature: Feature, text: str) -> bool:
    lowered = text.lower()
    return any(term.in_english(lowered) or term.in_korean(text) for term in feature.terms)


def follow_up_questions(
    candidates: Sequence[Mapping], text: str, names: Mapping[str, tuple[str, str]] | None = None
) -> list[Question]:
    """The questions that would separate these candidates (each {"code", "description"}), most telling first.

    `names` maps a candidate's code to its (Korean, English) name, for the fallback question.
    """
    descriptions = [str(c.get("description") or "").lower() for c in candidates]
    if len(descriptions) < 2:
        return []
    questions: list[tuple[int, Question]] = []
    for feature in FEATURES:
        if _mentioned(feature, text):
            continue  # the person already said it
        found = [frozenset(t.key for t in feature.terms if t.in_english(d)) for d in descriptions]
        if len(set(found)) < 2:
            continue  # every candidate says the same (or nothing) about it: asking would not help
        union = set().union(*found)
        options = tuple((t.ko, t.en) for t in feature.terms if t.key in union)
        # a feature every candidate names separates them best; one only some name, less
        named = sum(1 for f in found if f)
        questions.append((-named, Question(feature.key, options)))
    questions.sort(key=lambda item: item[0])
    chosen = [q for _, q in questions[:QUESTIONS_MAX]]
    if not chosen and names:
        options = tuple(names[str(c["code"])] for c in candidates if str(c["code"]) in names)
        if len(options) >= 2:
            chosen = [Question("candidate", options)]
    return chosen


def follow_up_texts(questions: Sequence[Question]) -> dict[str, list[str]]:
    """The questions in both page languages."""
    return {language: [q.text(language) for q in questions] for language in ("ko", "en")}
