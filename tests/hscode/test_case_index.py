"""The case vote: lexical and character n-gram similarity, source weights, the cases it leaned on (issue 15)."""

from hscode.analysis.analyse import analyse_text
from hscode.analysis.cases import Case, CaseIndex, CombinedCaseIndex, char_ngrams
from hscode.grounded_answer import grounded_answer

STRAINER = "kitchen strainer of stainless steel wire mesh"


def test_a_staff_verdict_outranks_imported_decisions_on_the_same_text():
    index = CaseIndex([
        Case(STRAINER, "732399", "kcs_names"),
        Case(STRAINER + " round", "732399", "import"),
        Case(STRAINER, "732393", "review"),
    ])
    votes = index.vote("stainless steel wire mesh kitchen strainer")
    assert votes[0].code == "732393"
    assert votes[0].cases[0].source == "review"


def test_without_the_verdict_the_imports_win():
    index = CaseIndex([Case(STRAINER, "732399", "kcs_names"), Case(STRAINER + " round", "732399", "import")])
    assert index.vote("stainless steel wire mesh kitchen strainer")[0].code == "732399"


def test_character_ngrams_match_glued_trade_name_words_that_share_no_token():
    index = CaseIndex([Case("VEALRIBCAGE BONEIN", "020220", "kcs_names"),
                       Case("plastic storage box", "392410", "kcs_names")])
    sims = index.similarities("veal ribcage bone-in")
    assert sims[0] > 0.1 and sims[0] > sims[1]
    assert " ve" in char_ngrams("veal") and "갈비" in char_ngrams("소갈비")


def test_the_analysis_names_the_rulings_it_leaned_on_and_the_answer_shows_them():
    ruling = Case(
        "볶은 참깨 가루를 분쇄, 살균한 갈색계 페이스트상 - 용도 : 식용", "200819", "kcs_ruling",
        reference_id="품목분류2과-2415", decision_date="2024-03-25", hsk10="2008199000",
    )
    index = CaseIndex([ruling, Case("plastic storage box", "392410", "kcs_names")])
    analysis = analyse_text("볶은 참깨를 분쇄하여 살균한 페이스트 (식용)", index)
    assert analysis.candidates[0].code == "200819"
    assert analysis.candidates[0].source == "cases"
    assert analysis.similar_cases and analysis.similar_cases[0].reference_id == "품목분류2과-2415"
    assert analysis.to_dict()["similar_cases"][0]["decision_date"] == "2024-03-25"
    answer = grounded_answer(analysis)
    assert "유사 결정사례: 품목분류2과-2415, 2024-03-25 → 2008.19" in answer
    assert "출처: 관세청" in answer


def test_a_korean_query_meets_english_trade_names_through_the_lexicon():
    index = CaseIndex([Case("Frozen pork belly boneless", "020329", "kcs_names"),
                       Case("plastic storage box with lid", "392410", "kcs_names")])
    votes = index.vote("냉동 삼겹살")
    assert votes and votes[0].code == "020329"


def test_a_combined_index_votes_over_all_its_parts():
    shipped = CaseIndex([Case(STRAINER, "732399", "kcs_names")])
    rest = CaseIndex([Case(STRAINER, "732393", "review")])
    combined = CombinedCaseIndex([shipped, rest, CaseIndex([])])
    assert len(combined) == 2 and combined.contains(STRAINER.upper())
    assert combined.vote(STRAINER)[0].code == "732393"


def test_contains_ignores_case_and_spacing_only():
    index = CaseIndex([Case(STRAINER, "732393")])
    assert index.contains("  Kitchen strainer of  stainless steel wire MESH ")
    assert not index.contains("kitchen strainer of stainless steel")


def test_a_staff_verdict_on_the_very_same_text_is_claimed():
    text = "스테인리스 병따개 HS 코드"
    index = CaseIndex([Case(text, "821000", "review"), Case("stainless steel bottle opener", "820551", "kcs_names")])
    analysis = analyse_text(text, index)
    assert analysis.chosen is not None and analysis.chosen.code == "821000"
    assert analysis.chosen.source == "review" and analysis.chosen.confidence == 0.95
    # a different text only leans on the verdict through the (calibrated) vote
    other = analyse_text("병따개", index)
    assert other.candidates[0].source != "review"
