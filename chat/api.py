"""REST API: conversations, messages with their analyses, and the owner's answer feedback.

Session auth with CSRF enforced for everyone (anonymous owners hold sessions too; restkit).
Visibility is decided once (restkit.views): owners see their own conversations, staff see
everything, anybody else gets 404 (a stranger learns nothing, not even that it exists).
Staff reviews and reprocessing are hscode's (hscode/api.py). The OpenAPI schema is at /api/schema/.
"""

from __future__ import annotations

import re

import django_filters
import django_filters.constants
from django.db.models import Count, Q, QuerySet
from django.http import Http404, JsonResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, Throttled
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from conversations import contracts
from conversations.models import AnswerFeedback, ChatMessage, Conversation
from conversations.selectors import Owner, conversation_list_for_owner
from hscode.reprocessing import SOURCES, below_confidence_q, hscode_q, source_q
from restkit import views as restkit_views
from restkit.fields import StrictCharField
from restkit.filters import StrictBooleanFilter, StrictFilterSet, UtcIsoDateTimeFilter
from restkit.views import ApiMixin, fake_view, is_staff

from .feedback import FeedbackError, FeedbackOutcome, answer_feedback_set
from .protocol import FrameError
from .ratelimit import RateLimited, owner_rate_key, rate_check
from .services import conversation_create


def api_path_not_found(request, *args, **kwargs) -> JsonResponse:
    return JsonResponse({"detail": "Not found."}, status=404)


def request_owner(request) -> Owner:
    """The caller as an owner; an anonymous caller gets a session (and so an identity) here.

    Raises RateLimited when the caller's address opened too many new sessions.
    """
    user = request.user
    if user.is_authenticated:
        return Owner(user_id=user.pk, session_key="")
    if request.session.session_key is None:
        rate_check("session", owner_key=None, client_ip=request.META.get("REMOTE_ADDR"))
        request.session.save()
    return Owner(user_id=None, session_key=request.session.session_key)


def request_limits_key(request) -> tuple[str, str | None]:
    owner = request_owner(request)
    return owner_rate_key(owner.user_id, owner.session_key), request.META.get("REMOTE_ADDR")


def api_exception_handler(exc, context):
    """DRF's handler, plus: a rate limit is a 429 with Retry-After and the person's message."""
    if isinstance(exc, RateLimited):
        exc = Throttled(wait=exc.wait, detail=exc.message)
    return exception_handler(exc, context)


def conversations_visible(request) -> QuerySet[Conversation]:
    """What the caller may see; an anonymous caller gets a session here (request_owner)."""
    return restkit_views.conversations_visible(request, request_owner(request))


def messages_visible(request) -> QuerySet[ChatMessage]:
    return restkit_views.messages_visible(request, request_owner(request))


# --- serializers -------------------------------------------------------------------


class ConversationSerializer(serializers.ModelSerializer):
    title = StrictCharField(required=False, allow_blank=True, max_length=200)

    class Meta:
        model = Conversation
        fields = ["id", "title", "created_at", "updated_at", "last_seq"]
        read_only_fields = ["id", "created_at", "updated_at", "last_seq"]


_CANDIDATES = inline_serializer(
    "HscodeCandidate",
    many=True,
    fields={
        "code": serializers.CharField(),
        "confidence": serializers.FloatField(),
        "description": serializers.CharField(required=False),
        "source": serializers.CharField(help_text="lexical, semantic, cases, context7, local+context7 ..."),
    },
)


@extend_schema_field(
    inline_serializer(
        "HscodeAnalysis",
        fields={
            "detected_hscode": serializers.CharField(allow_null=True, help_text="e.g. 8517.13; null: none sure"),
            "product_name": serializers.CharField(),
            "classification_confidence": serializers.FloatField(),
            "intent_detection": serializers.DictField(),
            "detail_buttons": serializers.ListField(child=serializers.DictField()),
            "processing_metadata": serializers.DictField(),
            "analysis_source": serializers.ChoiceField(choices=SOURCES),
            "language": serializers.CharField(),
            "resolved": serializers.DictField(allow_null=True),
            "hscode_candidates": _CANDIDATES,
            "fallback_used": serializers.BooleanField(help_text="Context7 failed; the local analysis was used"),
            "cache_hit": serializers.BooleanField(),
            "reprocess": serializers.DictField(required=False, help_text="set when staff reprocessed it"),
        },
        allow_null=True,
        help_text="seed 002 hscode_analysis plus the pipeline's own keys; null until analysed",
    )
)
class HscodeAnalysisField(serializers.JSONField):
    pass


class FeedbackSerializer(serializers.ModelSerializer):
    """The owner's vote on an assistant's answer; PUT it to set or change it."""

    vote = serializers.ChoiceField(choices=contracts.FEEDBACK_VOTES, help_text="up: 👍, down: 👎")
    reason = StrictCharField(required=False, allow_blank=True, max_length=contracts.FEEDBACK_REASON_MAX_CHARS,
                             help_text="optional, trimmed")

    class Meta:
        model = AnswerFeedback
        fields = ["message", "vote", "reason", "created_at", "updated_at"]
        read_only_fields = ["message", "created_at", "updated_at"]


