from hscode.analysis.analyse import analyse_text
from hscode.analysis.cases import CaseIndex

CASES = [
    ("식물성 단백질과 전분을 혼합하여 압출 성형한 반려견용 씹는 간식", "230910"),
    ("반려견용 씹는 간식 (식물성 단백질, 전분 압출 성형)", "230910"),
    ("stainless steel wire mesh strainer for kitchen use", "732393"),
    ("plastic storage box with lid for household use", "392410"),
]


def test_loaded_cases_change_the_ranking_for_a_near_duplicate_text():
    text = "식물성 단백질과 전분을 혼합 압출 성형한 반려견용 씹는 간식"
    before = analyse_text(text)
    after = analyse_text(text, CaseIndex(CASES))
    assert after.candidates[0].code == "230910"
    assert after.candidates[0].source == "cases"
    assert [c.code for c in before.candidates][:1] != ["230910"] or before.candidates[0].source != "cases"
    assert after.candidates[0].evidence


def test_case_vote_prefers_the_code_of_the_most_similar_cases():
    index = CaseIndex(CASES)
    votes = index.vote("kitchen strainer of stainless steel wire mesh")
    assert votes[0].code == "732393"
    assert 0.0 < votes[0].similarity <= 1.0


def test_unrelated_text_is_not_pulled_towards_the_cases():
    index = CaseIndex(CASES)
    analysis = analyse_text("아이폰 15 프로", index)
    assert analysis.candidates[0].code == "851713"


def test_invalid_and_duplicate_cases_are_ignored():
    index = CaseIndex([("a", "12"), ("", "851713"), ("phone", "851713"), ("phone", "851713")])
    assert len(index) == 1


def test_empty_case_index_leaves_the_analysis_unchanged():
    plain = analyse_text("냉동 삼겹살")
    with_empty = analyse_text("냉동 삼겹살", CaseIndex([]))
    assert [c.code for c in plain.candidates] == [c.code for c in with_empty.candidates]


def test_a_declaration_record_leans_on_its_case_vote_more_than_english_free_text():
    # the record weight was chosen on the trade names' k-fold; English free text, which no shipped corpus
    # measures, keeps the unmeasured default (docs/classifier.md, "Labelled cases")
    from hscode.analysis.analyse import CASE_WEIGHT, CASE_WEIGHT_UNMEASURED

    index = CaseIndex(CASES)
    record = analyse_text("PLASTIC BOX; LID", index)
    free = analyse_text("a plastic box with a lid", index)
    assert (record.calibration_kind, free.calibration_kind) == ("record", "short")
    record_strength = dict(record.calibration_features)["case_strength"]
    free_strength = dict(free.calibration_features)["case_strength"]
    assert CASE_WEIGHT[("en", "record")] > CASE_WEIGHT_UNMEASURED
    assert 0 < free_strength < record_strength
