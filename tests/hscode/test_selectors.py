import pytest

from hscode.analysis.analyse import analyse_text
from hscode.models import ClassificationCase, case_text_hash
from hscode.selectors import SHIPPED_SOURCES, case_index_clear, case_index_get

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


@pytest.fixture(autouse=True)
def _fresh_cache():
    case_index_clear()
    yield
    case_index_clear()


@pytest.fixture
def no_shipped_cases():
    """These tests look at cases they add: the shipped corpora (loaded at session start) are set aside."""
    ClassificationCase.objects.filter(source__in=SHIPPED_SOURCES).delete()


def test_no_cases_means_no_case_index(no_shipped_cases):
    assert case_index_get() is None


def test_case_index_is_cached_until_the_table_changes(no_shipped_cases):
    ClassificationCase.objects.create(text="반려견용 씹는 간식", hs6="230910", lang="ko")
    first = case_index_get()
    assert first is not None and len(first) == 1
    assert case_index_get() is first
    ClassificationCase.objects.create(text="kitchen strainer of stainless steel wire mesh", hs6="732393")
    second = case_index_get()
    assert second is not first and len(second) == 2


def test_a_staff_verdict_rebuilds_only_the_small_part_not_the_shipped_cases():
    first = case_index_get()
    assert first is not None and len(first) >= 34_000  # the shipped corpora are on by default
    shipped_part = first.parts[0]
    ClassificationCase.objects.create(text="kitchen strainer of stainless steel wire mesh", hs6="732393",
                                      source=ClassificationCase.Source.REVIEW)
    second = case_index_get()
    assert len(second) == len(first) + 1
    assert second.parts[0] is shipped_part


def test_case_index_from_the_table_feeds_the_analysis(no_shipped_cases):
    ClassificationCase.objects.create(text="식물성 단백질 전분 압출 성형 반려견용 씹는 간식", hs6="230910", lang="ko")
    analysis = analyse_text("반려견용 씹는 간식 (식물성 단백질 압출 성형)", case_index_get())
    assert analysis.candidates[0].code == "230910"


def test_same_text_with_different_spacing_has_the_same_hash():
    first = ClassificationCase.objects.create(text="  phone   case ", hs6="420232")
    assert first.text_hash == case_text_hash("phone case")
