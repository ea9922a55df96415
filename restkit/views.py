"""Authentication, the views' common checks, and who may see which conversations and messages."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.authentication import SessionScheme
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from conversations.models import ChatMessage, Conversation
from conversations.selectors import Owner, conversation_list_for_owner


class SessionCsrfAuthentication(SessionAuthentication):
    """DRF checks CSRF only for signed-in users; anonymous owners hold sessions too, so check it always."""

    def authenticate(self, request: Request):
        self.enforce_csrf(request)
        return super().authenticate(request)


class SessionCsrfScheme(SessionScheme):
    """OpenAPI: the session cookie (named `cookieAuth`), as for DRF's SessionAuthentication."""

    target_class = SessionCsrfAuthentication


def is_staff(request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def request_owner_known(request) -> Owner:
    """The caller as an owner, without starting a session: an anonymous caller with no session owns nothing."""
    user = request.user
    if user.is_authenticated:
        return Owner(user_id=user.pk, session_key="")
    return Owner(user_id=None, session_key=request.session.session_key or "")


def conversations_visible(request, owner: Owner | None = None) -> QuerySet[Conversation]:
    """Staff see every conversation; anyone else their own (`owner`: the caller, when already known)."""
    if is_staff(request):
        return Conversation.objects.order_by("-created_at")
    owner = owner if owner is not None else request_owner_known(request)
    if not owner.is_known:
        return Conversation.objects.none()
    return conversation_list_for_owner(owner)


def messages_visible(request, owner: Owner | None = None) -> QuerySet[ChatMessage]:
    if is_staff(request):
        return ChatMessage.objects.all()
    return ChatMessage.objects.filter(conversation__in=conversations_visible(request, owner))


def fake_view(view) -> bool:
    """drf-spectacular introspects views without a real request."""
    return getattr(view, "swagger_fake_view", False)


class IsStaff(BasePermission):
    message = "Staff only."

    def has_permission(self, request, view) -> bool:
        return is_staff(request)


class ApiMixin:
    authentication_classes = [SessionCsrfAuthentication]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # A misspelt filter (`?hscod=85`) would silently return everything: every parameter must be documented.
        allowed = set(getattr(getattr(self, "filterset_class", None), "base_filters", {}))
        paginator = getattr(self, "paginator", None)
        if paginator is not None:
            allowed |= {paginator.limit_query_param, paginator.offset_query_param}
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise serializers.ValidationError({name: ["unknown query parameter"] for name in unknown})
