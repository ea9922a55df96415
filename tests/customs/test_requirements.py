"""Korea's 세관장확인대상 requirements: fetched from the (fake) service, kept in the database with their age, shown
first on the regulation page; every failure form gives a clear message and stores nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from customs.models import Requirement, RequirementLookup
from customs.services import requirements_ensure, requirements_refresh
from hscode.buttons import regulation_button
from hscode.regulations import regulation_summary
from kcs import service_errors as codes
from kcs.service_errors import KcsServiceError
from tests.customs.kcs_fixtures import cached_answers, kcs_fake, kcs_no_keys  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]


def test_the_regulation_page_lists_koreas_requirements_first(client, kcs_fake):  # noqa: F811
    response = client.get("/regulation", {"hscode": "0203.29"})
    page = response.content.decode()
    assert response.status_code == 200
    for text in ("가축전염병 예방법", "농림축산검역본부", "수입검역증명서", "수입식품안전관리 특별법",
                 "식품의약품안전처", "수입식품등의 신고확인증", "수출검역증명서"):
        assert text in page
    assert page.index("한국 수출입 요건") < page.index("EU 규제 표준 요약")
    assert "관세청_세관장확인대상물품(GW), 공공데이터포털 15101589" in page  # the source, with its date
    assert "조회 시각" in page
    stored = RequirementLookup.objects.get(code="0203291000", direction="import")
    assert [r.document for r in stored.requirements.all()] == ["수입검역증명서", "수입식품등의 신고확인증"]


def test_an_empty_answer_reads_no_requirement_found_never_no_regulation(client, kcs_fake):  # noqa: F811
    page = client.get("/regulation", {"hscode": "0203.29"}).content.decode()
    # 0203.29-9000 has no row in the fake in either direction.
    assert "조회된 요건 없음" in page
    assert "규제 없음" not in page
    assert RequirementLookup.objects.get(code="0203299000", direction="import").requirements.count() == 0


def test_no_risk_label_the_data_does_not_state(client, kcs_fake):  # noqa: F811
    page = client.get("/regulation", {"hscode": "4819.10"}).content.decode()  # PPWR applies (packaging)
    assert "위험 수준" not in page and "badge-low" not in page


def test_stored_requirements_are_reused_until_they_are_older_than_the_refresh_age(client, kcs_fake, settings):  # noqa: F811
    client.get("/regulation", {"hscode": "0203.29"})
    calls = kcs_fake.request_count("ccct_gw")
    assert calls == 4  # two lines × import/export
    client.get("/regulation", {"hscode": "0203.29"})
    assert kcs_fake.request_count("ccct_gw") == calls
    old = timezone.now() - dt.timedelta(days=settings.KCS_REQUIREMENTS_MAX_AGE_DAYS + 1)
    RequirementLookup.objects.filter(code="0203291000").update(fetched_at=old)
    settings.KCS_REDIS_PREFIX = kcs_fake.redis_prefix + ":second"  # past the Redis answer cache too
    client.get("/regulation", {"hscode": "0203.29"})
    assert kcs_fake.request_count("ccct_gw") == calls + 2


def test_the_unipass_api029_is_used_when_only_its_key_is_set(kcs_fake, settings):  # noqa: F811
    settings.KCS_CCCT_KEY = ""
    lookup = requirements_refresh("3307902000", "import")
    assert lookup.source == "api029"
    assert [(r.law_name, r.law_code) for r in lookup.requirements.all()] == [("화장품법", "15")]


def test_without_keys_the_page_says_so_and_shows_no_operator_command(client, kcs_no_keys):  # noqa: F811
    page = client.get("/regulation", {"hscode": "0203.29"}).content.decode()
    assert "연결되어 있지 않아" in page
    assert "manage.py" not in page and "KCS_" not in page
    assert RequirementLookup.objects.count() == 0


@pytest.mark.parametrize(
    ("fault", "key", "code", "message"),
    [
        ("quota", None, codes.GATEWAY_QUOTA, "오늘 조회 한도"),
        ("quota_200", None, codes.GATEWAY_QUOTA, "오늘 조회 한도"),
        ("html_503", None, codes.UNAVAILABLE, "점검 중이거나"),
        ("not_xml", None, codes.MALFORMED, "응답을 읽을 수 없었습니다"),
        ("slow", None, codes.TIMEOUT, "제시간에 응답하지"),
        (None, "unsubscribed-key", codes.GATEWAY_KEY_NOT_REGISTERED, "인증키를 받지 않았습니다"),
    ],
)
def test_every_failure_form_shows_a_clear_message_and_stores_nothing(
    client, kcs_fake, settings, fault, key, code, message  # noqa: F811
):
    if fault:
        kcs_fake.set_fault(fault, service="ccct_gw", delay=2.0)
    if key:
        settings.KCS_CCCT_KEY = key
    with pytest.raises(KcsServiceError) as raised:
        requirements_refresh("0203291000", "import")
    assert raised.value.code == code
    page = client.get("/regulation", {"hscode": "0203.29"}).content.decode()
    assert message in page
    assert "manage.py" not in page and (key or "fake-gw-ccct-key") not in page
    assert RequirementLookup.objects.count() == 0 and Requirement.objects.count() == 0
    assert cached_answers(kcs_fake.redis_prefix) == []


@pytest.mark.parametrize(("key", "code"), [("wrong", codes.UNIPASS_KEY_REFUSED),
                                           ("fake-unipass-api030-key", codes.UNIPASS_KEY_REFUSED)])
def test_unipass_key_refusals_store_nothing(kcs_fake, settings, key, code):  # noqa: F811
    settings.KCS_CCCT_KEY = ""
    settings.KCS_API029_KEY = key
    result = requirements_ensure(["0203291000"], budget_s=5)
    assert set(result.errors.values()) == {code}
    assert RequirementLookup.objects.count() == 0
    assert cached_answers(kcs_fake.redis_prefix) == []


def test_a_failed_refresh_keeps_the_previous_answer(client, kcs_fake, settings):  # noqa: F811
    requirements_refresh("0203291000", "import")
    old = timezone.now() - dt.timedelta(days=30)
    RequirementLookup.objects.update(fetched_at=old)
    settings.KCS_REDIS_PREFIX = kcs_fake.redis_prefix + ":second"
    kcs_fake.set_fault("html_503", service="ccct_gw")
    page = client.get("/regulation", {"hscode": "0203.29-1000"}).content.decode()
    assert "수입검역증명서" in page and "마지막으로 받은 결과" in page
    assert RequirementLookup.objects.get(code="0203291000", direction="import").fetched_at == old


def test_the_regulation_page_in_english_frames_the_rows_in_english(client, kcs_fake):  # noqa: F811
    client.cookies["django_language"] = "en"
    page = client.get("/regulation", {"hscode": "0203.29"}).content.decode()
    assert "Korea&#x27;s import/export requirements" in page or "Korea's import/export requirements" in page
    assert "Approving agency" in page and "Required document" in page
    assert "수입검역증명서" in page  # the service's text, verbatim
    assert "No requirement found" in page


def test_the_regulation_button_lists_koreas_laws_before_the_eu_marks(kcs_fake):  # noqa: F811
    requirements_refresh("0203291000", "import")
    button = regulation_button(code="020329", display="0203.29", priority=1)
    assert button["metadata"]["regulationTypes"][:2] == ["가축전염병 예방법", "수입식품안전관리 특별법"]
    assert button["metadata"]["regulationTypes"][2:] == regulation_summary("020329")["regulationTypes"]
    assert button["description"].startswith("한국 수출입 요건(세관장확인대상)")


@pytest.mark.parametrize(("key", "shown"), [
    ("no-such-key", "관세청 UNI-PASS가 이 사이트의 인증키를 받지 않았습니다"),  # 존재하지 않는 인증키입니다.
    ("fake-unipass-api030-key", "관세청 UNI-PASS가 이 사이트의 인증키를 받지 않았습니다"),  # 인증키상의 API 불일치
])
def test_unipass_refusals_show_a_clear_message_on_the_page(client, kcs_fake, settings, key, shown):  # noqa: F811
    settings.KCS_CCCT_KEY = ""
    settings.KCS_API029_KEY = key
    page = client.get("/regulation", {"hscode": "0203.29-1000"}).content.decode()
    assert shown in page and key not in page
    assert RequirementLookup.objects.count() == 0
    assert cached_answers(kcs_fake.redis_prefix) == []
