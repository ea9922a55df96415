"""The duty estimate on the HS page: right to the won, computed here independently of kcs.duty, with every input
and source shown; without a live exchange rate the value may be entered in won."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from kcs.duty import RateOption, applicable_rate, fta_types_for
from tests.customs.kcs_fixtures import cached_answers, kcs_fake, kcs_no_keys  # noqa: F401
from tests.fakes.kcs_server import FX_ROWS, TARIFF_ROWS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]
PAGE = "/detail/hscode/0203.29-1000/"


def _fake_rate(rate_type: str) -> Fraction:
    return Fraction(next(rate for code, _, rate in TARIFF_ROWS["0203291000"] if code == rate_type))


def _fx(currency: str) -> Fraction:
    return Fraction(next(rate for _, _, rate, curr in FX_ROWS if curr == currency))


def _expected(krw: int, rate: Fraction) -> dict[str, int]:
    """관세 = ⌊과세가격 × 세율⌋, 부가세 = ⌊(과세가격 + 관세) × 10%⌋ (to the won, floors by integer division)."""
    duty = (krw * rate.numerator) // (100 * rate.denominator)
    vat = (krw + duty) // 10
    return {"customs-value": krw, "duty": duty, "vat": vat, "total": duty + vat}


def _shown(page: str) -> dict[str, int]:
    found = dict(re.findall(r'data-field="([a-z-]+)">(?:<strong>)?(\d+)원', page))
    return {key: int(value) for key, value in found.items()}


def test_usd_value_from_china_uses_the_lower_of_basic_and_wto(client, kcs_fake):  # noqa: F811
    page = client.get(PAGE, {"value": "12345.67", "currency": "USD", "origin": "CN"}).content.decode()
    krw = int(Fraction("12345.67") * _fx("USD"))  # ⌊value × 과세환율⌋
    assert _shown(page) == _expected(krw, min(_fake_rate("A"), _fake_rate("C")))
    assert _shown(page)["duty"] == 3847774  # 17,101,222 원 × 22.5 %, worked by hand
    assert "WTO협정세율이 기본세율보다 낮아 적용됩니다" in page
    for shown in ("USD 12345.67", "1 USD = 1385.20원", "관세청_관세환율정보(GW), 공공데이터포털 15101230",
                  "관세청 UNI-PASS API030 관세율 기본 조회", "CN"):
        assert shown in page


def test_an_fta_origin_gets_the_fta_rate(client, kcs_fake):  # noqa: F811
    page = client.get(PAGE, {"value": "980", "currency": "CNY", "origin": "CA"}).content.decode()
    krw = int(Fraction(980) * _fx("CNY"))
    assert _shown(page) == _expected(krw, _fake_rate("FCA1"))
    assert "한ㆍ캐나다 FTA협정세율(선택1) (FCA1) 5.4%" in page
    assert "원산지증명서를 갖추고 협정관세 적용을 신청해야" in page


def test_eu_origin_at_zero_duty_still_pays_vat(client, kcs_fake):  # noqa: F811
    page = client.get(PAGE, {"value": "5000", "currency": "EUR", "origin": "de"}).content.decode()
    krw = int(Fraction(5000) * _fx("EUR"))
    assert _shown(page) == _expected(krw, Fraction(0))


def test_without_an_exchange_rate_service_the_value_is_entered_in_won(client, kcs_fake, settings):  # noqa: F811
    settings.KCS_FX_KEY = ""
    empty = client.get(PAGE).content.decode()
    assert "관세환율 서비스가 연결되어 있지 않아" in empty and "manage.py" not in empty
    page = client.get(PAGE, {"krw": "2500000", "origin": "US"}).content.decode()
    assert _shown(page) == _expected(2500000, _fake_rate("FUS1"))


def test_a_failed_exchange_rate_says_so_and_caches_nothing(client, kcs_fake):  # noqa: F811
    kcs_fake.set_fault("quota", service="fx_gw")
    page = client.get(PAGE, {"value": "100", "currency": "USD", "origin": "CN"}).content.decode()
    assert "이번 주 관세환율을 가져오지 못했습니다" in page and "오늘 조회 한도" in page
    assert _shown(page) == {}
    assert not [k for k in cached_answers(kcs_fake.redis_prefix) if b"fx_gw" in k]


def test_bad_input_gets_a_clear_error(client, kcs_fake):  # noqa: F811
    page = client.get(PAGE, {"value": "-5", "origin": "C1"}).content.decode()
    assert "두 글자 국가 코드" in page and _shown(page) == {}
    page = client.get(PAGE, {"origin": "US"}).content.decode()
    assert "과세가격(외화) 또는 원화 과세가격 중 하나를 입력하세요" in page


def test_the_rate_rule_prefers_fta_only_when_lower():
    basic, wto = RateOption("A", "기본세율", Fraction(8)), RateOption("C", "WTO협정세율", Fraction(6.5))
    higher_fta = RateOption("FUS1", "한ㆍ미", Fraction(7))
    assert applicable_rate(basic, wto, [higher_fta])[1] == "wto"
    assert applicable_rate(basic, None, [])[1] == "basic"
    assert fta_types_for("cn") == ["FCN1", "FRCCN1"] and "FEU1" in fta_types_for("DE")


def test_the_duty_estimate_in_english(client, kcs_fake):  # noqa: F811
    client.cookies["django_language"] = "en"
    page = client.get(PAGE, {"value": "100", "currency": "USD", "origin": "US"}).content.decode()
    assert "Estimated duty and VAT (HSK 0203.29-1000)" in page and "Customs duty" in page
    assert _shown(page) == _expected(int(Fraction(100) * _fx("USD")), _fake_rate("FUS1"))
