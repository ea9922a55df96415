"""Korean query building: use clauses, glued one-syllable fragments, 'X제' materials."""

from hscode.analysis.classifier import _is_fragment, _use_clauses, get_korean


def test_use_clause_spans_stop_at_next_detail():
    text = "건조하여 분쇄한 분말상 - 용도 : 화장품 원료 - 규격 : 1kg"
    (start, end), = _use_clauses(text)
    assert text[start:end].strip() == "화장품 원료"


def test_product_named_in_use_clause_counts_as_use():
    query = get_korean().query("홉을 건조하여 분쇄한 분말상 - 용도 : 화장품 원료")
    kinds = {surface: kind for surface, kind, _ in query.matched}
    assert kinds.get("화장품") == "use"


def test_glued_one_syllable_match_is_a_fragment():
    morphs = [("일", "NNG", 0, 1), ("면", "NNG", 1, 1)]
    assert _is_fragment(morphs, 1, 1)
    morphs = [("면", "NNG", 0, 1), ("으로", "JKB", 1, 2)]
    assert not _is_fragment(morphs, 0, 0)


def test_material_with_je_suffix_is_the_material():
    analyzer = get_korean()
    parts = analyzer._split_compound("니켈제")
    if parts:  # only when 니켈 is a lexicon material and kiwi keeps the word whole
        assert all(entry.kind == "material" for entry, _ in parts)
