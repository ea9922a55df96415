"""Below the confidence threshold: candidate buttons, the person's pick, and NO_HSCODE_DETECTED only for nothing.

Task B runs inline here, exactly as the workers run it; every emitted event is validated against the contract.
"""

from __future__ import annotations

import uuid

import jsonschema
import pytest

from chat.protocol import FrameError
from chat.services import bookmark_save
from conversations import contracts
from conversations.models import Bookmark, ChatMessage, Conversation, ConversationEvent, SearchHistory
from hscode.models import AnalysisReview
from hscode.reprocessing import reprocess_request, reprocess_run
from hscode.services import ChoiceError, detail_button_ready, detail_page_prepare, message_code_choose

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data")]

PORK = "냉동 삼겹살 수입하려면 어떤 규제가 있어?"
OPENER = "stainless steel bottle opener"


@pytest.fixture(autouse=True)
def no_detail_cache(settings):
    settings.DETAIL_CACHE_TTL_S = 0


@pytest.fixture
def conversation():
    return Conversation.objects.create(owner_session_key="candidates-test")


def _analysed(conversation: Conversation, text: str) -> ChatMessage:
    message = ChatMessage.objects.create(conversation=conversation, role=ChatMessage.Role.USER, content=text)
    for button_type in detail_page_prepare(message.pk):
        detail_button_ready(message.pk, button_type)
    message.refresh_from_db()
    return message


def _events(message: ChatMessage) -> list[dict]:
    frames = [e.as_frame() for e in ConversationEvent.objects.filter(message=message).order_by("seq")]
    for frame in frames:
        jsonschema.validate(frame, contracts.SERVER_FRAME_SCHEMA)
        jsonschema.validate(frame["data"], contracts.DATA_SCHEMAS[frame["event"]])
    return frames


@pytest.mark.parametrize(("text", "right_code"), [(PORK, "0203.29"), (OPENER, "8205.51")])
def test_an_uncertain_product_gets_candidate_buttons_with_the_right_code_one_click_away(
    conversation, client, text, right_code
):
    message = _analysed(conversation, text)
    frames = _events(message)
    assert frames[0]["event"] == contracts.BUTTONS_START
    assert contracts.BUTTONS_ERROR not in [f["event"] for f in frames]
    buttons = [f["data"] for f in frames if f["event"] == contracts.BUTTON_READY]
    assert 1 <= len(buttons) <= 3
    assert all(b["buttonType"] == "HS_CODE" and b["metadata"]["candidate"] for b in buttons)
    assert [b["metadata"]["candidateRank"] for b in buttons] == list(range(1, len(buttons) + 1))
    by_code = {b["metadata"]["hscode"]: b for b in buttons}
    assert right_code in by_code
    assert client.get(by_code[right_code]["url"]).status_code == 200  # one click to the right code's page
    # Korean first: the 관세청 name, in Hangul, for the Korean question
    assert any("\uac00" <= ch <= "\ud7a3" for ch in by_code[right_code]["metadata"]["nameKo"])
    complete = frames[-1]
    assert complete["event"] == contracts.BUTTONS_COMPLETE
    assert complete["data"]["summary"]["hscode_detected"] is None
    assert {c["hscode"] for c in complete["data"]["candidates"]} == set(by_code)
    assert message.status == ChatMessage.Status.COMPLETED
    assert {c["hscode"] for c in message.hscode_analysis["candidates_offered"]} == set(by_code)
    assert message.sse_bookmark_data is None  # nothing sure enough to bookmark yet


def test_the_korean_question_gets_korean_titles_and_the_english_one_english(conversation):
    korean = [f["data"] for f in _events(_analysed(conversation, PORK)) if f["event"] == contracts.BUTTON_READY]
    english = [f["data"] for f in _events(_analysed(conversation, OPENER)) if f["event"] == contracts.BUTTON_READY]
    assert any("\uac00" <= ch <= "\ud7a3" for ch in korean[0]["title"])
    assert korean[0]["description"].startswith("후보 1")
    assert not any("\uac00" <= ch <= "\ud7a3" for ch in english[0]["title"] + english[0]["description"])


