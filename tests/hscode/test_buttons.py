"""Button payloads and the stored analysis keep the seed 002 shapes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conversations import contracts
from hscode.analysis.analyse import analyse_text
from hscode.buttons import button_build, button_order, candidate_button, regulation_button, statistics_button
from hscode.regulations import regulation_summary
from hscode.services import analysis_record
from tests.conversations.test_contracts import _assert_covers, _shape

SEED = json.loads((Path(__file__).parents[1] / "conversations" / "seed_002_examples.json").read_text(encoding="utf-8"))

pytestmark = pytest.mark.django_db


@pytest.fixture
def record():
    return analysis_record(analyse_text("8517.13 관세율 알려줘"), started_iso=contracts.now_iso(), elapsed_ms=3)


@pytest.mark.parametrize("button_type", ["HS_CODE", "REGULATION", "STATISTICS"])
def test_each_button_validates_and_covers_the_seed_example(record, button_type):
    data = button_build(button_type, analysis=contracts.HscodeAnalysisRecord.parse(record),
                        session_id="550e8400-e29b-41d4-a716-446655440000")
    jsonschema.validate(data, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])
    seed = next(e["data"] for e in SEED["events"] if e["data"].get("buttonType") == button_type)
    # dataRange is null until statistics are loaded; compare the rest of the shape
    seed_shape = _shape(seed)
    seed_shape["metadata"].pop("dataRange", None)
    _assert_covers(_shape(data), seed_shape)


def test_stored_analysis_covers_the_seed_hscode_analysis(record):
    record["detail_buttons"] = [{"type": "HS_CODE", "url": "/x", "title": "t", "priority": 1,
                                 "generated_at": contracts.now_iso()}]
    _assert_covers(_shape(record), _shape(SEED["hscode_analysis"]))
    assert record["detected_hscode"] == "8517.13"
    assert record["analysis_source"] == "explicit"


def test_regulation_intent_puts_the_regulation_button_first():
    assert button_order("regulation_inquiry")[0] == "REGULATION"
    assert button_order("trade_statistics")[0] == "STATISTICS"
    assert button_order("general") == ["HS_CODE", "REGULATION", "STATISTICS"]


def test_cbam_code_is_high_risk_for_the_eu():
    summary = regulation_summary("720851")  # flat-rolled iron or steel: CBAM goods
    assert "CBAM" in summary["standards"]
    assert summary["riskLevel"] == "high"
    assert summary["affectedCountries"] == ["EU"]


def test_national_digits_are_kept_in_the_button_code():
    record = analysis_record(analyse_text("8517130000 수입"), started_iso=contracts.now_iso(), elapsed_ms=1)
    data = button_build("HS_CODE", analysis=contracts.HscodeAnalysisRecord.parse(record), session_id="s")
    assert data["metadata"]["hscode"] == "8517.13-0000"
    assert data["metadata"]["categoryInfo"]["subheading"] == "851713"
    assert data["url"] == "/detail/hscode/8517.13-0000/"


def test_a_candidate_button_validates_and_covers_the_seed_hs_code_button():
    data = candidate_button(code="0203.29", confidence=0.197, rank=1, names=("삼겹살", "Bellies"), language="ko",
                            source="local", session_id="550e8400-e29b-41d4-a716-446655440000")
    jsonschema.validate(data, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])
    seed = next(e["data"] for e in SEED["events"] if e["data"].get("buttonType") == "HS_CODE")
    _assert_covers(_shape(data), _shape(seed))
    assert data["metadata"]["candidate"] is True and data["metadata"]["confidence"] == 0.197
    assert data["url"] == "/detail/hscode/0203.29/"


def test_buttons_promise_only_what_their_pages_can_show_without_keys(settings):
    settings.KCS_CCCT_KEY = settings.KCS_API029_KEY = settings.KCS_NITEMTRADE_KEY = ""
    regulation = regulation_button(code="020329", display="0203.29", priority=2)
    statistics = statistics_button(code="020329", display="0203.29", priority=3)
    assert regulation["description"] == "EU 규제 표준(CBAM·EUDR·EUTR·PPWR) 적용 여부"
    assert statistics["metadata"]["dataRange"] is None
    assert statistics["description"] == "불러온 무역 통계 없음 (자료 현황 안내)"


def test_buttons_name_the_korean_services_when_they_are_connected(settings):
    settings.KCS_CCCT_KEY = settings.KCS_NITEMTRADE_KEY = "configured"
    assert regulation_button(code="020329", display="0203.29", priority=1)["description"].startswith(
        "한국 수출입 요건(세관장확인대상)"
    )
    assert statistics_button(code="020329", display="0203.29", priority=3)["description"] == (
        "관세청 최근 24개월 수출입 실적 조회"
    )
