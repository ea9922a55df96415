from hscode.analysis.analyse import CONFIDENCE_THRESHOLD, analyse_text
from hscode.analysis.calibration import EXACT_CONFIDENCE, RETRIEVAL_CAP


def test_confidences_are_between_zero_and_one_and_ranked():
    for text in ("냉동 삼겹살", "plastic bottle", "a girls' pullover sweater of knitted acrylic", "부품"):
        analysis = analyse_text(text)
        confidences = [c.confidence for c in analysis.candidates]
        assert all(0.0 <= c <= 1.0 for c in confidences)
        assert confidences == sorted(confidences, reverse=True)
        assert sum(confidences) <= 1.0 + 1e-6


def test_explicit_valid_six_digit_code_has_confidence_one_and_is_chosen():
    analysis = analyse_text("HS 8517.13.00 관세율 알려줘")
    assert analysis.chosen is not None
    assert analysis.chosen.code == "851713"
    assert analysis.chosen.confidence == 1.0
    assert analysis.chosen.source == "explicit"


def test_vague_text_claims_no_code_and_says_which_details_are_needed():
    analysis = analyse_text("부품")
    assert analysis.chosen is None
    assert analysis.needs_detail
    assert set(analysis.needs_detail) <= {"material", "use", "processing", "form", "product"}


def test_text_without_any_product_asks_for_the_product():
    analysis = analyse_text("HS코드 알려줘")
    assert analysis.chosen is None
    assert analysis.needs_detail[0] == "product"


def test_unambiguous_product_name_is_claimed_below_the_certainty_reserved_for_typed_codes():
    analysis = analyse_text("아이폰 15 프로")
    assert analysis.chosen is not None
    assert analysis.chosen.code == "851713"
    assert CONFIDENCE_THRESHOLD <= analysis.chosen.confidence == EXACT_CONFIDENCE < 0.8


def test_plain_retrieval_never_reaches_the_threshold_on_its_own():
    analysis = analyse_text("metal housing for an industrial controller")
    assert analysis.candidates
    assert analysis.candidates[0].confidence <= RETRIEVAL_CAP < CONFIDENCE_THRESHOLD
    assert analysis.chosen is None
