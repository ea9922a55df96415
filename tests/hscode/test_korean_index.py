"""Korean documents for Korean text: the KCS HS table's Korean names, fused with the English retrieval (issue 15)."""

from hscode.analysis.analyse import analyse_text, ranking_for
from hscode.analysis.classifier import get_korean
from hscode.analysis.korean_index import KoreanNameIndex, get_korean_names

SUBS = ["010121", "010129", "020130", "020641"]


def test_a_subheading_document_joins_its_lines_and_their_group_names():
    names = [("0101291000", "경주말"), ("0101299000", "기타"), ("02064", "돼지의 간"), ("0206410000", "간"),
             ("0201300000", "뼈 없는 쇠고기")]
    index = KoreanNameIndex(names, SUBS, get_korean())
    assert index.covered == 3  # 010121 has no line here
    scores = index.scores(get_korean().morphemes("경주말"))
    assert scores is not None and SUBS[int(scores.argmax())] == "010129"
    assert index.scores(get_korean().morphemes("기타")) is None  # "기타" names nothing


def test_the_shipped_table_covers_most_subheadings():
    index = get_korean_names()
    assert index.covered > 0.85 * index.n_subheadings


def test_a_korean_query_meets_korean_nomenclature_directly():
    # "경주말" (race horses) is a name of the KCS table
    top = ranking_for("경주말").items[0].code
    assert top.startswith("0101")
    assert analyse_text("경주말").candidates[0].code.startswith("0101")
