from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    """The conversation core: conversations, messages, the event log and its delivery.

    Its label stays "chat", the label these models have always had: table names, content types, permissions and
    the migration history (conversations/migrations, formerly chat/migrations) are unchanged, so a database
    migrated before the split migrates forward with nothing to do.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "conversations"
    label = "chat"
    verbose_name = "Chat"
