"""The caches of finished detail-page work (hscode/cache.py): per HS code, shared by every wording; per question,
for identical repeats; both keyed by the data editions, so an import or refresh is never hidden, and nothing
from an error is stored."""

from __future__ import annotations

import jsonschema
import pytest
from django.core.management import call_command

from conversations import contracts
from conversations.models import ChatMessage, Conversation, ConversationEvent
from customs.editions import SOURCES, TRADE, edition_bump, editions_for
from customs.services import requirements_refresh
from hscode.cache import (
    CODE_BUTTONS,
    DETAIL_PAGE,
    QUESTION,
    cache_stats,
    code_buttons_get,
    code_buttons_key,
    code_editions,
    detail_page_data,
    question_get,
)
from hscode.context7_consult import reset_clients
from hscode.services import ANALYSIS_VERSION, detail_button_ready, detail_page_prepare, question_cache_key
from tests.customs.kcs_fixtures import kcs_fake  # noqa: F401
from tests.fakes.fixtures import context7_server, redis_prefix, redis_url  # noqa: F401
from tests.trade.conftest import COMTRADE_COFFEE, run_import

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

SMARTPHONES_KO = "8517.13 관세율 알려줘"
SMARTPHONES_KO_OTHER = "8517.13 스마트폰 수입할 때 규제 요건은?"
SMARTPHONES_EN = "What is the tariff rate of HS 8517.13?"


@pytest.fixture
def fresh_editions(django_capture_on_commit_callbacks):
    """A new edition of every data source: entries cached by earlier tests (same Redis) are out of reach."""
    with django_capture_on_commit_callbacks(execute=True):
        for source in SOURCES:
            edition_bump(source)


@pytest.fixture
def conversation(db):
    return Conversation.objects.create(owner_session_key="cache-test-session")


@pytest.fixture
def ask(conversation, django_capture_on_commit_callbacks):
    """A message taken through task B inline, as the workers do, with its after-commit work run."""

    def run(text: str, in_conversation: Conversation | None = None) -> ChatMessage:
        message = ChatMessage.objects.create(conversation=in_conversation or conversation,
                                             role=ChatMessage.Role.USER, content=text)
        with django_capture_on_commit_callbacks(execute=True):
            for button_type in detail_page_prepare(message.pk):
                detail_button_ready(message.pk, button_type)
        message.refresh_from_db()
        return message

    return run


def _buttons(message: ChatMessage) -> dict[str, dict]:
    return {e.data["buttonType"]: e.data
            for e in ConversationEvent.objects.filter(message=message, event=contracts.BUTTON_READY)}


def _code_hit(message: ChatMessage) -> bool:
    return message.hscode_analysis["code_cache"]["hit"]


def _counts(name: str) -> tuple[int, int]:
    stats = cache_stats()[name]
    return stats["hits"], stats["misses"]


# --- keys ----------------------------------------------------------------------------------------------------


def test_the_code_key_changes_with_the_code_the_language_the_version_and_every_edition():
    editions = code_editions("851713")
    base = code_buttons_key("8517.13", "ko", analysis_version="1", editions=editions)
    assert base == code_buttons_key("8517.13", "ko", analysis_version="1", editions=dict(editions))
    others = {
        code_buttons_key("8517.14", "ko", analysis_version="1", editions=editions),
        code_buttons_key("8517.13-0000", "ko", analysis_version="1", editions=editions),
        code_buttons_key("8517.13", "en", analysis_version="1", editions=editions),
        code_buttons_key("8517.13", "ko", analysis_version="2", editions=editions),
        code_buttons_key("8517.13", "ko", analysis_version="1", editions={**editions, "nitemtrade": True}),
    }
    for source in editions["data"]:
        changed = {**editions, "data": {**editions["data"], source: editions["data"][source] + 1}}
        others.add(code_buttons_key("8517.13", "ko", analysis_version="1", editions=changed))
    assert base not in others and len(others) == 5 + len(editions["data"])


