import pytest

from hscode.analysis.analyse import analyse_text
from hscode.analysis.intent import INTENTS, detect_intent


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("아이폰 15 프로 HS코드 알려줘", "hscode_search"),
        ("이 제품 품목분류 어떻게 되나요", "hscode_search"),
        ("What is the HS code for a stainless steel bottle opener?", "hscode_search"),
        ("화장품 수입할 때 필요한 인증이나 규제가 있나요?", "regulation_inquiry"),
        ("What are the import requirements and certification for cosmetics in Korea?", "regulation_inquiry"),
        ("작년 반도체 수출액 통계 보여줘", "trade_statistics"),
        ("Show me export statistics and trends for semiconductors", "trade_statistics"),
        ("라면 관세율이 얼마예요?", "tariff_rate"),
        ("What is the tariff rate for frozen pork?", "tariff_rate"),
        ("안녕하세요", "general"),
        ("hello", "general"),
    ],
)
def test_primary_intent_in_korean_and_english(text, intent):
    assert detect_intent(text).primary_intent == intent


def test_question_with_two_topics_keeps_the_second_as_secondary_intent():
    result = detect_intent("냉동 삼겹살 관세율과 수입 검역 요건 알려줘")
    assert result.primary_intent in ("tariff_rate", "regulation_inquiry")
    assert {"tariff_rate", "regulation_inquiry"} - {result.primary_intent} <= set(result.secondary_intents)


def test_bare_product_name_is_an_hs_code_search():
    analysis = analyse_text("냉동 삼겹살")
    assert analysis.intent.primary_intent == "hscode_search"


def test_intent_dict_has_the_seed_002_shape():
    data = detect_intent("라면 관세율").to_dict()
    assert set(data) == {"primary_intent", "secondary_intents", "intent_confidence"}
    assert data["primary_intent"] in INTENTS
    assert isinstance(data["secondary_intents"], list)
    assert 0.0 <= data["intent_confidence"] <= 1.0
