"""The shipped KCS case corpora are loaded on first start, with their source and references (issue 15)."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from hscode.models import ClassificationCase
from hscode.services import classification_cases_import, classification_cases_shipped_load

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]
KCS = Path(__file__).resolve().parents[2] / "data" / "kcs"


def _lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (KCS / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_first_start_loaded_both_case_files_with_their_source():
    # the session setup ran load_shipped_data, as make run and compose's migrate service do
    names, rulings = _lines("hs_cases_kcs_names_en.jsonl"), _lines("hs_cases_kcs_rulings_ko.jsonl")
    assert ClassificationCase.objects.filter(source="kcs_names").count() == len(names)
    assert ClassificationCase.objects.filter(source="kcs_ruling").count() == len(rulings)


def test_rulings_keep_their_reference_id_date_and_hsk10():
    first = _lines("hs_cases_kcs_rulings_ko.jsonl")[0]
    case = ClassificationCase.objects.get(source="kcs_ruling", reference_id=first["reference_id"], hs6=first["hs6"])
    assert case.decision_date.isoformat() == first["decision_date"]
    assert case.hsk10 == first["hsk10"] and case.lang == "ko"


def test_loading_again_adds_nothing(capsys):
    before = ClassificationCase.objects.count()
    results = classification_cases_shipped_load()
    assert all(r.imported == 0 for r in results.values())
    call_command("load_shipped_data", "--no-progress")
    assert ClassificationCase.objects.count() == before
    assert "hs_cases_kcs_rulings_ko.jsonl 0 loaded" in capsys.readouterr().out


def test_a_partly_loaded_corpus_is_completed():
    removed = list(ClassificationCase.objects.filter(source="kcs_ruling").order_by("id")[:5])
    ClassificationCase.objects.filter(pk__in=[c.pk for c in removed]).delete()
    results = classification_cases_shipped_load()
    assert results["hs_cases_kcs_rulings_ko.jsonl"].imported == 5
    restored = ClassificationCase.objects.get(source="kcs_ruling", text=removed[0].text)
    assert restored.reference_id == removed[0].reference_id


def test_bad_rows_are_named_and_the_good_ones_loaded():
    result = classification_cases_import(
        ['{"text": "smart phone case", "hs6": "420232"}', "not json", '{"text": "x", "hs6": "999999"}'],
        ClassificationCase.Source.IMPORT,
    )
    assert result.imported == 1
    assert result.invalid == ['line 2: expected {"text", "hs6"}', "line 3: '999999' is no HS 2022 subheading"]
