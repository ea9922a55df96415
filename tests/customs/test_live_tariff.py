"""UNI-PASS API030 live tariff rows replace the 관세율표 file's for that code when its key is set."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from customs.services import tariff_rates_current
from tests.customs.kcs_fixtures import cached_answers, kcs_fake, kcs_no_keys  # noqa: F401
from tests.support.kcs_files import tariff_row, write_tariff_csv

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]
ON = dt.date(2026, 6, 1)


@pytest.fixture
def tariff_file(tmp_path):
    path = write_tariff_csv(tmp_path / "rates.csv", [
        tariff_row("0203291000", "A", "25", "20260101", "20261231"),
        tariff_row("0203291000", "C", "25", "20260101", "20261231"),
        tariff_row("0203299000", "A", "25", "20260101", "20261231"),
    ])
    call_command("import_tariff_rates", str(path), "--no-progress", verbosity=0)
    return path


def test_api030_rows_replace_the_files_for_that_code(kcs_fake, tariff_file):  # noqa: F811
    info = tariff_rates_current(["0203291000", "0203299000"], on=ON)
    live = info.by_code["0203291000"]
    assert info.live_codes == frozenset({"0203291000"})
    assert live.wto.rate == Decimal("22.5")  # the file said 25; API030 says 22.5
    assert {r.rate_type for r in live.fta} == {"FCL1", "FEU1", "FUS1", "FCA1"}
    assert next(r for r in live.fta if r.rate_type == "FUS1").name_ko == "한ㆍ미 FTA 협정세율(선택1)"  # verbatim
    # API030 has no rows for 0203.29-9000 ("조회된 관세율 정보가 없습니다"): the file stays its answer.
    assert info.by_code["0203299000"].basic.rate == Decimal("25")


def test_without_its_key_the_file_is_the_answer(kcs_no_keys, tariff_file):  # noqa: F811
    info = tariff_rates_current(["0203291000"], on=ON)
    assert info.live_codes == frozenset() and info.by_code["0203291000"].wto.rate == Decimal("25")


def test_a_refused_api030_key_falls_back_to_the_file_and_caches_nothing(kcs_fake, settings, tariff_file):  # noqa: F811
    settings.KCS_API030_KEY = "fake-unipass-api029-key"  # a key issued for another API
    info = tariff_rates_current(["0203291000"], on=ON)
    assert info.live_codes == frozenset() and info.live_error_code == "KCS_UNIPASS_KEY_REFUSED"
    assert info.by_code["0203291000"].wto.rate == Decimal("25")
    assert cached_answers(kcs_fake.redis_prefix) == []


def test_the_hs_page_shows_the_live_rows_with_their_source(client, kcs_fake, tariff_file):  # noqa: F811
    page = client.get("/detail/hscode/0203.29/").content.decode()
    assert "관세청 UNI-PASS API030 관세율 기본 조회" in page
    assert "22.5%" in page
