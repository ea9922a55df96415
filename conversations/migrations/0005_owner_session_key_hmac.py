"""Anonymous owners: replace each stored session key with its HMAC (conversations.selectors.session_key_digest)."""

import hashlib
import hmac

from django.conf import settings
from django.db import migrations
from django.db.models.functions import Length


def _digest(session_key: str) -> str:
    # The same computation as conversations.selectors.session_key_digest, frozen here as migrations must be.
    return hmac.new(settings.SESSION_KEY_HMAC_KEY.encode(), session_key.encode(), hashlib.sha256).hexdigest()


def hash_owner_session_keys(apps, schema_editor):
    for model_name in ("Conversation", "SearchHistory"):
        model = apps.get_model("chat", model_name)
        # A digest is 64 hex characters; Django's session keys are 32, so a shorter value is a raw key.
        raw = model.objects.annotate(key_length=Length("owner_session_key")).filter(
            key_length__gt=0, key_length__lt=64
        )
        for row in raw.only("pk", "owner_session_key").iterator():
            model.objects.filter(pk=row.pk).update(owner_session_key=_digest(row.owner_session_key))


class Migration(migrations.Migration):
    dependencies = [("chat", "0004_chatmessage_waiting_since")]

    operations = [migrations.RunPython(hash_owner_session_keys, migrations.RunPython.noop)]
