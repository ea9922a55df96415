"""The event and payload shapes are contracts: seed 002's own examples must validate, and so must ours."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conversations import contracts

SEED = json.loads((Path(__file__).with_name("seed_002_examples.json")).read_text(encoding="utf-8"))


def _shape(value):
    """The JSON type skeleton of a value: dict keys and value kinds, list element shapes."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


def _assert_covers(ours, seed, path="$"):
    """Every field of the seed example exists in ours with the same kind (null allowed where seed has a value)."""
    if isinstance(seed, dict):
        assert isinstance(ours, dict), f"{path} should be an object"
        for key, value in seed.items():
            assert key in ours, f"{path}.{key} missing"
            _assert_covers(ours[key], value, f"{path}.{key}")
    elif isinstance(seed, list):
        assert isinstance(ours, list), f"{path} should be a list"
        if seed and ours:
            _assert_covers(ours[0], seed[0], f"{path}[0]")
    elif seed not in ("null", []) and ours != "null":
        assert ours == seed or {ours, seed} <= {"number"}, f"{path}: {ours} != {seed}"


@pytest.mark.parametrize("example", SEED["events"], ids=lambda e: f"{e['event']}:{e['data'].get('type')}")
def test_seed_002_event_examples_validate_against_our_schemas(example):
    jsonschema.validate(example["data"], contracts.DATA_SCHEMAS[example["event"]])


def test_every_seed_event_name_is_in_the_contract():
    assert {e["event"] for e in SEED["events"]} <= set(contracts.DATA_SCHEMAS)


def test_builders_produce_valid_data():
    samples = {
        contracts.THINKING: contracts.thinking_data(session_uuid="u", user_id=None, content="x"),
        contracts.BUTTONS_START: contracts.buttons_start_data(estimated_ms=500, context7_enabled=False,
                                                              cache_checked=True),
        contracts.BUTTONS_COMPLETE: contracts.buttons_complete_data(
            total_ms=40, buttons_generated=3, hscode="8517.13", confidence=0.91, analysis_source="local",
            fallback_used=False, cache_hit=False, context7_calls=0, context7_latency_ms=0, database_queries=9),
        contracts.BUTTONS_ERROR: contracts.no_hscode_error_data(context7_attempted=False, needs_detail=["material"]),
        contracts.MESSAGE_CREATED: contracts.message_created_data(role="user", content="hi",
                                                                  created_at=contracts.now_iso()),
        contracts.ANSWER_DELTA: contracts.answer_delta_data(delta="안녕", index=0),
        contracts.ANSWER_COMPLETE: contracts.answer_complete_data(
            content="안녕하세요", assistant_message_id=2, stopped=False, replaced=False, backend="grounded",
            fallback=False),
    }
    for event, data in samples.items():
        jsonschema.validate(data, contracts.DATA_SCHEMAS[event])
        jsonschema.validate(contracts.server_frame(event, data, 1, 1), contracts.SERVER_FRAME_SCHEMA)


def test_builder_shapes_cover_the_seed_examples():
    seed_by_kind = {(e["event"], e["data"].get("type")): e["data"] for e in SEED["events"]}
    complete = contracts.buttons_complete_data(
        total_ms=1, buttons_generated=3, hscode="8517.13", confidence=1.0, analysis_source="explicit",
        fallback_used=False, cache_hit=False, context7_calls=0, context7_latency_ms=0, database_queries=1)
    _assert_covers(_shape(complete), _shape(seed_by_kind[(contracts.BUTTONS_COMPLETE, "complete")]))
    start = contracts.buttons_start_data(estimated_ms=1, context7_enabled=True, cache_checked=False)
    _assert_covers(_shape(start), _shape(seed_by_kind[(contracts.BUTTONS_START, "start")]))
    no_code = contracts.no_hscode_error_data(context7_attempted=True)
    _assert_covers(_shape(no_code), _shape(seed_by_kind[(contracts.BUTTONS_ERROR, "hscode_detection_failed")]))
    thinking = contracts.thinking_data(session_uuid="u", user_id=3, content="x")
    _assert_covers(_shape(thinking), _shape(seed_by_kind[(contracts.THINKING, None)]))


def test_error_frame_has_no_seq_and_validates():
    frame = contracts.error_frame("invalid_json", "bad")
    jsonschema.validate(frame, contracts.ERROR_FRAME_SCHEMA)
    assert "seq" not in frame


