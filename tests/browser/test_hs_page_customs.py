"""The HS page with the 관세청 data in a real browser (Debian's Chromium), Korean and English, with and without
a tariff file loaded; the screenshots are kept in var/screenshots as test artifacts."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.browser.test_chat_page import SCREENSHOTS, browser  # noqa: F401  (the module's Chromium)
from tests.support.kcs_files import sample_tariff_rows, write_tariff_xlsx

pytestmark = [pytest.mark.browser, pytest.mark.integration]

EXPECTED = {
    ("ko", False): ["삼겹살", "기타(삼겹살 외)", "관세율표 파일이 적재되어 있지 않아"],
    ("ko", True): ["삼겹살", "기본세율(A)", "25%", "22.5%", "출처: 관세청 관세율표"],
    ("en", False): ["Streaky pork", "No Korea Customs tariff schedule file is loaded"],
    ("en", True): ["Streaky pork", "Basic rate (A)", "25%", "Source: Korea Customs Service tariff schedule"],
}


@pytest.mark.parametrize("with_rates", [False, True], ids=["no-rates", "rates"])
@pytest.mark.parametrize("language", ["ko", "en"])
def test_hs_page_shows_hsk_lines_and_rates_in_a_real_browser(
    browser, live, hsk_table, tmp_path, language, with_rates  # noqa: F811
):
    if with_rates:
        path = write_tariff_xlsx(tmp_path / "관세청_품목번호별 관세율표.xlsx", {"Sheet1": sample_tariff_rows()})
        call_command("import_tariff_rates", str(path), "--no-progress", verbosity=0)
    context = browser.new_context(locale="ko-KR", viewport={"width": 1200, "height": 900})
    if language == "en":
        context.add_cookies([{"name": "django_language", "value": "en", "url": live.base_url}])
    page = context.new_page()
    try:
        for code in ("0203.29", "8517.13"):
            response = page.goto(f"{live.base_url}/detail/hscode/{code}/")
            assert response.status == 200
            assert page.locator("html").get_attribute("lang") == language
            table = page.locator("table.hsk-lines")
            assert table.is_visible()
            if with_rates:
                page.locator("table.hsk-lines details summary").first.click()
                assert page.locator("ul.fta-rates").first.is_visible()
            text = page.locator("main").inner_text()
            if code == "0203.29":
                for expected in EXPECTED[(language, with_rates)]:
                    assert expected in text, (language, with_rates, expected)
            else:
                assert ("스마트폰" if language == "ko" else "Smartphones") in text
            name = f"hscode-{code.replace('.', '')}-{language}-{'rates' if with_rates else 'no-rates'}.png"
            page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    finally:
        context.close()
