"""import_trade_statistics: both CSV layouts, both Korean encodings, idempotent, all-or-nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import CommandError

from trade.models import TradeFlow

from .conftest import COMTRADE_COFFEE, FIXTURES, KCS_COFFEE_CP949, KCS_MALFORMED, KCS_STEEL_UTF8_BOM, run_import

pytestmark = pytest.mark.django_db


def _snapshot():
    return sorted(
        TradeFlow.objects.values_list(
            "source", "reporter", "partner", "flow", "hs_code", "period", "granularity",
            "partner_name", "value_usd", "net_weight_kg", "imported_at",
        )
    )


def test_comtrade_layout_is_detected_and_only_total_import_export_rows_load():
    output = run_import(COMTRADE_COFFEE)
    assert "UN Comtrade layout" in output
    assert "skipped 1 row(s): flowCode RX" in output
    assert "skipped 1 row(s): motCode breakdown" in output
    assert TradeFlow.objects.count() == 10
    world = TradeFlow.objects.get(partner=TradeFlow.WORLD, period__year=2022, flow="import")
    assert (world.hs_code, world.reporter, world.source) == ("090111", "KOR", "comtrade")
    assert world.value_usd == Decimal("1020500000") and world.net_weight_kg == Decimal("195000000")
    brazil = TradeFlow.objects.get(partner="BRA", period__year=2022, flow="import")
    assert brazil.value_usd == Decimal("250300000")  # the TOTAL MOT row, not the sea-transport breakdown
    assert not TradeFlow.objects.filter(flow="export", period__year=2023).exclude(value_usd=Decimal("2950000")).exists()


def test_kcs_layout_in_utf8_with_bom_loads_one_row_per_flow_and_keeps_the_total_row_as_world():
    output = run_import(KCS_STEEL_UTF8_BOM)
    assert "관세청" in output and "utf-8-sig" in output
    assert TradeFlow.objects.filter(source="kcs").count() == 18
    us_jan = TradeFlow.objects.get(partner="US", flow="export", period="2024-01-01")
    assert (us_jan.reporter, us_jan.granularity, us_jan.partner_name) == ("KOR", "month", "미국")
    assert us_jan.value_usd == Decimal("12354000") and us_jan.net_weight_kg == Decimal("14200000")
    total = TradeFlow.objects.get(partner=TradeFlow.WORLD, flow="import", period="2024-03-01")
    assert total.value_usd == Decimal("7085000")


def test_kcs_layout_in_cp949_converts_thousand_dollars_and_tonnes():
    output = run_import(KCS_COFFEE_CP949)
    assert "cp949" in output
    us_2023 = TradeFlow.objects.get(partner="US", flow="import", period="2023-01-01")
    assert us_2023.hs_code == "0901210000"  # the 10-digit HSK line, as reported
    assert us_2023.value_usd == Decimal("98765000")  # 98,765 천달러
    assert us_2023.net_weight_kg == Decimal("4210300")  # 4,210.3 톤
    assert us_2023.partner_name == "미국"


def test_reimporting_the_same_file_changes_nothing():
    run_import(KCS_STEEL_UTF8_BOM)
    run_import(COMTRADE_COFFEE)
    before = _snapshot()
    output = run_import(KCS_STEEL_UTF8_BOM)
    assert "0 new, 0 updated, 18 unchanged" in output
    output = run_import(COMTRADE_COFFEE)
    assert "0 new, 0 updated, 10 unchanged" in output
    assert _snapshot() == before  # same rows, same figures, not even imported_at touched


def test_reimporting_a_corrected_file_updates_the_row_in_place(tmp_path):
    run_import(KCS_STEEL_UTF8_BOM)
    text = KCS_STEEL_UTF8_BOM.read_bytes().decode("utf-8-sig")
    corrected = tmp_path / "kcs_720851_corrected.csv"
    corrected.write_text(text.replace('"12,354,000"', '"12,400,000"'), encoding="utf-8-sig")
    output = run_import(corrected)
    assert "0 new, 1 updated, 17 unchanged" in output
    assert TradeFlow.objects.count() == 18
    row = TradeFlow.objects.get(partner="US", flow="export", period="2024-01-01")
    assert row.value_usd == Decimal("12400000") and row.source_file == "kcs_720851_corrected.csv"


def test_malformed_file_loads_nothing_and_the_error_names_each_bad_line():
    run_import(COMTRADE_COFFEE)
    before = _snapshot()
    with pytest.raises(CommandError) as error:
        run_import(KCS_MALFORMED)
    message = str(error.value)
    assert "nothing was loaded" in message
    assert "(3, 5, 6, 7, 8, 9)" in message
    assert "line 3: 수출금액 '7,74a,000' is not a number" in message
    assert "line 5: 기간 '2024.13' has no month 13" in message
    assert "line 6: 국가코드" in message
    assert "line 7: repeats the export row of line 2" in message
    assert "line 8: HS코드 '72085'" in message
    assert "line 9: has 7 fields, the header has 9" in message
    assert "line 2:" not in message and "line 4:" not in message
    assert _snapshot() == before  # the good lines 2 and 4 were not loaded either


def test_unknown_header_is_rejected_on_line_1(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("date,country,code,value\n2024-01,US,851713,100\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 1: header matches neither layout"):
        run_import(path)
    assert TradeFlow.objects.count() == 0


def test_file_in_neither_utf8_nor_cp949_is_rejected(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81\xff" * 10)
    with pytest.raises(CommandError, match="neither UTF-8 nor CP949"):
        run_import(path)


def test_tab_separated_comtrade_file_is_read(tmp_path):
    path = tmp_path / "comtrade.txt"
    path.write_text(COMTRADE_COFFEE.read_text(encoding="utf-8").replace(",", "\t"), encoding="utf-8")
    run_import(path)
    assert TradeFlow.objects.count() == 10


def test_dry_run_validates_without_writing():
    output = run_import(KCS_STEEL_UTF8_BOM, "--dry-run")
    assert "dry run" in output
    assert TradeFlow.objects.count() == 0


def test_fixture_files_are_in_the_encodings_they_claim():
    assert KCS_STEEL_UTF8_BOM.read_bytes().startswith(b"\xef\xbb\xbf")
    raw = KCS_COFFEE_CP949.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "기간" in raw.decode("cp949")
    assert FIXTURES.is_dir()


def test_monthly_comtrade_rows_load_as_months_from_a_gzip_file(tmp_path):
    import gzip

    text = COMTRADE_COFFEE.read_text(encoding="utf-8")
    header, *lines = text.splitlines()
    monthly = [header] + [
        line.replace("C,A,20220101,2022,52,2022,", "C,M,20220301,2022,3,202203,")
        for line in lines
        if line.startswith("C,A,20220101,2022,52,2022,")
    ]
    path = tmp_path / "comtrade_monthly.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(monthly) + "\n")
    run_import(path)
    assert set(TradeFlow.objects.values_list("granularity", "period")) == {("month", date(2022, 3, 1))}
    assert TradeFlow.objects.count() == 5  # World + four partners; the sea-transport breakdown is skipped


def test_comtrade_period_that_disagrees_with_its_frequency_is_a_bad_line(tmp_path):
    text = COMTRADE_COFFEE.read_text(encoding="utf-8").splitlines()
    text[4] = text[4].replace("C,A,20220101,2022,52,2022,", "C,M,20220101,2022,52,2022,")
    path = tmp_path / "comtrade_bad.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"line 5: period '2022' does not fit freqCode 'M'"):
        run_import(path)
    assert TradeFlow.objects.count() == 0
