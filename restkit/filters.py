"""Query filters that refuse what they cannot read, instead of filtering nothing."""

from __future__ import annotations

from datetime import UTC

import django_filters
import django_filters.constants
from django import forms
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictFilterSet(django_filters.FilterSet):
    """A parameter given with an empty value (`?hscode=`) is refused, not read as "no filter", wherever the
    schema admits no empty value (everything but a free-text filter)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, declared in self.filters.items():
            declared.param_name = name  # errors name the query parameter, not the model field behind it

    def is_valid(self) -> bool:
        valid = super().is_valid()
        empty = [
            name for name, declared in self.filters.items()
            if type(declared) is not django_filters.CharFilter and name in self.data
            and all(value == "" for value in self.data.getlist(name))
        ]
        for name in empty:
            self.form.add_error(name, "an empty value is not allowed: leave the parameter out")
        return valid and not empty


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, compared in UTC: any offset ISO allows (+19:14 included) reaches the database as UTC,
    which PostgreSQL refuses otherwise; one that leaves the calendar's range is a 400."""

    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        try:
            value = value.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise serializers.ValidationError(
                {getattr(self, "param_name", self.field_name): ["a date-time within the calendar's range"]}
            ) from exc
        return super().filter(qs, value)


@extend_schema_field({"type": "boolean"})
class StrictBooleanFilter(django_filters.Filter):
    """`true` or `false`, as OpenAPI writes a boolean in a query; anything else is a 400, not "no filter"."""

    field_class = forms.TypedChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.update(choices=[("true", "true"), ("false", "false")], coerce=lambda value: value == "true",
                      empty_value=None)
        super().__init__(*args, **kwargs)
