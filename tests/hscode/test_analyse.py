
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hscode.analysis.analyse import Candidate, TextAnalysis, analyse_text, warm_up


def test_analysis_exposes_mentions_product_phrase_and_candidates():
    analysis = analyse_text("아이폰 15 프로 수입하려는데 HS코드 알려줘")
    assert isinstance(analysis, TextAnalysis)
    assert analysis.language == "ko"
    assert analysis.product_name == "아이폰 15 프로"
    assert analysis.mentions == ()
    assert 1 <= len(analysis.candidates) <= 5


def test_english_product_phrase_drops_the_question_words():
    analysis = analyse_text("What is the HS code for a stainless steel bottle opener?")
    assert analysis.language == "en"
    assert analysis.product_name == "stainless steel bottle opener"


def test_candidate_to_dict_uses_the_dotted_code():
    candidate = Candidate("851713", "Telephone sets; smartphones", 0.5, "lexical", ("아이폰",))
    assert candidate.dotted == "8517.13"
    assert candidate.to_dict() == {
        "code": "8517.13",
        "confidence": 0.5,
        "description": "Telephone sets; smartphones",
        "source": "lexical",
        "evidence": ["아이폰"],
    }


def test_explicit_code_comes_first_and_other_candidates_follow():
    analysis = analyse_text("HS 851713 스마트폰")
    assert analysis.explicit is not None and analysis.explicit.code == "851713"
    assert analysis.candidates[0].source == "explicit"
    assert len({c.code for c in analysis.candidates}) == len(analysis.candidates)


def test_invalid_typed_code_is_reported_but_not_chosen():
    analysis = analyse_text("9999.99 관세율")
    assert analysis.mentions and not analysis.mentions[0].valid
    assert analysis.explicit is None
    assert analysis.chosen is None or analysis.chosen.source != "explicit"


def test_four_digit_code_restricts_candidates_to_that_heading():
    analysis = analyse_text("제8517호 스마트폰")
    assert analysis.explicit is not None and analysis.explicit.code == "8517"
    assert analysis.candidates
    assert all(c.code.startswith("8517") for c in analysis.candidates)


def test_long_messages_are_analysed_like_short_ones():
    # Latency is measured by `evaluate_classifier` and `make bench`, not asserted here (no timed tests).
    warm_up()
    for text in ["냉동 삼겹살 수입", "stainless steel bottle opener", "가" * 2000, "plastic " * 250, "김치 " * 600]:
        analysis = analyse_text(text)
        assert len({c.code for c in analysis.candidates}) == len(analysis.candidates)
        assert all(0.0 <= c.confidence <= 1.0 for c in analysis.candidates)


BAD_INPUTS = [
    "",
    " ",
    "🍎🍌📱💻🔥" * 100,
    "<script>alert('x')</script><b>아이폰</b>",
    "'; DROP TABLE hscode_classificationcase; --",
    "a" * 2000,
    "가" * 2000,
    "1" * 2000,
    "8517." * 400,
    "\ud800\udfff lone surrogates \udc00",
    "\x00\x01\x02 control",
    "ｆｕｌｌｗｉｄｔｈ ８５１７．１３",
    "مرحبا 你好 こんにちは Привет 안녕",
]


def test_known_bad_inputs_return_an_analysis():
    for text in BAD_INPUTS:
        analysis = analyse_text(text)
        assert isinstance(analysis, TextAnalysis)
        assert analysis.chosen is not None or analysis.needs_detail or not analysis.candidates


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=2000))
def test_any_text_up_to_2000_chars_returns_without_exception(text):
    analysis = analyse_text(text)
    assert isinstance(analysis, TextAnalysis)
    assert len(analysis.candidates) <= 5
    assert all(0.0 <= c.confidence <= 1.0 for c in analysis.candidates)
