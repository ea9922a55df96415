"""manage.py import_tariff_rates loads the 관세율표 (xlsx or csv); a re-import replaces the periods it covers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from customs.models import TariffImport, TariffRate
from customs.selectors import tariff_rates
from tests.support.kcs_files import (
    sample_tariff_rows,
    tariff_row,
    this_year_period,
    write_tariff_csv,
    write_tariff_xlsx,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def test_xlsx_import_stores_rates_per_code_and_type_with_period_and_source(tmp_path, capsys):
    rows = sample_tariff_rows()
    path = write_tariff_xlsx(tmp_path / "관세청_품목번호별 관세율표.xlsx", {"1": rows[:8], "2": rows[6:]})

    call_command("import_tariff_rates", str(path), "--no-progress")

    out = capsys.readouterr().out
    assert f"loaded {len(rows)} rates for 3 codes" in out
    stored = TariffRate.objects.get(code="0203291000", rate_type="C")
    assert stored.rate == Decimal("22.5") and stored.valid_from == dt.date(dt.date.today().year, 1, 1)
    assert stored.source.source_file == path.name

    info = tariff_rates(["0203291000", "0203299000"])
    pork = info.by_code["0203291000"]
    assert (pork.basic.percent, pork.wto.percent) == ("25%", "22.5%")
    assert [r.rate_type for r in pork.fta] == ["FCL1", "FEU1", "FUS1", "FCN1"]  # lowest first
    assert pork.lowest_fta.rate == 0 and info.by_code["0203299000"].lowest_fta.rate_type == "FUS1"


def test_reimport_replaces_the_rates_of_the_period_it_covers_and_keeps_other_periods(tmp_path):
    start, end = this_year_period()
    last_year = str(int(start[:4]) - 1)
    old = [tariff_row("8517130000", "A", "8", f"{last_year}0101", f"{last_year}1231"),
           tariff_row("8517130000", "A", "8", start, end), tariff_row("8517130000", "FCN1", "3", start, end)]
    call_command("import_tariff_rates", str(write_tariff_csv(tmp_path / "old.csv", old)), "--no-progress")
    new = [tariff_row("8517130000", "A", "6.5", start, end)]

    call_command("import_tariff_rates", str(write_tariff_csv(tmp_path / "new.csv", new)), "--no-progress")

    rows = list(TariffRate.objects.filter(code="8517130000").order_by("valid_from").values_list("rate_type", "rate"))
    assert rows == [("A", Decimal("8")), ("A", Decimal("6.5"))]  # last year kept; this year's FCN1 replaced
    assert TariffImport.objects.order_by("-id").first().replaced_count == 2


def test_malformed_rate_file_loads_nothing_and_names_its_bad_lines(tmp_path):
    rows = [*sample_tariff_rows(), tariff_row("8517130000", "A", "eight"), tariff_row("851713000", "C", "0")]
    path = write_tariff_csv(tmp_path / "bad.csv", rows)

    with pytest.raises(CommandError) as caught:
        call_command("import_tariff_rates", str(path), "--no-progress")

    message = str(caught.value)
    n = len(rows)
    assert f"line {n}: 관세율 'eight' is not a number" in message
    assert f"line {n + 1}: code '851713000' has 9 digits" in message
    assert not TariffRate.objects.exists() and not TariffImport.objects.exists()


def test_without_a_rate_file_the_rates_say_nothing_is_loaded():
    info = tariff_rates(["8517130000"])
    assert info.loaded is False and info.by_code == {}


def test_reimport_leaves_rates_of_periods_the_file_does_not_cover(tmp_path):
    call_command("import_tariff_rates", str(write_tariff_csv(tmp_path / "a.csv", [
        tariff_row("8517130000", "A", "8", "20190101", "20191231"),
        tariff_row("8517130000", "A", "8", "20240101", "20241231"),
        tariff_row("8517130000", "A", "8", "20260101", "20261231"),
    ])), "--no-progress")

    call_command("import_tariff_rates", str(write_tariff_csv(tmp_path / "b.csv", [
        tariff_row("8517130000", "A", "7", "20190101", "20191231"),
        tariff_row("8517130000", "A", "6", "20260101", "20261231"),
    ])), "--no-progress")

    rows = list(TariffRate.objects.order_by("valid_from").values_list("valid_from__year", "rate"))
    assert rows == [(2019, Decimal("7")), (2024, Decimal("8")), (2026, Decimal("6"))]
