"""Limit/offset pagination that refuses what it cannot honour instead of silently ignoring it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

OFFSET_MAX = 10**9


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """`limit` from 1 to API_MAX_PAGE_SIZE and `offset` from 0: anything else is a 400 naming the parameter.

    DRF's own class falls back to the defaults on a malformed value (`offset=null` reads as 0) and accepts any
    limit, so one request could ask for every row.
    """

    max_limit = settings.API_MAX_PAGE_SIZE

    def _bounded(self, request, name: str, low: int, high: int, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise ValidationError({name: [f"a whole number from {low} to {high}"]})
        return int(raw)

    def get_limit(self, request) -> int:
        return self._bounded(request, self.limit_query_param, 1, self.max_limit, self.default_limit)

    def get_offset(self, request) -> int:
        return self._bounded(request, self.offset_query_param, 0, OFFSET_MAX, 0)

    def get_schema_operation_parameters(self, view) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, OFFSET_MAX)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"].update({"minimum": low, "maximum": high})
        return parameters
