import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from hscode.analysis.evaluation import kfold_splits

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

ROWS = [
    {"text": "아이폰 15 프로", "hs6": "851713", "lang": "ko"},
    {"text": "라면", "hs6": "190230"},
    {"text": "stainless steel bottle opener", "hs6": "820551", "lang": "en"},
    {"text": "laptop computer", "hs6": "847130"},
]


def test_evaluate_with_json_prints_the_metrics_as_the_last_line(tmp_path, capsys):
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS), encoding="utf-8")
    call_command("evaluate_classifier", str(path), "--json")
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    for key in ("n", "top1_6", "top5_6", "top1_4", "top1_2", "p95_ms"):
        assert key in result
        assert key in result["by_lang"]["en"]
        assert key in result["by_lang"]["ko"]
    assert result["n"] == 4
    assert result["by_lang"]["ko"]["n"] == 2
    assert 0.0 <= result["top1_6"] <= result["top5_6"] <= 1.0
    assert any("accuracy@6" in line for line in lines)  # the calibration table


def test_evaluate_with_cases_file_uses_the_cases(tmp_path, capsys):
    row = {"text": "반려견용 씹는 간식 식물성 단백질 압출 성형", "hs6": "230910"}
    case = {"text": "식물성 단백질과 전분을 압출 성형한 반려견용 씹는 간식", "hs6": "230910"}
    path = tmp_path / "eval.jsonl"
    cases = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(row, ensure_ascii=False), encoding="utf-8")
    cases.write_text(json.dumps(case, ensure_ascii=False), encoding="utf-8")
    call_command("evaluate_classifier", str(path), "--json", "--cases", str(cases))
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert result["top1_6"] == 1.0
    assert result["by_evidence"]["cases"]["n"] == 1
    assert "cases loaded: 1" in out


def test_a_file_whose_rows_are_in_the_case_index_is_refused(tmp_path):
    row = {"text": "반려견용 씹는 간식 식물성 단백질 압출 성형", "hs6": "230910"}
    other = {"text": "stainless steel bottle opener", "hs6": "820551"}
    path = tmp_path / "eval.jsonl"
    cases = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (other, row)), encoding="utf-8")
    # the same text, spaced and cased differently, is still the same row
    cases.write_text(json.dumps({**row, "text": "  반려견용 씹는 간식  식물성 단백질 압출 성형"}, ensure_ascii=False),
                     encoding="utf-8")
    with pytest.raises(CommandError, match=r"1 of 2 rows are in the case index \(lines 2\)"):
        call_command("evaluate_classifier", str(path), "--cases", str(cases))


def test_a_shipped_case_cannot_be_scored_against_the_loaded_index(tmp_path):
    shipped = json.loads(Path("data/kcs/hs_cases_kcs_rulings_ko.jsonl").read_text(encoding="utf-8").splitlines()[0])
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(shipped, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CommandError, match="in the case index"):
        call_command("evaluate_classifier", str(path))
    call_command("evaluate_classifier", str(path), "--no-cases")  # retrieval alone may score it


def test_kfold_scores_each_fold_with_an_index_of_the_other_folds(tmp_path, capsys):
    rows = [
        {"text": f"{kind} {material} {i}", "hs6": code}
        for i in range(4)
        for kind, material, code in (
            ("kitchen strainer", "stainless steel wire mesh", "732393"),
            ("storage box with lid", "plastic household", "392410"),
        )
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    call_command("evaluate_classifier", str(path), "--kfold", "4", "--no-cases", "--json")
    captured = capsys.readouterr()
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["n"] == len(rows)  # every row scored once, in its own fold
    assert "fold 4/4: index 6 cases, scored 2" in captured.err
    assert result["top1_6"] == 1.0  # each row's near twins are in the other folds
    assert result["by_evidence"]["cases"]["n"] == len(rows)


def test_kfold_folds_are_disjoint_and_cover_every_row():
    folds = kfold_splits(103, 5)
    seen = [i for fold in folds for i in fold]
    assert sorted(seen) == list(range(103))
    with pytest.raises(ValueError):
        kfold_splits(3, 5)


def test_a_fold_outside_the_kfold_is_refused(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps({"text": "kitchen strainer", "hs6": "732393"}), encoding="utf-8")
    with pytest.raises(CommandError, match="--fold"):
        call_command("evaluate_classifier", str(path), "--fold", "2")
    with pytest.raises(CommandError, match="--fold"):
        call_command("evaluate_classifier", str(path), "--kfold", "4", "--fold", "5", "--no-cases")


def test_one_fold_can_be_scored_alone_and_its_records_written(tmp_path, capsys):
    rows = [
        {"text": f"{kind} {material} {i}", "hs6": code}
        for i in range(4)
        for kind, material, code in (
            ("kitchen strainer", "stainless steel wire mesh", "732393"),
            ("storage box with lid", "plastic household", "392410"),
        )
    ]
    path, records = tmp_path / "cases.jsonl", tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    call_command("evaluate_classifier", str(path), "--kfold", "4", "--fold", "2", "--no-cases", "--json",
                 "--records", str(records))
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    written = [json.loads(line) for line in records.read_text(encoding="utf-8").splitlines()]
    assert result["n"] == len(written) == 2 and {r["fold"] for r in written} == {2}
