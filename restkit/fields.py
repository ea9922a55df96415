"""JSON fields that take only what the schema says."""

from __future__ import annotations

from django.core.validators import RegexValidator
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A JSON string only (DRF's CharField turns 0 or true into "0" and "True"), without NUL characters (which
    DRF refuses too, and which the schema now says)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(r"^[^\x00]*$", "no NUL characters"))

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a string only: DRF's UUIDField also takes an integer as the UUID's 128-bit value."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)