class MessageSerializer(serializers.ModelSerializer):
    hscode_analysis = HscodeAnalysisField(read_only=True)
    feedback = FeedbackSerializer(read_only=True, allow_null=True,
                                  help_text="an assistant's answer: the owner's vote on it; null when none")

    class Meta:
        model = ChatMessage
        fields = [
            "id",
            "conversation",
            "reply_to",
            "role",
            "content",
            "status",
            "created_at",
            "hscode_analysis",
            "context7_analysis",
            "sse_bookmark_data",
            "parallel_task_metrics",
            "detail_page_processing_time",
            "feedback",
        ]
        read_only_fields = fields


# --- filters -----------------------------------------------------------------------


@extend_schema_field({"type": "number", "minimum": 0, "maximum": 1})
class ConfidenceFilter(django_filters.NumberFilter):
    """A confidence between 0 and 1."""

    def __init__(self, *args, **kwargs):
        kwargs.update(min_value=0, max_value=1)
        super().__init__(*args, **kwargs)


# An HS code prefix: a chapter, heading or subheading, dotted or not. Checked with re.search, as JSON Schema's
# `pattern` is, so the schema and the server agree on every value.
HSCODE_PREFIX_PATTERN = r"^[0-9]{2}(?:[0-9]{2}(?:[.]?[0-9]{2})?)?$"


@extend_schema_field({"type": "string", "pattern": HSCODE_PREFIX_PATTERN,
                      "description": "detected code starts with: 85, 8517, 8517.13 or 851713"})
class HscodePrefixFilter(django_filters.CharFilter):
    def filter(self, qs, value):
        if value in django_filters.constants.EMPTY_VALUES:
            return qs
        if not re.search(HSCODE_PREFIX_PATTERN, value):
            raise serializers.ValidationError({self.field_name: ["an HS code prefix: 85, 8517, 8517.13 or 851713"]})
        return qs.filter(hscode_q(value))


class ConversationFilter(StrictFilterSet):
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    mine = StrictBooleanFilter(
        method="filter_mine", help_text="true: only the caller's own conversations (what non-staff see anyway)"
    )

    class Meta:
        model = Conversation
        fields: list[str] = []

    def filter_mine(self, queryset, name, value):
        if value is None:
            return queryset
        if not is_staff(self.request):  # they only ever see their own
            return queryset if value else queryset.none()
        mine = Q(owner_user_id=self.request.user.pk)
        return queryset.filter(mine) if value else queryset.exclude(mine)


class MessageFilter(StrictFilterSet):
    role = django_filters.ChoiceFilter(choices=ChatMessage.Role.choices)
    status = django_filters.MultipleChoiceFilter(choices=ChatMessage.Status.choices)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    hscode = HscodePrefixFilter()
    source = django_filters.ChoiceFilter(choices=[(s, s) for s in SOURCES], method="filter_source")
    fallback_used = StrictBooleanFilter(method="filter_fallback")
    confidence_below = ConfidenceFilter(method="filter_confidence_below")
    confidence_min = ConfidenceFilter(method="filter_confidence_min")
    reviewed = StrictBooleanFilter(method="filter_reviewed")

    class Meta:
        model = ChatMessage
        fields: list[str] = []

    def filter_source(self, queryset, name, value):
        return queryset.filter(source_q(value))

    def filter_fallback(self, queryset, name, value):
        return queryset.filter(hscode_analysis__fallback_used=value)

    def filter_confidence_below(self, queryset, name, value):
        return queryset.filter(below_confidence_q(value))

    def filter_confidence_min(self, queryset, name, value):
        return queryset.filter(hscode_analysis__classification_confidence__gte=float(value))

    def filter_reviewed(self, queryset, name, value):
        reviewed = queryset.annotate(_reviews=Count("reviews"))
        return reviewed.filter(_reviews__gt=0) if value else reviewed.filter(_reviews=0)


# --- conversations -----------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(summary="Conversations the caller may see", tags=["conversations"]),
    post=extend_schema(summary="Start a conversation owned by the caller (user or session)", tags=["conversations"]),
)
class ConversationListCreateApi(ApiMixin, generics.ListCreateAPIView):
    serializer_class = ConversationSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = ConversationFilter

    def get_queryset(self):
        if fake_view(self):
            return Conversation.objects.none()
        return conversations_visible(self.request)

    def perform_create(self, serializer):
        owner_key, client_ip = request_limits_key(self.request)
        rate_check("conversation", owner_key=owner_key, client_ip=client_ip)
        serializer.instance = conversation_create(
            owner=request_owner(self.request), title=serializer.validated_data.get("title", "")
        )


