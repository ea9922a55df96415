"""The split of chat into conversations (core) and chat (edges) changed no table and no migration history.

A database migrated before the split has recorded the chat app's migrations 0001–0007 under the label "chat";
the models kept that label and their tables, so such a database has nothing to migrate and loses nothing.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversations.models import ChatMessage, Conversation, ConversationEvent, MessageStep
from hscode.models import AnalysisReview, ReprocessRun

pytestmark = pytest.mark.django_db

# What every existing database recorded in django_migrations for app "chat" before the split.
RECORDED_BEFORE_THE_SPLIT = [
    "0001_initial",
    "0002_chatmessage_reply_to_alter_chatmessage_status_and_more",
    "0003_analysisreview_reprocessrun",
    "0004_chatmessage_waiting_since",
    "0005_owner_session_key_hmac",
    "0006_messagestep",
    "0007_person_choice_and_bookmarks",
]


def test_the_chat_label_keeps_its_migration_history_in_the_conversations_package():
    executor = MigrationExecutor(connection)
    names = sorted(name for app, name in executor.loader.disk_migrations if app == "chat")
    assert names[: len(RECORDED_BEFORE_THE_SPLIT)] == RECORDED_BEFORE_THE_SPLIT
    assert apps.get_app_config("chat").name == "conversations"
    first = executor.loader.disk_migrations[("chat", "0001_initial")]
    assert type(first).__module__ == "conversations.migrations.0001_initial"


def test_the_moved_models_keep_their_label_and_tables():
    tables = {model._meta.label: model._meta.db_table
              for model in (Conversation, ChatMessage, ConversationEvent, MessageStep, AnalysisReview, ReprocessRun)}
    assert tables == {
        "chat.Conversation": "chat_conversation",
        "chat.ChatMessage": "chat_messages",
        "chat.ConversationEvent": "chat_conversationevent",
        "chat.MessageStep": "chat_messagestep",
        "chat.AnalysisReview": "chat_analysisreview",
        "chat.ReprocessRun": "chat_reprocessrun",
    }


def test_a_migrated_database_has_nothing_left_to_apply_and_the_models_need_no_new_migration():
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # SystemExit(1) on a pending change