def test_schemas_reject_a_button_without_its_metadata():
    button = next(e["data"] for e in SEED["events"] if e["data"].get("buttonType") == "REGULATION")
    broken = dict(button, metadata={"hscode": "8517.12.00"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])


def test_no_hscode_detected_carries_partial_results_in_the_seed_7_shape():
    data = contracts.no_hscode_error_data(
        context7_attempted=False, confidence=0.03,
        suggestions_by_language={"ko": ["제품명을 적어 주세요"], "en": ["Name the product"]},
    )
    jsonschema.validate(data, contracts.DATA_SCHEMAS[contracts.BUTTONS_ERROR])
    seed_error = next(e["data"] for e in SEED["events"] if e["data"].get("type") == "error")
    _assert_covers(_shape(data["partialResults"]), _shape(seed_error["partialResults"]))
    assert data["partialResults"] == {"buttonsGenerated": 0, "hscode_detected": None, "confidence_score": 0.03}
    assert data["suggestions"][: len(contracts.NO_HSCODE_SUGGESTIONS)] == list(contracts.NO_HSCODE_SUGGESTIONS)
    broken = dict(data, partialResults={"buttonsGenerated": 0})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, contracts.DATA_SCHEMAS[contracts.BUTTONS_ERROR])


def test_a_candidate_button_is_the_seed_hs_code_button_plus_its_candidate_fields():
    seed = next(e["data"] for e in SEED["events"] if e["data"].get("buttonType") == "HS_CODE")
    candidate = json.loads(json.dumps(seed))
    candidate["metadata"].update(candidate=True, candidateRank=1, confidence=0.2, nameKo="삼겹살", nameEn="Bellies")
    jsonschema.validate(candidate, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])
    for missing in ("candidateRank", "nameKo", "confidence"):
        broken = json.loads(json.dumps(candidate))
        del broken["metadata"][missing]
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])
    as_regulation = dict(candidate, buttonType="REGULATION")  # only an HS code can be a candidate
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(as_regulation, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])


def test_complete_with_candidates_and_follow_up_validates_and_still_covers_the_seed():
    data = contracts.buttons_complete_data(
        total_ms=5, buttons_generated=2, hscode=None, confidence=0.2, analysis_source="local", fallback_used=False,
        cache_hit=False, context7_calls=0, context7_latency_ms=0, database_queries=3,
        candidates=[{"hscode": "0203.29", "confidence": 0.197}, {"hscode": "0203.21", "confidence": 0.175}],
        follow_up={"ko": ["질문"], "en": ["question"]},
        bookmark=contracts.bookmark_offer(SEED["sse_bookmark_data"]),
    )
    jsonschema.validate(data, contracts.DATA_SCHEMAS[contracts.BUTTONS_COMPLETE])
    seed_complete = next(e["data"] for e in SEED["events"] if e["data"].get("type") == "complete")
    _assert_covers(_shape(data), _shape(seed_complete))
    too_many = dict(data, candidates=data["candidates"] * 2)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(too_many, contracts.DATA_SCHEMAS[contracts.BUTTONS_COMPLETE])


def test_the_page_gets_every_event_name_and_frame_type_from_the_contract():
    client = contracts.client_contract()
    unstored = {contracts.ERROR, contracts.SNAPSHOT, contracts.REPLAY_MORE}  # frames of a socket, not of the log
    assert set(client["events"].values()) == set(contracts.DATA_SCHEMAS) | unstored
    assert client["buttonTypes"] == list(contracts.BUTTON_TYPES)
    assert set(client["frames"].values()) == set(contracts.CLIENT_FRAME_TYPES)


def test_the_seed_bookmark_data_becomes_an_offer_and_a_saved_event():
    offer = contracts.bookmark_offer(SEED["sse_bookmark_data"])
    assert offer == {"bookmark_type": "HS_CODE", "target_value": "8517.12.00",
                     "display_name": "스마트폰 (HS Code 8517.12.00)"}
    assert contracts.bookmark_offer(dict(SEED["sse_bookmark_data"], bookmark_available=False)) is None
    jsonschema.validate(contracts.bookmark_saved_data(**offer), contracts.DATA_SCHEMAS[contracts.BOOKMARK_SAVED])


def _context7_error(**overrides):
    arguments = dict(error_code="CONTEXT7_TIMEOUT", error_message="시간 초과", timestamp=contracts.now_iso(),
                     api_endpoint="/v1/search", http_status=None, retry_after=None, retryable=True, retry_hint_s=30,
                     max_retries=3, expected_recovery="< 30 seconds", partial_results={"buttonsGenerated": 1})
    return contracts.context7_error_data(**(arguments | overrides))