def _conversation_or_404(request, conversation_id) -> Conversation:
    """The conversation if the caller may see it; else 404: a stranger learns nothing, not even that it exists."""
    conversation = conversations_visible(request).filter(pk=conversation_id).first()
    if conversation is None:
        raise Http404
    return conversation


@extend_schema_view(get=extend_schema(summary="One conversation", tags=["conversations"]))
class ConversationRetrieveApi(ApiMixin, generics.RetrieveAPIView):
    serializer_class = ConversationSerializer

    def get_object(self):
        return _conversation_or_404(self.request, self.kwargs["conversation_id"])


@extend_schema_view(get=extend_schema(summary="A conversation's messages, oldest first", tags=["messages"]))
class ConversationMessageListApi(ApiMixin, generics.ListAPIView):
    serializer_class = MessageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = MessageFilter

    def get_queryset(self):
        if fake_view(self):
            return ChatMessage.objects.none()
        conversation = _conversation_or_404(self.request, self.kwargs["conversation_id"])
        return conversation.messages.select_related("feedback").order_by("created_at", "id")


# --- messages ----------------------------------------------------------------------


@extend_schema_view(get=extend_schema(summary="Messages the caller may see, with analyses", tags=["messages"]))
class MessageListApi(ApiMixin, generics.ListAPIView):
    serializer_class = MessageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = MessageFilter

    def get_queryset(self):
        if fake_view(self):
            return ChatMessage.objects.none()
        return messages_visible(self.request).select_related("feedback").order_by("created_at", "id")


@extend_schema_view(get=extend_schema(summary="One message with its analysis", tags=["messages"]))
class MessageRetrieveApi(ApiMixin, generics.RetrieveAPIView):
    serializer_class = MessageSerializer
    lookup_url_kwarg = "message_id"

    def get_queryset(self):
        if fake_view(self):
            return ChatMessage.objects.none()
        return messages_visible(self.request).select_related("feedback")


# --- answer feedback -----------------------------------------------------------------


_FEEDBACK_REFUSALS = {
    404: OpenApiResponse(description="not an answer of the caller's own conversations (whether it exists or not: "
                         "staff included); nothing is stored"),
    409: OpenApiResponse(description="the person's own message (only an assistant's answer takes a vote), or an "
                         "answer still streaming"),
    429: OpenApiResponse(description="too many votes (CHAT_RATE_LIMIT_FEEDBACK_*); retry after Retry-After"),
}


class FeedbackConflict(APIException):
    """The message cannot take a vote: the person's own message, or an answer still streaming."""

    status_code = status.HTTP_409_CONFLICT


class MessageFeedbackApi(ApiMixin, APIView):
    """The owner's 👍/👎 on an answer: PUT sets or changes it (one vote per answer), DELETE withdraws it. Each change
    is announced to the conversation's live clients as `answer_feedback`; a 👎 puts the person's message in the
    staff review queue."""

    def _answer_conversation(self, request, message_id: int) -> Conversation:
        """Counted by the vote limit first; then the answer's conversation if the caller owns it, else 404."""
        owner_key, client_ip = request_limits_key(request)
        rate_check("feedback", owner_key=owner_key, client_ip=client_ip)
        owned = conversation_list_for_owner(request_owner(request))
        message = ChatMessage.objects.filter(pk=message_id, conversation__in=owned).select_related(
            "conversation").first()
        if message is None:
            raise Http404
        return message.conversation

    def _store(self, conversation: Conversation, message_id: int, vote: str | None,
               reason: str = "") -> FeedbackOutcome:
        try:
            return answer_feedback_set(conversation=conversation, message_id=message_id, vote=vote, reason=reason)
        except FeedbackError as exc:
            if exc.code == "answer_not_found":  # deleted in between
                raise Http404 from exc
            raise FeedbackConflict({"detail": exc.message, "code": exc.code}) from exc
        except FrameError as exc:
            raise serializers.ValidationError({"reason": [exc.message]}) from exc

    @extend_schema(
        summary="Vote 👍/👎 on an answer of your own conversation (set or change)",
        request=FeedbackSerializer,
        responses={200: FeedbackSerializer, **_FEEDBACK_REFUSALS},
        tags=["messages"],
    )
    def put(self, request, message_id: int):
        conversation = self._answer_conversation(request, message_id)
        body = FeedbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = self._store(conversation, message_id, body.validated_data["vote"],
                              body.validated_data.get("reason", ""))
        return Response(FeedbackSerializer(outcome.feedback).data, status=status.HTTP_200_OK)

    @extend_schema(
        summary="Withdraw your vote on an answer (nothing to withdraw is fine)",
        request=None,
        responses={204: OpenApiResponse(description="no vote stands now"), **_FEEDBACK_REFUSALS},
        tags=["messages"],
    )
    def delete(self, request, message_id: int):
        conversation = self._answer_conversation(request, message_id)
        self._store(conversation, message_id, None)
        return Response(status=status.HTTP_204_NO_CONTENT)
