"""The Korea Customs pages in a real browser (Debian's Chromium) against a live stack (daphne + a Celery worker)
wired to the fake KCS services: the regulation page lists the requirement rows, the statistics page shows its
progress and then the chart drawn from the fake's nitemtrade answer (fetched by the worker on the io queue), and
the duty estimate computes from a typed value. Korean and English; screenshots kept in var/screenshots."""

from __future__ import annotations

import pytest

from tests.browser.test_chat_page import SCREENSHOTS, browser  # noqa: F401  (the module's Chromium)
from tests.customs.kcs_fixtures import kcs_stack  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.integration]

TEXT = {
    "ko": {"requirements": "한국 수출입 요건", "none": "조회된 요건 없음", "duty": "관세·부가가치세 예상",
           "progress": "가져오는 중"},
    "en": {"requirements": "import/export requirements", "none": "No requirement found",
           "duty": "Estimated duty and VAT", "progress": "Fetching"},
}


@pytest.mark.parametrize("language", ["ko", "en"])
def test_korea_customs_pages_in_a_real_browser(browser, kcs_stack, hsk_table, language):  # noqa: F811
    stack, fake = kcs_stack
    text = TEXT[language]
    context = browser.new_context(locale="ko-KR", viewport={"width": 1200, "height": 900})
    if language == "en":
        context.add_cookies([{"name": "django_language", "value": "en", "url": stack.base_url}])
    page = context.new_page()
    try:
        # Regulation: Korea's requirement rows first, the EU standards after.
        assert page.goto(f"{stack.base_url}/regulation?hscode=0203.29&country=ALL").status == 200
        main = page.locator("main").inner_text()
        for row in ("가축전염병 예방법", "농림축산검역본부", "수입검역증명서", "식품의약품안전처"):
            assert row in main
        assert text["requirements"] in main and text["none"] in main
        assert main.index(text["requirements"]) < main.index("CBAM")
        page.screenshot(path=str(SCREENSHOTS / f"kcs-regulation-020329-{language}.png"), full_page=True)

        # Statistics: fetched by the worker on first need; the page shows progress, then the chart.
        assert page.goto(f"{stack.base_url}/statistics?hscode=0203.29&period=all").status == 200
        first = page.locator("main").inner_text()
        assert text["progress"] in first or page.locator("figure.trade-chart").count() == 1
        page.wait_for_selector("figure.trade-chart", timeout=90_000)  # the page reloads itself every 3 s
        main = page.locator("main").inner_text()
        assert "nitemtrade" in main and ("미국" in main)
        assert page.locator("figure.trade-chart rect").count() > 0
        page.screenshot(path=str(SCREENSHOTS / f"kcs-statistics-020329-{language}.png"), full_page=True)

        # Duty estimate: value, currency and origin in; every input, source and figure out.
        assert page.goto(f"{stack.base_url}/detail/hscode/0203.29-1000/").status == 200
        page.fill("#id_value", "12345.67")
        page.select_option("#id_currency", "USD")
        page.fill("#id_origin", "CN")
        page.locator("form.duty-form button[type=submit]").click()
        page.wait_for_selector("table.duty-result")
        result = page.locator("table.duty-result").inner_text()
        assert "3847774" in result and "17101222" in result  # 22.5 % of ⌊12,345.67 × 1,385.20⌋
        assert text["duty"] in page.locator("main").inner_text()
        page.locator("section.duty-estimate").screenshot(
            path=str(SCREENSHOTS / f"kcs-duty-estimate-020329-1000-{language}.png"))
    finally:
        context.close()
    assert fake.request_count("nitemtrade") >= 2