def test_the_context7_error_builder_validates_and_covers_the_seed_context7_error():
    data = _context7_error()
    jsonschema.validate(data, contracts.DATA_SCHEMAS[contracts.BUTTONS_ERROR])
    seed = next(e["data"] for e in SEED["events"] if e["data"].get("type") == "context7_api_error")
    _assert_covers(_shape(data), _shape(seed))
    assert data["partialResults"] == {"buttonsGenerated": 1, "hscode_detected": None, "confidence_score": 0.0}


def test_the_button_builders_cover_the_seed_buttons_and_a_candidate_is_labelled_in_the_page_language():
    seeds = {e["data"]["buttonType"]: e["data"] for e in SEED["events"] if e["data"].get("buttonType")}
    hs_code = contracts.hs_code_button_data(
        display="8517.13", url="/detail/hscode/8517.13/", confidence=0.93, source="local",
        category_info={"chapter": "85", "heading": "8517", "subheading": "851713", "description": "phones"},
        session_id="s", priority=1)
    regulation = contracts.regulation_button_data(
        display="8517.13", url="/detail/regulation/?hscode=8517.13", description="d", priority=2,
        summary={key: value for key, value in seeds["REGULATION"]["metadata"].items() if key != "hscode"})
    statistics = contracts.statistics_button_data(
        display="8517.13", url="/detail/statistics/?hscode=8517.13", description="d", priority=3,
        availability={key: value for key, value in seeds["STATISTICS"]["metadata"].items() if key != "hscode"})
    for data in (hs_code, regulation, statistics):
        jsonschema.validate(data, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])
        _assert_covers(_shape(data), _shape(seeds[data["buttonType"]]))
    label = contracts.CandidateLabel(rank=2, name_ko="삼겹살", name_en="Bellies", language="en")
    candidate = contracts.hs_code_button_data(
        display="0203.29", url="/detail/hscode/0203.29/", confidence=0.2, source="local",
        category_info={"chapter": "02", "heading": "0203", "subheading": "020329", "description": "bellies"},
        session_id="s", priority=2, candidate=label)
    jsonschema.validate(candidate, contracts.DATA_SCHEMAS[contracts.BUTTON_READY])
    assert candidate["title"] == "0203.29 Bellies"
    assert candidate["description"] == "candidate 2, confidence 20%"
    assert candidate["actionData"]["queryParams"]["source"] == "chat_candidate"


def test_snapshot_and_replay_more_frames_validate():
    record = contracts.HscodeAnalysisRecord.parse(SEED["hscode_analysis"])
    message = contracts.snapshot_message(message_id=1, content="x", status="analysing", analysis=record,
                                         answer_content="", answer_status="streaming")
    frame = contracts.snapshot_frame(contracts.snapshot_data(conversation_id="c", messages=[message]), last_seq=4)
    jsonschema.validate(frame, contracts.SNAPSHOT_FRAME_SCHEMA)
    assert message["detected_hscode"] == SEED["hscode_analysis"]["detected_hscode"]
    assert message["buttons"] == SEED["hscode_analysis"]["detail_buttons"]
    jsonschema.validate(contracts.replay_more_frame(after=4, head=9), contracts.REPLAY_MORE_FRAME_SCHEMA)


def test_the_stored_analysis_record_reads_the_seed_example_and_writes_its_fields_back_unchanged():
    record = contracts.HscodeAnalysisRecord.parse(SEED["hscode_analysis"])
    assert record.detected_hscode == SEED["hscode_analysis"]["detected_hscode"]
    assert record.classification_confidence == SEED["hscode_analysis"]["classification_confidence"]
    written = record.serialize()
    assert {key: written[key] for key in SEED["hscode_analysis"]} == SEED["hscode_analysis"]
    assert contracts.HscodeAnalysisRecord.parse(written) == record


def test_the_stored_analysis_record_keeps_keys_it_does_not_name_and_defaults_missing_ones():
    record = contracts.HscodeAnalysisRecord.parse({"detected_hscode": "0203.29", "follow_up": {"ko": ["재질?"]}})
    assert record.detail_buttons == [] and record.resolved_code is None
    assert record.serialize()["follow_up"] == {"ko": ["재질?"]}
    assert contracts.HscodeAnalysisRecord.parse(None) is None