def test_a_code_has_its_own_per_code_editions_beside_the_global_ones():
    editions = editions_for("851713")
    assert set(editions) == {"hsk", "tariff", "trade", "requirements", "trade:851713", "requirements:851713"}
    assert all(value > 0 for value in editions.values())  # a missing counter starts at the time, never at 0


def test_thequestion_cache_key_is_a_hash_of_the_normalised_text_never_the_text():
    key = question_cache_key("  8517.13 관세율 알려줘 ?")
    assert key == question_cache_key("8517.13 관세율 알려줘")
    assert "8517" not in key and "관세율" not in key


# --- sharing across wordings and per-language separation ------------------------------------------------------


@pytest.mark.usefixtures("fresh_editions")
def test_a_second_wording_about_the_same_code_gets_the_cached_buttons_at_once(ask, conversation):
    hits, misses = _counts(CODE_BUTTONS)
    first = ask(SMARTPHONES_KO)
    assert not _code_hit(first) and first.status == ChatMessage.Status.COMPLETED

    other = Conversation.objects.create(owner_session_key="another-person")
    message = ChatMessage.objects.create(conversation=other, role=ChatMessage.Role.USER, content=SMARTPHONES_KO_OTHER)
    assert detail_page_prepare(message.pk) == []  # no button task is left to run: the buttons are out
    message.refresh_from_db()

    assert message.status == ChatMessage.Status.COMPLETED and _code_hit(message)
    assert message.hscode_analysis["cache_hit"] is False  # not the same question: the analysis ran
    assert _counts(CODE_BUTTONS) == (hits + 1, misses + 1)
    shared, built = _buttons(message), _buttons(first)
    assert set(shared) == set(built) == {"HS_CODE", "REGULATION", "STATISTICS"}
    for button_type in built:
        assert shared[button_type]["url"] == built[button_type]["url"]
        assert shared[button_type]["description"] == built[button_type]["description"]
    # This message's own parts: its intent's order (a regulation question), its conversation.
    assert message.hscode_analysis["detail_buttons"][0]["type"] == "REGULATION"
    assert shared["REGULATION"]["priority"] == 1 and built["REGULATION"]["priority"] == 2
    assert shared["HS_CODE"]["actionData"]["queryParams"]["session_id"] == str(other.pk)
    complete = ConversationEvent.objects.get(message=message, event=contracts.BUTTONS_COMPLETE)
    assert complete.data["summary"]["cache_hit"] is True and complete.data["buttonsGenerated"] == 3
    jsonschema.validate(complete.data, contracts.DATA_SCHEMAS[contracts.BUTTONS_COMPLETE])
    for data in shared.values():
        jsonschema.validate(data, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])


@pytest.mark.usefixtures("fresh_editions")
def test_each_language_has_its_own_entries(ask):
    korean = ask(SMARTPHONES_KO)
    english = ask(SMARTPHONES_EN)
    assert english.hscode_analysis["language"] == "en" and korean.hscode_analysis["language"] == "ko"
    assert not _code_hit(korean) and not _code_hit(english)
    assert _code_hit(ask(SMARTPHONES_KO_OTHER))
    assert _code_hit(ask("HS 8517.13 import requirements"))


@pytest.mark.usefixtures("fresh_editions")
def test_an_identical_repeat_is_served_by_the_question_cache(ask):
    hits, _misses = _counts(QUESTION)
    ask(SMARTPHONES_KO)
    repeat = ask(SMARTPHONES_KO + "  ")
    assert repeat.hscode_analysis["cache_hit"] is True
    assert _counts(QUESTION)[0] == hits + 1


