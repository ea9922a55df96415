import json

from django.core.management import call_command

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
    rows = [{"text": "반려견용 씹는 간식 식물성 단백질 압출 성형", "hs6": "230910"}]
    path = tmp_path / "eval.jsonl"
    cases = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(rows[0], ensure_ascii=False), encoding="utf-8")
    cases.write_text(json.dumps(rows[0], ensure_ascii=False), encoding="utf-8")
    call_command("evaluate_classifier", str(path), "--json", "--cases", str(cases))
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["top1_6"] == 1.0
    assert "cases loaded: 1" in out
