import pytest

from hscode.analysis.analyse import analyse_text
from hscode.analysis.classifier import Query, english_query, get_index, get_korean
from hscode.analysis.lexicon import load_lexicon
from hscode.analysis.text import en_tokens, strip_boilerplate


def top(text: str) -> str:
    analysis = analyse_text(text)
    assert analysis.candidates, text
    return analysis.candidates[0].code


def test_iphone_in_korean_is_a_smartphone():
    assert top("아이폰 15 프로") == "851713"


def test_frozen_pork_belly_in_korean_is_frozen_swine_meat():
    code = top("냉동 삼겹살")
    assert code.startswith("0203")
    assert code in {"020329", "020322", "020321"}


def test_kimchi_is_a_vegetable_preparation_of_chapter_20():
    assert top("김치").startswith("20")


def test_ramyeon_is_instant_noodles():
    assert top("라면") == "190230"


def test_stainless_steel_bottle_opener_is_a_base_metal_tool_of_chapter_82():
    assert top("stainless steel bottle opener").startswith("82")


@pytest.mark.parametrize(
    ("text", "chapter"),
    [
        ("women's knitted cotton t-shirt", "61"),
        ("laptop computer", "84"),
        ("frozen shrimp", "03"),
        ("wooden dining table", "94"),
        ("노트북 컴퓨터", "84"),
        ("여성용 가죽 핸드백", "42"),
        ("스테인리스 냄비", "73"),
        ("립스틱 화장품", "33"),
    ],
)
def test_clear_products_land_in_their_chapter(text, chapter):
    assert top(text)[:2] == chapter


def test_korean_terms_are_mapped_to_english_hs_vocabulary_through_the_lexicon():
    query = get_korean().query("폴리아미드 원사")
    assert "polyamid" in query.weights
    assert any(kind == "material" for _, kind, _ in query.matched)


def test_korean_packaging_words_weigh_less_than_the_product():
    query = get_korean().query("가리비를 냉동하여 수지제 봉지에 포장한 것")
    scallop = max(query.weights.get(t, 0) for t in en_tokens("scallops"))
    plastics = query.weights.get("plastic", 0)
    assert scallop > plastics


def test_hs_boilerplate_is_not_indexed():
    text = strip_boilerplate("Fish; frozen, excluding fish fillets and other fish meat of heading 0304")
    tokens = en_tokens(text)
    assert "fillet" not in tokens
    assert "frozen" in tokens
    assert "0304" not in text


def test_english_lexicon_adds_hs_vocabulary_for_everyday_words():
    query = english_query("sweater", load_lexicon("en"), Query())
    assert "pullov" in query.weights or "jersey" in query.weights


def test_index_covers_every_hs_2022_subheading():
    assert len(get_index().sub_codes) == 5612