# --- invalidation on import and refresh ------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_editions")
def test_a_trade_statistics_import_invalidates_the_codes_entries_and_the_new_figures_are_served(
        ask, django_capture_on_commit_callbacks):
    before = ask("0901.11 커피 원두 수출 통계")
    assert before.hscode_analysis["resolved"]["display"] == "0901.11"
    assert _code_hit(ask("0901.11 커피 수입 통계 알려줘"))
    assert _buttons(before)["STATISTICS"]["metadata"]["dataRange"] is None

    with django_capture_on_commit_callbacks(execute=True):
        run_import(COMTRADE_COFFEE)

    after = ask("0901.11 생두 무역 통계")
    assert not _code_hit(after)  # the import changed the data: built again
    statistics = _buttons(after)["STATISTICS"]
    assert statistics["metadata"]["dataRange"] is not None and statistics["description"] == "수출입 현황, 트렌드 분석"
    again = ask("0901.11 커피 통계 보여줘")
    assert _code_hit(again) and _buttons(again)["STATISTICS"]["metadata"] == statistics["metadata"]


@pytest.mark.usefixtures("fresh_editions")
def test_an_identical_repeat_after_an_import_is_analysed_again(ask, django_capture_on_commit_callbacks):
    ask("0901.11 커피 수출 실적")
    with django_capture_on_commit_callbacks(execute=True):
        edition_bump(TRADE)
    repeat = ask("0901.11 커피 수출 실적")
    assert repeat.hscode_analysis["cache_hit"] is False and not _code_hit(repeat)


@pytest.mark.usefixtures("fresh_editions")
def test_a_requirements_refresh_that_changes_a_code_invalidates_it_and_one_that_does_not_keeps_it(
        ask, kcs_fake, settings, django_capture_on_commit_callbacks):  # noqa: F811
    first = ask("0203.29 냉동 삼겹살 수입 요건")
    assert _buttons(first)["REGULATION"]["metadata"]["regulationTypes"][0] != "가축전염병 예방법"
    assert _code_hit(ask("0203.29 삼겹살 규제 알려줘"))
    other_code = editions_for("851713")

    with django_capture_on_commit_callbacks(execute=True):
        requirements_refresh("0203291000", "import")  # new rows for the code

    assert editions_for("851713") == other_code  # another code keeps its entries
    after = ask("0203.29 pork belly import requirements")
    assert not _code_hit(after)
    assert _buttons(after)["REGULATION"]["metadata"]["regulationTypes"][:2] == ["가축전염병 예방법",
                                                                              "수입식품안전관리 특별법"]
    settled = ask("0203.29 frozen pork bellies regulations")
    assert _code_hit(settled)

    settings.KCS_REDIS_PREFIX = kcs_fake.redis_prefix + ":second"  # past the client's answer cache
    with django_capture_on_commit_callbacks(execute=True):
        call_command("refresh_customs_data", "--all", "--only", "requirements", "--no-progress", verbosity=0)
    assert _code_hit(ask("0203.29 pork belly import rules"))  # the same answer: nothing to invalidate


@pytest.mark.usefixtures("fresh_editions")
def test_a_failed_live_lookup_changes_no_edition(kcs_fake, django_capture_on_commit_callbacks):  # noqa: F811
    from kcs.service_errors import KcsServiceError

    before = editions_for("020329")
    kcs_fake.set_fault("quota", service="ccct_gw")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(KcsServiceError):
        requirements_refresh("0203291000", "import")
    assert editions_for("020329") == before


@pytest.mark.usefixtures("fresh_editions")
def test_hsk_and_tariff_imports_bump_their_editions(tmp_path, django_capture_on_commit_callbacks):
    from tests.support.kcs_files import SAMPLE_HSK_ROWS, sample_tariff_rows, write_hsk_csv, write_tariff_csv

    before = editions_for("020329")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_tariff_rates", str(write_tariff_csv(tmp_path / "t.csv", sample_tariff_rows())),
                     "--no-progress", verbosity=0)
    tariff = editions_for("020329")
    assert tariff["tariff"] != before["tariff"] and tariff["hsk"] == before["hsk"]
    rows = [{**row, "적용종료일자": "2026-12-31"} for row in SAMPLE_HSK_ROWS]
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_hsk", str(write_hsk_csv(tmp_path / "h.csv", rows)), "--no-progress", verbosity=0)
    assert editions_for("020329")["hsk"] != tariff["hsk"]


