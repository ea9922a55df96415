from django.apps import AppConfig


class ChatWebConfig(AppConfig):
    """The chat's edges: consumer, pages, API and admin. It owns no models; the label "chat" belongs to the
    conversations core (conversations/apps.py)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"
    label = "chat_web"
    verbose_name = "Chat pages"