def test_picking_a_candidate_stores_the_persons_choice_and_builds_that_codes_three_buttons(conversation):
    message = _analysed(conversation, PORK)
    before = ConversationEvent.objects.filter(message=message).count()
    assert message_code_choose(conversation_id=conversation.pk, message_id=message.pk, hscode="0203.29")
    message.refresh_from_db()
    frames = _events(message)[before:]
    assert [f["event"] for f in frames] == [contracts.BUTTONS_START, *[contracts.BUTTON_READY] * 3,
                                            contracts.BUTTONS_COMPLETE]
    buttons = {f["data"]["buttonType"]: f["data"] for f in frames if f["event"] == contracts.BUTTON_READY}
    assert set(buttons) == {"HS_CODE", "REGULATION", "STATISTICS"}
    assert all(b["metadata"]["hscode"] == "0203.29" for b in buttons.values())
    assert "candidate" not in buttons["HS_CODE"]["metadata"]
    assert buttons["REGULATION"]["priority"] == 1  # a regulation question: its button first
    assert frames[-1]["data"]["chosenBy"] == "person"
    assert frames[-1]["data"]["summary"]["hscode_detected"] == "0203.29"
    assert message.status == ChatMessage.Status.COMPLETED
    assert message.person_choice["hscode"] == "0203.29"
    assert message.hscode_analysis["analysis_source"] == "person"
    assert message.sse_bookmark_data["target_value"] == "0203.29"
    assert not AnalysisReview.objects.filter(message=message).exists()  # the person's pick is no staff verdict
    assert SearchHistory.objects.get(message=message).hscode == "0203.29"  # recent codes, as the page shows
    # the same click again changes nothing
    assert not message_code_choose(conversation_id=conversation.pk, message_id=message.pk, hscode="0203.29")
    assert ConversationEvent.objects.filter(message=message).count() == before + len(frames)


def test_a_code_that_was_not_offered_or_a_foreign_message_is_refused(conversation):
    message = _analysed(conversation, PORK)
    with pytest.raises(ChoiceError) as refused:
        message_code_choose(conversation_id=conversation.pk, message_id=message.pk, hscode="8517.13")
    assert refused.value.code == "not_a_candidate"
    other = Conversation.objects.create(owner_session_key="someone-else")
    with pytest.raises(ChoiceError) as refused:
        message_code_choose(conversation_id=other.pk, message_id=message.pk, hscode="0203.29")
    assert refused.value.code == "not_found"
    message.refresh_from_db()
    assert message.person_choice is None


def test_reprocessing_keeps_the_persons_choice(conversation):
    message = _analysed(conversation, OPENER)
    message_code_choose(conversation_id=conversation.pk, message_id=message.pk, hscode="8205.51")
    request_id = uuid.uuid4()
    reprocess_request([message.pk], request_id=request_id, enqueue=False)
    run = reprocess_run(message.pk, request_id)
    assert run.state == "done"
    message.refresh_from_db()
    assert message.person_choice["hscode"] == "8205.51"
    assert message.hscode_analysis["detected_hscode"] == "8205.51"
    assert message.hscode_analysis["analysis_source"] == "person"
    assert {b["type"] for b in message.hscode_analysis["detail_buttons"]} == {"HS_CODE", "REGULATION", "STATISTICS"}
    # the candidates stay on record, so the person can still pick another
    assert "8205.51" in {c["hscode"] for c in message.hscode_analysis["candidates_offered"]}


@pytest.mark.parametrize("text", ["hello", "안녕하세요, 반갑습니다"])
def test_a_greeting_ends_with_no_hscode_detected_partial_results_and_a_how_to(conversation, text):
    message = _analysed(conversation, text)
    frames = _events(message)
    assert [f["event"] for f in frames] == [contracts.BUTTONS_START, contracts.BUTTONS_ERROR]
    error = frames[-1]["data"]
    assert error["errorCode"] == "NO_HSCODE_DETECTED"
    assert error["partialResults"] == {"buttonsGenerated": 0, "hscode_detected": None, "confidence_score": 0.0}
    assert set(contracts.NO_HSCODE_SUGGESTIONS) <= set(error["suggestions"])
    how_to = error["suggestionsByLanguage"]
    assert how_to["ko"] and how_to["en"] and how_to["ko"] != how_to["en"]
    assert not any("재질" in s for s in how_to["ko"])
    assert message.status == ChatMessage.Status.FAILED
    assert message.hscode_analysis["no_hscode"]["suggestionsByLanguage"] == how_to  # for a reload


def test_the_picked_code_is_offered_as_a_bookmark_and_saved_once_as_the_owners_item(conversation):
    message = _analysed(conversation, PORK)
    with pytest.raises(FrameError):  # nothing sure yet: nothing to save
        bookmark_save(conversation=conversation, message_id=message.pk)
    message_code_choose(conversation_id=conversation.pk, message_id=message.pk, hscode="0203.29")
    complete = _events(message)[-1]["data"]
    assert complete["bookmark"]["target_value"] == "0203.29"
    bookmark = bookmark_save(conversation=conversation, message_id=message.pk)
    assert (bookmark.owner_session_key, bookmark.target_value) == ("candidates-test", "0203.29")
    bookmark_save(conversation=conversation, message_id=message.pk)  # a second click: still one item
    assert Bookmark.objects.count() == 1
    saved = [f for f in _events(message) if f["event"] == contracts.BOOKMARK_SAVED]
    assert len(saved) == 1 and saved[0]["data"]["target_value"] == "0203.29"