# --- nothing from an error ------------------------------------------------------------------------------------


@pytest.fixture
def failing_context7(settings, context7_server, redis_url, redis_prefix):  # noqa: F811
    settings.CONTEXT7_API_URL = context7_server.url
    settings.CONTEXT7_API_KEY = ""
    settings.CONTEXT7_LIBRARY_ID = "/wco/hs-nomenclature-2022"
    settings.CONTEXT7_LIBRARY_NAME = ""
    settings.CONTEXT7_REDIS_URL = redis_url
    settings.CONTEXT7_REDIS_PREFIX = redis_prefix
    settings.CONTEXT7_BUDGET_S = 3.0
    settings.CONTEXT7_RETRY_ATTEMPTS = 1
    settings.CONTEXT7_BREAKER_FAIL_MAX = 1000
    settings.CONTEXT7_CACHE_ENABLED = True
    context7_server.set_fault("server_error", status=500)
    yield context7_server
    reset_clients()


@pytest.mark.usefixtures("fresh_editions")
def test_a_failed_context7_lookup_caches_nothing(ask, failing_context7):
    text = "8517.13 스마트폰 관세율은 얼마인가요"
    failed = ask(text)
    record = failed.hscode_analysis
    assert record["fallback_used"] is True and failed.status == ChatMessage.Status.COMPLETED
    assert question_get(question_cache_key(text)) is None
    assert code_buttons_get(record["code_cache"]["key"]) is None
    key = code_buttons_key("8517.13", "ko", analysis_version=ANALYSIS_VERSION, editions=code_editions("851713"))
    assert key == record["code_cache"]["key"]

    failing_context7.clear_faults()
    calls = failing_context7.request_count()
    repeat = ask(text)
    assert repeat.hscode_analysis["cache_hit"] is False and repeat.hscode_analysis["fallback_used"] is False
    assert failing_context7.request_count() > calls  # really asked again
    assert question_get(question_cache_key(text)) is not None  # a success is cached


# --- detail-page data -----------------------------------------------------------------------------------------


def _statistics_page(client, hscode: str, language: str = "ko") -> str:
    response = client.get("/statistics", {"hscode": hscode, "period": "all"}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_statistics_page_data_is_shared_per_code_across_languages_and_an_import_refreshes_it(
        client, settings, django_capture_on_commit_callbacks):
    settings.KCS_NITEMTRADE_KEY = ""
    hits, misses = _counts(DETAIL_PAGE)
    empty = _statistics_page(client, "0901.11")
    assert "불러온 무역 통계가 없습니다" in empty
    assert _counts(DETAIL_PAGE) == (hits, misses + 2)  # the report and the availability, computed
    _statistics_page(client, "0901.11", "en")
    assert _counts(DETAIL_PAGE) == (hits + 2, misses + 2)  # the same data, rendered in English

    with django_capture_on_commit_callbacks(execute=True):
        run_import(COMTRADE_COFFEE)

    body = _statistics_page(client, "0901.11")
    assert "1,020,500,000" in body and "불러온 무역 통계가 없습니다" not in body
    assert _counts(DETAIL_PAGE) == (hits + 2, misses + 4)


def test_detail_page_data_that_fails_to_compute_is_not_stored():
    def failing():
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        detail_page_data("test_part", "851713", failing)
    hits, misses = _counts(DETAIL_PAGE)
    assert detail_page_data("test_part", "851713", lambda: {"figure": 1}) == {"figure": 1}
    assert _counts(DETAIL_PAGE) == (hits, misses + 1)
    assert detail_page_data("test_part", "851713", lambda: {"figure": 2}) == {"figure": 1}
