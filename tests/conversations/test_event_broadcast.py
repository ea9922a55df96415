"""One channel-layer message per committed transaction and conversation, read back from the real Redis layer."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers, get_channel_layer
from django.db import transaction

from chat.services import conversation_create
from conversations import contracts
from conversations.events import BATCH_FRAMES_MAX, _broadcaster, conversation_group, event_emit
from conversations.models import Conversation, ConversationEvent
from conversations.selectors import Owner

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _listen(conversation: Conversation) -> str:
    """A channel joined to the conversation's group, as a consumer joins it."""
    channel = f"test-listener.{uuid.uuid4().hex}"
    async_to_sync(get_channel_layer().group_add)(conversation_group(conversation.pk), channel)
    return channel


def _received(channel: str, quiet: float = 0.5) -> list[dict]:
    """Every message the channel got, once the process's broadcasts are out and nothing more comes."""
    _broadcaster.flush()

    async def drain() -> list[dict]:
        # A layer of its own: a channel layer's receive buffers belong to the event loop that made them.
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        messages = []
        try:
            while True:
                try:
                    messages.append(await asyncio.wait_for(layer.receive(channel), quiet))
                except TimeoutError:
                    return messages
        finally:
            await layer.close_pools()

    return async_to_sync(drain)()


def _emit(conversation: Conversation, event: str = contracts.THINKING) -> int:
    return event_emit(conversation_id=conversation.pk, message_id=None, event=event, data={})


@pytest.fixture
def conversation() -> Conversation:
    return conversation_create(owner=Owner(user_id=None, session_key="b" * 32))


def test_a_transaction_with_several_events_sends_one_message_with_every_frame_in_seq_order(conversation):
    channel = _listen(conversation)
    with transaction.atomic():
        seqs = [_emit(conversation) for _ in range(4)]
    messages = _received(channel)
    assert len(messages) == 1
    assert messages[0]["type"] == "conversation.events"
    assert [frame["seq"] for frame in messages[0]["frames"]] == seqs == [1, 2, 3, 4]
    stored = [e.as_frame() for e in ConversationEvent.objects.filter(conversation=conversation).order_by("seq")]
    assert messages[0]["frames"] == stored


def test_each_commit_sends_its_own_message_and_an_event_outside_a_transaction_sends_one(conversation):
    channel = _listen(conversation)
    _emit(conversation)  # autocommit: event_emit's own transaction
    with transaction.atomic():
        _emit(conversation)
        _emit(conversation)
    assert [[f["seq"] for f in m["frames"]] for m in _received(channel)] == [[1], [2, 3]]


def test_a_rolled_back_transaction_sends_nothing(conversation):
    channel = _listen(conversation)
    with pytest.raises(RuntimeError), transaction.atomic():
        _emit(conversation)
        _emit(conversation)
        raise RuntimeError("the caller fails after emitting")
    assert _received(channel) == []
    assert not ConversationEvent.objects.filter(conversation=conversation).exists()
    _emit(conversation)  # the next transaction starts clean: nothing of the rolled-back one rides along
    assert [[f["seq"] for f in m["frames"]] for m in _received(channel)] == [[1]]


def test_a_rolled_back_savepoint_leaves_out_only_its_own_frames(conversation):
    channel = _listen(conversation)
    with transaction.atomic():
        _emit(conversation)
        with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint
            _emit(conversation)
            raise RuntimeError("the inner block fails")
        _emit(conversation)  # the savepoint's seq was rolled back with it: this one reuses it
        with transaction.atomic():  # a savepoint that is released, not rolled back
            _emit(conversation)
    messages = _received(channel)
    assert [[f["seq"] for f in m["frames"]] for m in messages] == [[1, 2, 3]]
    stored = [e.as_frame() for e in ConversationEvent.objects.filter(conversation=conversation).order_by("seq")]
    assert messages[0]["frames"] == stored


def test_a_savepoint_rolled_back_after_the_first_event_still_sends_the_later_ones(conversation):
    """The batch's hook was first registered inside the savepoint: it must not be dropped with it."""
    channel = _listen(conversation)
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            _emit(conversation)
            raise RuntimeError("the inner block fails")
        _emit(conversation)
    assert [[f["seq"] for f in m["frames"]] for m in _received(channel)] == [[1]]


def test_two_conversations_in_one_transaction_get_one_message_each(conversation):
    other = conversation_create(owner=Owner(user_id=None, session_key="c" * 32))
    mine, theirs = _listen(conversation), _listen(other)
    with transaction.atomic():
        _emit(conversation)
        _emit(other)
        _emit(conversation)
    assert [[f["seq"] for f in m["frames"]] for m in _received(mine)] == [[1, 2]]
    assert [[f["seq"] for f in m["frames"]] for m in _received(theirs)] == [[1]]


def test_a_transaction_with_more_frames_than_one_message_carries_sends_them_in_order_in_few_messages(conversation):
    channel = _listen(conversation)
    count = BATCH_FRAMES_MAX + 3
    with transaction.atomic():
        for _ in range(count):
            _emit(conversation)
    sent = [[f["seq"] for f in m["frames"]] for m in _received(channel)]
    assert sent == [list(range(1, BATCH_FRAMES_MAX + 1)), list(range(BATCH_FRAMES_MAX + 1, count + 1))]
