import json

import pytest
from django.core.management import call_command

from hscode.models import ClassificationCase
from hscode.selectors import SHIPPED_SOURCES

pytestmark = pytest.mark.django_db

# The test database holds the shipped KCS cases (loaded at session start, as on first start); these tests look
# at what the command under test added.
def added():
    return ClassificationCase.objects.exclude(source__in=SHIPPED_SOURCES)



def write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def test_import_inserts_valid_cases_with_language_and_source(tmp_path, capsys):
    path = write_jsonl(
        tmp_path / "cases.jsonl",
        [
            {"text": "반려견용 씹는 간식", "hs6": "230910"},
            {"text": "kitchen strainer of stainless steel wire mesh", "hs6": "7323.93"},
        ],
    )
    call_command("import_classification_cases", path)
    rows = {c.hs6: c for c in added()}
    assert set(rows) == {"230910", "732393"}
    assert rows["230910"].lang == "ko"
    assert rows["732393"].lang == "en"
    assert rows["230910"].source == "import"
    assert "imported 2 cases" in capsys.readouterr().out


def test_importing_the_same_file_twice_does_not_duplicate_cases(tmp_path):
    path = write_jsonl(tmp_path / "cases.jsonl", [{"text": "반려견용 씹는 간식", "hs6": "230910"}] * 3)
    call_command("import_classification_cases", path)
    call_command("import_classification_cases", path)
    assert added().count() == 1


def test_invalid_lines_and_codes_are_skipped(tmp_path, capsys):
    path = tmp_path / "cases.jsonl"
    path.write_text(
        "not json\n"
        + json.dumps({"text": "thing", "hs6": "999999"})
        + "\n"
        + json.dumps({"text": "smartphone", "hs6": "851713"})
        + "\n",
        encoding="utf-8",
    )
    call_command("import_classification_cases", str(path), "--source", "review")
    assert list(added().values_list("hs6", "source")) == [("851713", "review")]
    assert "2 invalid lines skipped" in capsys.readouterr().out
