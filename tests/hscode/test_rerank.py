"""Optional LLM re-ranking against a fake OpenAI-compatible endpoint: prompt, validation, every fallback (issue 15)."""

import json

import pytest

from hscode.analysis.analyse import analyse_text
from hscode.rerank import GIR, llm_rerank, rerank_messages, validate_answer
from llm_client import LlmConfig
from tests.fakes.llm_server import FakeLlmServer

TEXT = "stainless steel kitchen knife set with wooden block"


@pytest.fixture
def llm():
    with FakeLlmServer() as server:
        server.set(delay=0.0)
        yield server


@pytest.fixture
def analysis():
    result = analyse_text(TEXT)
    assert len(result.candidates) >= 3
    return result


def _config(server: FakeLlmServer, timeout: float = 2.0) -> LlmConfig:
    return LlmConfig(base_url=server.base_url, api_key="test-key", model="fake", timeout_s=timeout, max_s=timeout)


def _answer(server: FakeLlmServer, code: str, reason: str = "GRI 1: the heading names the goods") -> None:
    server.set(mode="stream", text=json.dumps({"code": code, "reason": reason}))


def test_the_prompt_holds_the_rules_the_candidates_their_names_and_headings(analysis):
    system, user = rerank_messages(analysis)
    assert GIR in system["content"] and '"code"' in system["content"]
    for candidate in analysis.candidates[:5]:
        assert candidate.dotted in user["content"]
        assert candidate.description in user["content"]
    assert "(heading " in user["content"] and TEXT in user["content"]
    assert " / " in user["content"]  # a Korean name from the KCS table next to the English one


def test_a_valid_choice_moves_that_candidate_first_without_raising_its_confidence(llm, analysis):
    second = analysis.candidates[2]
    _answer(llm, second.dotted)
    reranked, outcome = llm_rerank(analysis, _config(llm))
    assert outcome.status == "reranked" and outcome.code == second.code and outcome.reason
    assert reranked.candidates[0].code == second.code
    assert reranked.candidates[0].confidence == second.confidence
    assert "llm" in reranked.candidates[0].evidence
    assert {c.code for c in reranked.candidates} == {c.code for c in analysis.candidates}
    assert llm.last_body["messages"][1]["content"] == rerank_messages(analysis)[1]["content"]


def test_agreeing_with_the_local_first_changes_nothing(llm, analysis):
    _answer(llm, analysis.candidates[0].code)
    reranked, outcome = llm_rerank(analysis, _config(llm))
    assert outcome.status == "kept" and reranked is analysis


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ({"mode": "stream", "text": json.dumps({"code": "0101.21", "reason": "horses"})}, "outside"),
        ({"mode": "stream", "text": "I'm sorry, I cannot help with customs classification."}, "refused"),
        ({"mode": "stream", "text": '{"code": "8211.10", "reason": '}, "refused"),
        ({"mode": "stream", "text": '{"code": 821110, "reason": "x"}'}, "invalid"),
        ({"mode": "stream", "text": json.dumps({"code": "8211.10"})}, "invalid"),
        ({"mode": "error"}, "error"),
        ({"mode": "malformed", "text": "a b c d e"}, "error"),
        ({"mode": "cut", "text": "a b c d e"}, "error"),
        ({"mode": "hang", "hang": 3}, "timeout"),
    ],
)
def test_every_failure_leaves_the_local_ranking_standing(llm, analysis, state, status):
    llm.set(**state)
    reranked, outcome = llm_rerank(analysis, _config(llm, timeout=0.5))
    assert outcome.status == status
    assert reranked is analysis


def test_an_unreachable_endpoint_leaves_the_local_ranking_standing(analysis):
    config = LlmConfig(base_url="http://127.0.0.1:9/v1", api_key="", model="fake", timeout_s=0.5, max_s=0.5)
    reranked, outcome = llm_rerank(analysis, config)
    assert outcome.status == "error" and reranked is analysis


def test_a_typed_code_is_never_sent_to_the_model(llm):
    typed = analyse_text("HS 8517.13 스마트폰")
    reranked, outcome = llm_rerank(typed, _config(llm))
    assert outcome.status == "skipped" and reranked is typed and llm.requests == 0


def test_validation_accepts_only_listed_codes_with_a_reason(analysis):
    code = analysis.candidates[1].code
    assert validate_answer(f'Sure: {{"code": "{code}", "reason": "GRI 3(a)"}}', analysis.candidates).status == (
        "reranked"
    )
    assert validate_answer('{"code": "", "reason": "x"}', analysis.candidates).status == "outside"
    blank_reason = json.dumps({"code": code, "reason": "  "})
    assert validate_answer(blank_reason, analysis.candidates).status == "invalid"
