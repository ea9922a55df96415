"""The three detail-page buttons, in the seed 002 `detail_page_button_ready` shape."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from conversations.contracts import now_iso
from customs.live_services import requirements_service
from customs.selectors import hsk_names_by_hs6, requirement_laws
from trade.live import nitemtrade_connected
from trade.selectors import statistics_availability

from .analysis.nomenclature import get_nomenclature
from .regulations import regulation_summary

HS_CODE, REGULATION, STATISTICS = "HS_CODE", "REGULATION", "STATISTICS"
DEFAULT_ORDER = (HS_CODE, REGULATION, STATISTICS)

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


def hs_code_button(*, code: str, display: str, confidence: float, source: str, session_id: str, priority: int) -> dict:
    return {
        "type": "button",
        "buttonType": HS_CODE,
        "priority": priority,
        "url": reverse("hscode:detail", args=[display]),
        "title": "HS Code 상세정보",
        "description": "관세율, 규제정보 등 상세 조회",
        "isReady": True,
        "metadata": {
            "hscode": display,
            "country": "KR",
            "confidence": round(confidence, 4),
            "searchTime": now_iso(),
            "analysisSource": source,
            "categoryInfo": _category_info(code),
        },
        "actionData": {
            "queryParams": {"hscode": display, "source": "chat_analysis", "session_id": session_id},
            "analytics": {"click_tracking": True, "conversion_target": "hscode_detail_view"},
        },
    }


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
    english = language.startswith("en")
    percent = round(confidence * 100)
    button = hs_code_button(code=digits, display=display, confidence=confidence, source=source,
                            session_id=session_id, priority=rank)
    button["title"] = f"{display} {name_en if english else name_ko}".strip()
    button["description"] = (f"candidate {rank}, confidence {percent}%" if english
                             else f"후보 {rank} · 신뢰도 {percent}%")
    button["metadata"].update(candidate=True, candidateRank=rank, nameKo=name_ko, nameEn=name_en)
    button["actionData"]["queryParams"]["source"] = "chat_candidate"
    return button


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
    query = {"hscode": display, "country": "ALL"}
    summary = regulation_summary(code)
    # Korea's requirements first (the laws of the stored 세관장확인대상 rows), the EU marks after.
    digits = "".join(ch for ch in display if ch.isdigit())
    korean = requirement_laws(digits if len(digits) == 10 else code) if len(code) == 6 else []
    summary["regulationTypes"] = korean + summary["regulationTypes"]
    return {
        "type": "button",
        "buttonType": REGULATION,
        "priority": priority,
        "url": f"{reverse('hscode:regulation')}?{urlencode(query)}",
        "title": "규제 정보 상세보기",
        "description": regulation_description(code),
        "isReady": True,
        "metadata": {"hscode": display, **summary},
        "actionData": {"queryParams": {**query, "regulation_type": "export"}},
    }


def statistics_button(*, code: str, display: str, priority: int) -> dict:
    query = {"hscode": display, "period": "latest"}
    availability = statistics_availability(code)
    return {
        "type": "button",
        "buttonType": STATISTICS,
        "priority": priority,
        "url": f"{reverse('hscode:statistics')}?{urlencode(query)}",
        "title": "무역 통계 상세보기",
        "description": statistics_description(code, availability),
        "isReady": True,
        "metadata": {"hscode": display, **availability},
        "actionData": {"queryParams": {**query, "view": "summary"}},
    }


def button_build(button_type: str, *, analysis: dict, session_id: str) -> dict:
    """Build one button from a stored hscode_analysis."""
    resolved = analysis["resolved"]
    code, display = resolved["code"], resolved["display"]
    priority = analysis["button_order"].index(button_type) + 1
    if button_type == HS_CODE:
        return hs_code_button(
            code=code,
            display=display,
            confidence=analysis["classification_confidence"],
            source=analysis["analysis_source"],
            session_id=session_id,
            priority=priority,
        )
    if button_type == REGULATION:
        return regulation_button(code=code, display=display, priority=priority)
    if button_type == STATISTICS:
        return statistics_button(code=code, display=display, priority=priority)
    raise ValueError(f"unknown button type {button_type!r}")
