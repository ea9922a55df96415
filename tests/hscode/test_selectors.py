import time

import pytest
from django.db import transaction

from hscode.analysis.analyse import analyse_text
from hscode.models import ClassificationCase, case_text_hash
from hscode.selectors import (
    SHIPPED_SOURCES,
    case_index_build_in_background,
    case_index_clear,
    case_index_get,
    case_index_key,
)
from hscode.services import classification_cases_import

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


@pytest.mark.django_db(transaction=True)
def test_a_worker_indexes_a_changed_shipped_corpus_beside_its_tasks_and_answers_meanwhile():
    """In a Celery worker a changed corpus is indexed in a background thread: a task never waits for (or is cut off
    by its time limit during) a 35,000-case build; it goes on with the index the process has."""
    ClassificationCase.objects.all().delete()
    ClassificationCase.objects.create(text="frozen pork belly", hs6="020329", source=SHIPPED_SOURCES[0])
    first = case_index_get()  # built in the caller, as outside a worker
    assert first is not None and len(first) == 1
    case_index_build_in_background()
    try:
        ClassificationCase.objects.create(text="stainless steel bottle opener", hs6="820551", source=SHIPPED_SOURCES[0])
        assert case_index_get() is first  # at once, with what the process had
        deadline = time.monotonic() + 60
        while (index := case_index_get()) is first:
            assert time.monotonic() < deadline, "the background build did not finish"
            time.sleep(0.05)
        assert len(index) == 2
    finally:
        case_index_build_in_background(False)


@pytest.mark.django_db(transaction=True)
def test_the_case_index_key_is_read_from_redis_until_cases_are_written(django_assert_num_queries):
    """The key costs two aggregates over every case: it is computed once per change of the cases, not per message."""
    first = case_index_key()
    with django_assert_num_queries(0):
        assert case_index_key() == first
    with transaction.atomic():
        ClassificationCase.objects.create(text="kitchen strainer of stainless steel wire mesh", hs6="732393",
                                          source=ClassificationCase.Source.IMPORT)
        # Inside the writing transaction the key is read from the database: the new case is seen at once.
        inside = case_index_key()
        assert inside != first
    # Committed: the generation moved on, so the stored key is computed again once, then served from Redis.
    assert case_index_key() == inside
    with django_assert_num_queries(0):
        assert case_index_key() == inside


def test_a_bulk_import_marks_the_case_index_changed(django_capture_on_commit_callbacks):
    before = case_index_key()
    with django_capture_on_commit_callbacks(execute=True):
        result = classification_cases_import(['{"text": "frozen boneless pork belly slices", "hs6": "020329"}'],
                                             ClassificationCase.Source.IMPORT)
    assert result.imported == 1
    assert case_index_key() != before
