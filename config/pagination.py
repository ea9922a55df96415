"""Every list is paginated, and no page is larger than API_MAX_PAGE_SIZE (a huge ?limit= is cut to it)."""

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination


class CappedLimitOffsetPagination(LimitOffsetPagination):
    @property
    def max_limit(self) -> int:
        return settings.API_MAX_PAGE_SIZE
