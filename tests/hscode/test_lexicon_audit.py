"""The lexicon audit names entries that fire on evaluation rows and on no reference text (issue 15, item 5)."""

from pathlib import Path

from django.core.management import call_command

from hscode.analysis.lexicon_audit import LexiconProbe, evaluation_only_entries, reference_texts

DATA = Path(__file__).resolve().parents[2] / "data" / "kcs"


def test_the_probe_finds_the_terms_the_analyser_matches_in_korean_and_in_english():
    probe = LexiconProbe()
    korean = probe.hits("냉동 삼겹살 수입")
    assert {"냉동", "삼겹살"} <= korean.ko
    english = probe.hits("a nylon backpack")
    assert {"nylon", "backpack"} <= english.en and not english.ko


def test_an_entry_found_only_in_the_evaluation_rows_is_named_with_its_rows():
    found = evaluation_only_entries(["냉동 소고기", "냉동 삼겹살 소매포장", "a nylon backpack"], ["냉동 소고기 수입"])
    named = {(e.lexicon, e.term): e for e in found}
    assert named[("ko", "삼겹살")].rows == (2,) and named[("ko", "삼겹살")].hints == ("0203",)
    assert named[("en", "backpack")].rows == (3,)
    assert ("ko", "소고기") not in named and ("ko", "냉동") not in named  # also in a reference text


def test_an_entry_that_also_fires_on_a_reference_text_is_general():
    terms = {e.term for e in evaluation_only_entries(["냉동 삼겹살"], ["삼겹살 구이용 냉장"])}
    assert "삼겹살" not in terms and "냉동" in terms


def test_the_reference_texts_hold_the_shipped_corpora_and_the_nomenclatures_names():
    texts = reference_texts([str(DATA / "hs_cases_kcs_rulings_ko.jsonl")], str(DATA / "hsk_2025_kcs.csv"))
    assert len(texts) > 359 + 11_000
    assert any("냉동" in t for t in texts) and any("Horses, asses, mules and hinnies; live" in t for t in texts)


def test_the_command_lists_an_entry_no_shipped_or_nomenclature_text_contains(tmp_path, capsys):
    rows = tmp_path / "eval.jsonl"
    rows.write_text('{"text": "냉동 소파패드", "hs6": "630493"}\n', encoding="utf-8")
    call_command("audit_lexicon", str(rows))
    lines = capsys.readouterr().out.splitlines()
    assert "ko\t소파패드\tproduct\t6304\trows 1" in lines
    assert not any(line.startswith("ko\t냉동\t") for line in lines)  # frozen goods fill the shipped corpora
    assert any(line.startswith("ko: ") and line.endswith("fire only on the evaluation rows") for line in lines)
