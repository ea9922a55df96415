"""The follow-up question comes from the candidates on the table, never from a fixed list."""

from __future__ import annotations

from hscode.analysis.analyse import analyse_text
from hscode.followup import follow_up_questions, follow_up_texts


def _questions(text: str) -> list:
    candidates = [c.to_dict() for c in analyse_text(text).candidates[:3]]
    return follow_up_questions(candidates, text)


def test_the_material_question_is_not_asked_for_meat():
    for text in ("냉동 삼겹살 수입하려면 어떤 규제가 있어?", "pork meat", "frozen pork belly"):
        features = {q.feature for q in _questions(text)}
        assert "material" not in features, text
        texts = " ".join(follow_up_texts(_questions(text))["ko"])
        assert "재질" not in texts and "스테인리스" not in texts, text


def test_the_frozen_or_chilled_question_is_not_asked_for_a_metal_tool():
    questions = _questions("stainless steel bottle opener")
    assert questions, "the opener's candidates differ (a household tool, semi-finished steel): something to ask"
    assert "state" not in {q.feature for q in questions}
    for language, texts in follow_up_texts(questions).items():
        joined = " ".join(texts).lower()
        assert "냉동" not in joined and "냉장" not in joined and "frozen" not in joined, language


def test_a_feature_the_candidates_differ_in_is_asked_with_their_own_options():
    candidates = [
        {"code": "0203.19", "description": "Meat; of swine, fresh or chilled, n.e.c."},
        {"code": "0203.29", "description": "Meat; of swine, frozen, n.e.c."},
    ]
    [question] = follow_up_questions(candidates, "돼지고기")
    assert question.feature == "state"
    assert {en for _, en in question.options} == {"fresh", "chilled", "frozen"}
    assert "냉동" in question.text("ko") and "frozen" in question.text("en")


def test_nothing_is_asked_about_a_feature_the_person_already_gave():
    candidates = [
        {"code": "0203.19", "description": "Meat; of swine, fresh or chilled, n.e.c."},
        {"code": "0203.29", "description": "Meat; of swine, frozen, n.e.c."},
    ]
    assert follow_up_questions(candidates, "냉동 돼지고기") == []
    assert follow_up_questions(candidates, "frozen pork") == []


def test_candidates_alike_in_every_feature_are_offered_by_name():
    candidates = [{"code": "8517.13", "description": "Telephone sets; smartphones"},
                  {"code": "8517.14", "description": "Telephone sets; other telephones for cellular networks"}]
    names = {"8517.13": ("8517.13 스마트폰", "8517.13 smartphones"), "8517.14": ("8517.14 기타", "8517.14 other")}
    [question] = follow_up_questions(candidates, "휴대폰", names)
    assert question.feature == "candidate"
    assert "8517.13 스마트폰" in question.text("ko") and "8517.14 other" in question.text("en")
