"""The three detail-page buttons, in the seed 002 `detail_page_button_ready` shape."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from conversations import contracts
from customs.live_services import requirements_service
from customs.selectors import hsk_names_by_hs6, requirement_laws
from trade.live import nitemtrade_connected
from trade.selectors import statistics_availability

from .analysis.nomenclature import get_nomenclature
from .regulations import regulation_summary

HS_CODE, REGULATION, STATISTICS = contracts.HS_CODE, contracts.REGULATION, contracts.STATISTICS
DEFAULT_ORDER = contracts.BUTTON_TYPES

# The person's main intent puts its button first; the rest keep the default order.
_INTENT_FIRST = {
    "regulation_inquiry": REGULATION,
    "trade_statistics": STATISTICS,
    "hscode_search": HS_CODE,
    "tariff_rate": HS_CODE,
}


def button_order(primary_intent: str) -> list[str]:
    first = _INTENT_FIRST.get(primary_intent, HS_CODE)
    return [first] + [b for b in DEFAULT_ORDER if b != first]


def _category_info(code: str) -> dict:
    nomenclature = get_nomenclature()
    entry = nomenclature.get(code)
    return {
        "chapter": code[:2],
        "heading": code[:4] if len(code) >= 4 else "",
        "subheading": code if len(code) == 6 else "",
        "description": entry.description if entry else "",
    }


def hs_code_button(*, code: str, display: str, confidence: float, source: str, session_id: str, priority: int,
                   candidate: contracts.CandidateLabel | None = None) -> dict:
    return contracts.hs_code_button_data(
        display=display, url=reverse("hscode:detail", args=[display]), confidence=confidence, source=source,
        category_info=_category_info(code), session_id=session_id, priority=priority, candidate=candidate,
    )


def candidate_names(codes: list[str]) -> dict[str, tuple[str, str]]:
    """Each 6-digit code's (Korean, English) name: the 관세청 HSK names, else the HS 2022 English text."""
    digits = ["".join(ch for ch in code if ch.isdigit())[:6] for code in codes]
    korean = hsk_names_by_hs6(digits, "ko")
    english = hsk_names_by_hs6(digits, "en")
    nomenclature = get_nomenclature()
    names = {}
    for code, hs6 in zip(codes, digits, strict=True):
        entry = nomenclature.get(hs6)
        fallback = entry.description if entry else ""
        names[code] = (korean.get(hs6) or fallback, english.get(hs6) or fallback)
    return names


def candidate_button(
    *, code: str, confidence: float, rank: int, names: tuple[str, str], language: str, source: str, session_id: str
) -> dict:
    """One candidate code below the confidence threshold, as an HS_CODE button flagged `candidate`."""
    digits = "".join(ch for ch in code if ch.isdigit())[:6]
    display = f"{digits[:4]}.{digits[4:]}"
    name_ko, name_en = names
    return hs_code_button(code=digits, display=display, confidence=confidence, source=source, session_id=session_id,
                          priority=rank, candidate=contracts.CandidateLabel(rank, name_ko, name_en, language))


def regulation_description(code: str) -> str:
    """What the regulation page will show: Korea's requirements only when a requirements service is connected."""
    if requirements_service() is not None and len(code) == 6:
        return "한국 수출입 요건(세관장확인대상)과 EU 규제 표준"
    return "EU 규제 표준(CBAM·EUDR·EUTR·PPWR) 적용 여부"


def statistics_description(code: str, availability: dict) -> str:
    """What the statistics page will show: figures when some are loaded or can be fetched, else that there are none."""
    if availability["dataRange"] is not None:
        return "수출입 현황, 트렌드 분석"
    if nitemtrade_connected() and len(code) == 6:
        return "관세청 최근 24개월 수출입 실적 조회"
    return "불러온 무역 통계 없음 (자료 현황 안내)"


def regulation_button(*, code: str, display: str, priority: int) -> dict:
    summary = regulation_summary(code)
    # Korea's requirements first (the laws of the stored 세관장확인대상 rows), the EU marks after.
    digits = "".join(ch for ch in display if ch.isdigit())
    korean = requirement_laws(digits if len(digits) == 10 else code) if len(code) == 6 else []
    summary["regulationTypes"] = korean + summary["regulationTypes"]
    url = f"{reverse('hscode:regulation')}?{urlencode(contracts.regulation_query(display))}"
    return contracts.regulation_button_data(display=display, url=url, description=regulation_description(code),
                                            summary=summary, priority=priority)


def statistics_button(*, code: str, display: str, priority: int) -> dict:
    availability = statistics_availability(code)
    url = f"{reverse('hscode:statistics')}?{urlencode(contracts.statistics_query(display))}"
    return contracts.statistics_button_data(display=display, url=url,
                                            description=statistics_description(code, availability),
                                            availability=availability, priority=priority)


def button_build(button_type: str, *, analysis: contracts.HscodeAnalysisRecord, session_id: str) -> dict:
    """Build one button from a stored hscode_analysis."""
    code, display = analysis.resolved["code"], analysis.resolved["display"]
    priority = analysis.button_order.index(button_type) + 1
    if button_type == HS_CODE:
        return hs_code_button(
            code=code,
            display=display,
            confidence=analysis.classification_confidence,
            source=analysis.analysis_source,
            session_id=session_id,
            priority=priority,
        )
    if button_type == REGULATION:
        return regulation_button(code=code, display=display, priority=priority)
    if button_type == STATISTICS:
        return statistics_button(code=code, display=display, priority=priority)
    raise ValueError(f"unknown button type {button_type!r}")
