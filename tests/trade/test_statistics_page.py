"""The statistics page and the STATISTICS button metadata show what was imported, and only that."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from hscode.buttons import statistics_button
from trade.selectors import statistics_availability

from .conftest import COMTRADE_COFFEE, KCS_COFFEE_CP949, KCS_STEEL_UTF8_BOM, run_import

pytestmark = pytest.mark.django_db


def _page(hscode: str, period: str | None = None) -> str:
    params = {"hscode": hscode}
    if period is not None:
        params["period"] = period
    response = Client().get("/statistics", params)
    assert response.status_code == 200
    return response.content.decode()


def _row(body: str, label: str) -> str:
    """The text of the table row whose header cell is `label`."""
    match = re.search(rf'<tr>\s*<th scope="row">{re.escape(label)}</th>(.*?)</tr>', body, re.S)
    assert match, f"no row {label}"
    return re.sub(r"<[^>]+>", " ", match.group(1))


def test_comtrade_import_shows_world_totals_partner_sums_and_top_partners_for_all_years():
    run_import(COMTRADE_COFFEE)
    body = _page("0901.11", "all")
    assert "UN Comtrade" in body
    row_2022 = _row(body, "2022")
    assert "1,020,500,000" in row_2022 and "195,000,000" in row_2022  # the reported World row
    assert "보고된 합계" in row_2022
    row_2023 = _row(body, "2023")
    assert "594,400,000" in row_2023 and "140,600,000" in row_2023  # no World row: sum of the four partners
    assert "2,950,000" in row_2023 and "상대국 합산" in row_2023
    partners = body[body.index("주요 상대국"):]
    order = [partners.index(name) for name in ("Brazil", "Colombia", "Viet Nam", "Ethiopia")]
    assert order == sorted(order)
    assert "482,400,000" in partners  # Brazil 2022 + 2023
    assert "<svg" in body and "<script" not in body


def test_period_filter_latest_and_a_year_select_the_right_periods():
    run_import(COMTRADE_COFFEE)
    latest = _page("0901.11")  # the button's link uses period=latest; it is also the default
    assert "594,400,000" in latest and "1,020,500,000" not in latest
    assert "232,100,000" in latest  # Brazil in 2023 only
    year_2022 = _page("0901.11", "2022")
    assert "1,020,500,000" in year_2022 and "594,400,000" not in year_2022
    missing = _page("0901.11", "2019")
    assert "선택한 기간에는 이 자료의 수치가 없습니다" in missing and "2022, 2023" in missing
    odd = _page("0901.11", "yesterday")
    assert "알 수 없어 최근 연도를 표시합니다" in odd and "594,400,000" in odd


def test_kcs_monthly_import_shows_month_totals_and_the_total_row_of_march():
    run_import(KCS_STEEL_UTF8_BOM)
    body = _page("7208.51", "latest")
    assert "관세청" in body and "월간" in body
    january = _row(body, "2024-01")
    assert "5,705,400" in january and "21,104,000" in january and "6,420,000" in january and "25,050,000" in january
    february = _row(body, "2024-02")
    assert "5,251,000" in february and "20,795,000" in february
    march = _row(body, "2024-03")
    assert "7,085,000" in march and "14,051,000" in march and "보고된 합계" in march
    assert "18,041,400" in body and "55,950,000" in body  # totals of the three months
    partners = body[body.index("주요 상대국"):]
    assert partners.index("미국") < partners.index("베트남") < partners.index("일본")


def test_kcs_national_lines_answer_for_their_subheading_and_for_themselves():
    run_import(KCS_COFFEE_CP949)
    body = _page("0901.21", "all")
    assert "0901.21-0000" in body and "국가 세분류" in body
    assert "175,405,000" in _row(body, "2023") and "147,990,000" in _row(body, "2024")
    exact = _page("0901.21-0000", "2023")
    assert "175,405,000" in exact and "322,000" in exact
    assert "그 아래 관세청 국가 세분류" not in exact


def test_statistics_availability_is_computed_from_the_imported_rows():
    assert statistics_availability("720851") == {
        "statisticsAvailable": {"export": False, "import": False, "trends": False, "countries": 0},
        "dataRange": None,
    }
    run_import(KCS_STEEL_UTF8_BOM)
    run_import(COMTRADE_COFFEE)
    steel = statistics_availability("720851")
    assert steel["statisticsAvailable"] == {"export": True, "import": True, "trends": True, "countries": 4}
    assert steel["dataRange"]["startDate"] == "2024-01-01" and steel["dataRange"]["endDate"] == "2024-03-31"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", steel["dataRange"]["latestUpdate"])
    coffee = statistics_availability("090111")
    assert coffee["statisticsAvailable"] == {"export": True, "import": True, "trends": True, "countries": 5}
    assert (coffee["dataRange"]["startDate"], coffee["dataRange"]["endDate"]) == ("2022-01-01", "2023-12-31")


def test_statistics_button_metadata_follows_the_loaded_data():
    run_import(KCS_COFFEE_CP949)
    button = statistics_button(code="090121", display="0901.21", priority=3)
    assert button["metadata"]["statisticsAvailable"] == {"export": True, "import": True, "trends": True, "countries": 3}
    assert button["metadata"]["dataRange"]["endDate"] == "2024-12-31"
    assert button["url"] == "/statistics?hscode=0901.21&period=latest"


def test_empty_state_shows_no_operator_command_to_a_visitor_and_invents_nothing(settings):
    settings.KCS_NITEMTRADE_KEY = ""
    run_import(KCS_STEEL_UTF8_BOM)  # other codes loaded, none for 8517.13
    body = _page("8517.13")
    assert "manage.py" not in body and "import_trade_statistics" not in body
    assert "불러온 무역 통계가 없습니다" in body
    assert "관세청 수출입실적 서비스가 연결되어 있지 않아" in body
    assert "<svg" not in body and "USD" not in body.split("불러온 자료 현황")[1].split("불러온 무역 통계가 없습니다")[0]


def test_statistics_page_in_english():
    run_import(KCS_STEEL_UTF8_BOM)
    client = Client()
    client.cookies["django_language"] = "en"
    body = client.get("/statistics", {"hscode": "7208.51"}).content.decode()
    assert '<html lang="en">' in body
    assert "Trade statistics for HS 7208.51" in body and "Top partner countries" in body
    assert "21,104,000" in body
