import pytest

from hscode.analysis.lexicon import LexiconError, load_lexicon, parse_lexicon
from hscode.analysis.nomenclature import get_nomenclature


@pytest.mark.parametrize("name", ["ko", "en"])
def test_shipped_lexicon_has_a_version_and_only_hints_that_exist_in_hs_2022(name):
    lexicon = load_lexicon(name)
    assert lexicon.version
    codes = [e.code for e in get_nomenclature().entries()]
    prefixes = {code[:n] for code in codes for n in (2, 4, 6) if len(code) >= n}
    hints = {h for entry in lexicon.entries.values() for h in entry.hints}
    assert hints <= prefixes


def test_korean_lexicon_covers_most_chapters():
    lexicon = load_lexicon("ko")
    chapters = {h[:2] for entry in lexicon.entries.values() for h in entry.hints}
    assert len(chapters) >= 85
    assert len(lexicon) >= 1500


def test_korean_lexicon_knows_the_terms_named_in_the_issue():
    lexicon = load_lexicon("ko")
    for term in ("아이폰", "갤럭시", "맥북", "삼겹살", "김치", "라면", "화장품", "폴리아미드", "스테인리스"):
        assert lexicon.get(term) is not None, term


def test_lexicon_without_version_header_is_refused():
    with pytest.raises(LexiconError):
        parse_lexicon(["김치\tproduct\tkimchi\t2005\n"], "test", korean=True)


def test_lexicon_row_with_unknown_kind_or_bad_hint_is_refused():
    with pytest.raises(LexiconError):
        parse_lexicon(["# version: 1\n", "김치\tfood\tkimchi\t2005\n"], "test", korean=True)
    with pytest.raises(LexiconError):
        parse_lexicon(["# version: 1\n", "김치\tproduct\tkimchi\t20059\n"], "test", korean=True)


def test_later_row_overrides_an_earlier_one_for_the_same_term():
    lexicon = parse_lexicon(
        ["# version: 2\n", "배\tproduct\tships\t8901\n", "배\tproduct\tpears\t0808\n"], "test", korean=True
    )
    assert lexicon.version == "2"
    assert lexicon.get("배").hints == ("0808",)
