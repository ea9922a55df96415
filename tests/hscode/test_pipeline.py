"""The orchestrator (hscode/pipeline.py): one task per message on the embedded defaults, the message analysed once,
every step reading the stored analysis, each part done once however often it runs, network waits sent to io."""

from __future__ import annotations

import pytest
from celery.signals import before_task_publish

from chat.services import conversation_create, message_create
from config.task_routes import route_network_bound
from conversations import contracts
from conversations.models import ChatMessage, ConversationEvent, MessageStep
from conversations.selectors import Owner
from hscode.answer_stream import answer_generate
from hscode.pipeline import ANSWER_GENERATE_TASK, message_process
from hscode.stored_analysis import analysis_dump, analysis_load, stored_analysis

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

TEXT = "냉동 삼겹살 수입할 때 HS 코드 0203.29"


@pytest.fixture
def conversation():
    return conversation_create(owner=Owner(user_id=None, session_key="p" * 32))


@pytest.fixture
def published():
    names: list[str] = []

    def record(sender=None, **_kwargs):
        names.append(sender)

    before_task_publish.connect(record, weak=False)
    yield names
    before_task_publish.disconnect(record)


def _events(message: ChatMessage) -> list[str]:
    return list(ConversationEvent.objects.filter(message=message).order_by("seq").values_list("event", flat=True))


def test_the_embedded_path_publishes_one_task_and_does_every_step_inline(conversation, published,
                                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_create(conversation=conversation, text=TEXT)
    assert published == ["hscode.tasks.message_process"]

    with django_capture_on_commit_callbacks(execute=True):
        done = message_process(message.pk)
    assert done.analysed == 1 and done.published == [] and published == ["hscode.tasks.message_process"]
    assert sorted(done.inline) == ["task_a", "task_b", "task_c"]
    assert _events(message) == [
        contracts.MESSAGE_CREATED, contracts.THINKING, contracts.BUTTONS_START, contracts.BUTTON_READY,
        contracts.BUTTON_READY, contracts.BUTTON_READY, contracts.BUTTONS_COMPLETE,
        contracts.ANSWER_DELTA, contracts.ANSWER_COMPLETE,
    ]
    message.refresh_from_db()
    assert message.status == ChatMessage.Status.COMPLETED and message.answer.status == ChatMessage.Status.COMPLETED
    metrics = message.parallel_task_metrics
    assert {k: t["name"] for k, t in metrics["task_execution"].items()} == {
        "task_a": "ai_response_generation", "task_b": "detail_page_preparation", "task_c": "chat_history_saving"}
    assert all(t["status"] == "completed" for t in metrics["task_execution"].values())
    assert "performance_analysis" in metrics and metrics["optimization_suggestions"]
    assert message.search_history.hscode == "0203.29"
    # The orchestrator claimed the three steps it ran, so the sweeper sees them started.
    assert set(MessageStep.objects.filter(message=message, claimed_at__isnull=False).values_list("step", flat=True)) \
        == {"buttons", "answer", "history"}


def test_run_again_it_analyses_nothing_and_emits_nothing(conversation, django_capture_on_commit_callbacks):
    message = message_create(conversation=conversation, text=TEXT)
    message_process(message.pk)
    events = _events(message)
    message.refresh_from_db()
    metrics = message.parallel_task_metrics

    again = message_process(message.pk)  # a redelivery (acks_late), or the sweeper's re-enqueue
    assert again.analysed == 0 and again.inline == [] and again.published == []
    assert _events(message) == events
    message.refresh_from_db()
    assert message.parallel_task_metrics == metrics


def test_the_answer_task_reads_the_stored_analysis_instead_of_classifying_again(conversation):
    message = message_create(conversation=conversation, text=TEXT)
    message_process(message.pk)
    message.refresh_from_db()
    stored = stored_analysis(message.hscode_analysis)
    assert stored.explicit is not None and stored.explicit.dotted == "0203.29"
    # Another code in the stored analysis: an answer that classified the text again would still say 0203.29.
    other = analysis_load({**analysis_dump(stored),
                           "explicit": {**analysis_dump(stored)["explicit"], "code": "851713", "raw": "8517.13"}})
    record = {**message.hscode_analysis, "text_analysis": analysis_dump(other)}
    ChatMessage.objects.filter(pk=message.pk).update(hscode_analysis=record)
    ChatMessage.objects.filter(reply_to=message).delete()

    answer_generate(message.pk)
    answer = ChatMessage.objects.get(reply_to=message)
    assert "8517.13" in answer.content and "0203.29" not in answer.content


def test_the_stored_analysis_reads_back_as_the_classifier_gave_it(conversation):
    message = message_create(conversation=conversation, text="스마트폰 수출 규제 8517.13")
    message_process(message.pk)
    message.refresh_from_db()
    stored = stored_analysis(message.hscode_analysis)
    assert stored.text == message.content and stored.explicit.code == "851713"
    assert analysis_load(analysis_dump(stored)) == stored


def test_an_llm_answer_goes_to_the_io_queue_and_the_rest_stays_inline(conversation, settings,
                                                                      django_capture_on_commit_callbacks, published):
    settings.LLM_BACKEND = "openai"
    settings.LLM_BASE_URL = "http://127.0.0.1:9"  # never called here: the answer task is only published
    message = message_create(conversation=conversation, text=TEXT)
    with django_capture_on_commit_callbacks(execute=True):
        done = message_process(message.pk)
    assert done.published == [ANSWER_GENERATE_TASK] and published == [ANSWER_GENERATE_TASK]
    assert sorted(done.inline) == ["task_b", "task_c"]
    assert route_network_bound(ANSWER_GENERATE_TASK, (message.pk,), {}, {}) == {"queue": "io"}
    assert contracts.BUTTONS_COMPLETE in _events(message) and contracts.ANSWER_COMPLETE not in _events(message)
    # The io task reads what the orchestrator stored; the record was committed before it was published.
    message.refresh_from_db()
    assert stored_analysis(message.hscode_analysis) is not None


def test_a_message_without_a_code_fails_its_buttons_and_still_gets_its_answer_and_history(conversation):
    message = message_create(conversation=conversation, text="안녕하세요")
    message_process(message.pk)
    message.refresh_from_db()
    events = _events(message)
    assert events[2:4] == [contracts.BUTTONS_START, contracts.BUTTONS_ERROR]
    assert events[-1] == contracts.ANSWER_COMPLETE
    assert message.status == ChatMessage.Status.FAILED
    assert message.parallel_task_metrics["task_execution"]["task_b"]["status"] == "failed"
    assert message.parallel_task_metrics["task_execution"]["task_c"]["status"] == "completed"
