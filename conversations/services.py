"""Writes of the conversation core that belong to no higher layer."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import ConversationEvent


def event_log_prune(*, older_than_days: int | None = None) -> int:
    """Delete stored events past their retention; a later replay starts from the snapshot. Returns the count."""
    days = settings.EVENT_LOG_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ConversationEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted
