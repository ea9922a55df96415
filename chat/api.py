"""REST API: conversations, messages with their analyses, staff reviews and reprocessing.

Session auth with CSRF enforced for everyone (anonymous owners hold sessions too).
Visibility is decided here, once: owners see their own conversations, staff see
everything, anybody else gets 404 (a stranger learns nothing, not even that it
exists). Reviews and reprocessing are for staff: an owner gets 403 for their own
message, a stranger still 404. The OpenAPI schema is at /api/schema/.
"""

from __future__ import annotations

import django_filters
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from hscode.reprocessing import (
    SOURCES,
    OperatorError,
    below_confidence_q,
    hscode_q,
    reprocess_request,
    review_record,
    source_q,
)

from .models import AnalysisReview, ChatMessage, Conversation, ReprocessRun
from .ratelimit import RateLimited, owner_rate_key, rate_check
from .selectors import Owner, conversation_list_for_owner
from .services import conversation_create


class SessionCsrfAuthentication(SessionAuthentication):
    """DRF checks CSRF only for signed-in users; anonymous owners hold sessions too, so check it always."""

    def authenticate(self, request: Request):
        self.enforce_csrf(request)
        return super().authenticate(request)


class SessionCsrfScheme(SessionScheme):
    """OpenAPI: the session cookie (named `cookieAuth`), as for DRF's SessionAuthentication."""

    target_class = SessionCsrfAuthentication


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


def is_staff(request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def conversations_visible(request) -> QuerySet[Conversation]:
    if is_staff(request):
        return Conversation.objects.order_by("-created_at")
    return conversation_list_for_owner(request_owner(request))


def messages_visible(request) -> QuerySet[ChatMessage]:
    if is_staff(request):
        return ChatMessage.objects.all()
    return ChatMessage.objects.filter(conversation__in=conversations_visible(request))


def _fake(view) -> bool:
    """drf-spectacular introspects views without a real request."""
    return getattr(view, "swagger_fake_view", False)


class IsStaff(BasePermission):
    message = "Staff only."

    def has_permission(self, request, view) -> bool:
        return is_staff(request)


class CanViewReviews(BasePermission):
    message = "Your account lacks the permission to view reviews (the same as in the admin)."

    def has_permission(self, request, view) -> bool:
        return request.user.has_perms(REVIEW_VIEW_PERMISSIONS)


class ApiMixin:
    authentication_classes = [SessionCsrfAuthentication]


# --- serializers -------------------------------------------------------------------


class ConversationSerializer(serializers.ModelSerializer):
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


class MessageSerializer(serializers.ModelSerializer):
    hscode_analysis = HscodeAnalysisField(read_only=True)

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
        ]
        read_only_fields = fields


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)
    corrected_hs6 = serializers.CharField(
        required=False, allow_blank=True, max_length=32,
        help_text="required when the verdict is wrong: an HS 2022 subheading, e.g. 8517.13 or 851713",
    )

    class Meta:
        model = AnalysisReview
        fields = ["id", "message", "reviewer", "verdict", "detected_hscode", "corrected_hs6", "label_hs6", "note",
                  "created_at"]
        read_only_fields = ["id", "message", "reviewer", "detected_hscode", "label_hs6", "created_at"]


class ReprocessRequestSerializer(serializers.Serializer):
    request_id = serializers.UUIDField(
        required=False, help_text="repeat a request with the same id and it is not run twice"
    )


class ReprocessRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReprocessRun
        fields = ["id", "message", "request_id", "state", "attempts", "previous_hscode", "new_hscode",
                  "code_changed", "error", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


# --- filters -----------------------------------------------------------------------


class ConversationFilter(django_filters.FilterSet):
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    mine = django_filters.BooleanFilter(
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


class MessageFilter(django_filters.FilterSet):
    role = django_filters.ChoiceFilter(choices=ChatMessage.Role.choices)
    status = django_filters.MultipleChoiceFilter(choices=ChatMessage.Status.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    hscode = django_filters.CharFilter(method="filter_hscode", help_text="detected code starts with: 85, 8517, 8517.13")
    source = django_filters.ChoiceFilter(choices=[(s, s) for s in SOURCES], method="filter_source")
    fallback_used = django_filters.BooleanFilter(method="filter_fallback")
    confidence_below = django_filters.NumberFilter(method="filter_confidence_below")
    confidence_min = django_filters.NumberFilter(method="filter_confidence_min")
    reviewed = django_filters.BooleanFilter(method="filter_reviewed")

    class Meta:
        model = ChatMessage
        fields: list[str] = []

    def filter_hscode(self, queryset, name, value):
        try:
            return queryset.filter(hscode_q(value))
        except OperatorError as exc:
            raise serializers.ValidationError({"hscode": [str(exc)]}) from exc

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


class ReviewFilter(django_filters.FilterSet):
    verdict = django_filters.ChoiceFilter(choices=AnalysisReview.Verdict.choices)
    reviewer = django_filters.CharFilter(field_name="reviewer__username")
    label_hs6 = django_filters.CharFilter(field_name="label_hs6", lookup_expr="startswith")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AnalysisReview
        fields: list[str] = []


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
        if _fake(self):
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
        if _fake(self):
            return ChatMessage.objects.none()
        conversation = _conversation_or_404(self.request, self.kwargs["conversation_id"])
        return conversation.messages.order_by("created_at", "id")


# --- messages ----------------------------------------------------------------------


@extend_schema_view(get=extend_schema(summary="Messages the caller may see, with analyses", tags=["messages"]))
class MessageListApi(ApiMixin, generics.ListAPIView):
    serializer_class = MessageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = MessageFilter

    def get_queryset(self):
        if _fake(self):
            return ChatMessage.objects.none()
        return messages_visible(self.request).order_by("created_at", "id")


@extend_schema_view(get=extend_schema(summary="One message with its analysis", tags=["messages"]))
class MessageRetrieveApi(ApiMixin, generics.RetrieveAPIView):
    serializer_class = MessageSerializer
    lookup_url_kwarg = "message_id"

    def get_queryset(self):
        if _fake(self):
            return ChatMessage.objects.none()
        return messages_visible(self.request)


# The permissions the admin asks for the same acts: reprocessing is its "change" action on messages, and a
# review is added on the message's change page (an inline).
REPROCESS_PERMISSIONS = ("chat.change_chatmessage",)
REVIEW_ADD_PERMISSIONS = ("chat.change_chatmessage", "chat.add_analysisreview")
REVIEW_VIEW_PERMISSIONS = ("chat.view_analysisreview",)


def _message_for_staff(request, message_id: int, permissions: tuple[str, ...]) -> ChatMessage:
    """404 unless the caller may see the message; 403 when they may see it but are not staff with `permissions`."""
    message = get_object_or_404(messages_visible(request), pk=message_id)
    if not is_staff(request):
        raise PermissionDenied("Staff only.")
    if not request.user.has_perms(permissions):
        raise PermissionDenied("Your account lacks the permission for this (the same as in the admin).")
    return message


@extend_schema_view(
    get=extend_schema(summary="Reviews of a message (staff)", tags=["reviews"]),
    post=extend_schema(
        summary="Review a message's analysis (staff)",
        description="correct, or wrong with the corrected HS 2022 subheading. The label (the corrected code, or "
        "the detected one when correct) becomes a classifier case (source review).",
        tags=["reviews"],
    ),
)
class MessageReviewListCreateApi(ApiMixin, generics.ListCreateAPIView):
    serializer_class = ReviewSerializer

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not _fake(self):  # 404 / 403 before anything else, even before the body is validated
            needed = REVIEW_VIEW_PERMISSIONS if request.method in ("GET", "HEAD", "OPTIONS") else REVIEW_ADD_PERMISSIONS
            self.message = _message_for_staff(request, kwargs["message_id"], needed)

    def get_queryset(self):
        if _fake(self):
            return AnalysisReview.objects.none()
        return self.message.reviews.select_related("reviewer").order_by("-created_at", "-id")

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = review_record(
                message=self.message, reviewer=self.request.user, verdict=data["verdict"],
                corrected_hs6=data.get("corrected_hs6", ""), note=data.get("note", ""),
            )
        except OperatorError as exc:
            raise serializers.ValidationError({"detail": [str(exc)]}) from exc


@extend_schema_view(get=extend_schema(summary="All reviews (staff)", tags=["reviews"]))
class ReviewListApi(ApiMixin, generics.ListAPIView):
    serializer_class = ReviewSerializer
    permission_classes = [IsStaff, CanViewReviews]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ReviewFilter
    queryset = AnalysisReview.objects.select_related("reviewer").order_by("-created_at", "-id")


class MessageReprocessApi(ApiMixin, APIView):
    @extend_schema(
        summary="Reprocess a message's analysis on the bulk queue (staff)",
        description="Resets the analysis and runs detail-page preparation again; connected clients receive the "
        "new button events. Idempotent per request_id.",
        request=ReprocessRequestSerializer,
        responses={202: ReprocessRunSerializer, 403: OpenApiResponse(description="not staff"),
                   404: OpenApiResponse(description="no such message for the caller")},
        tags=["reviews"],
    )
    def post(self, request, message_id: int):
        message = _message_for_staff(request, message_id, REPROCESS_PERMISSIONS)
        if message.role != ChatMessage.Role.USER:
            raise serializers.ValidationError({"detail": ["only a person's message has an analysis"]})
        body = ReprocessRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = reprocess_request(
            [message.pk], request_id=body.validated_data.get("request_id"), requested_by=request.user, via="api"
        )
        run = ReprocessRun.objects.get(message=message, request_id=outcome.request_id)
        return Response(ReprocessRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


# --- OpenAPI: the SSE stream is served by Channels, not DRF; describe it all the same -----


def schema_add_event_stream(result, generator, request, public):
    """drf-spectacular postprocessing hook: document GET /api/conversations/{conversation_id}/events."""
    result.setdefault("paths", {})["/api/conversations/{conversation_id}/events"] = {
        "get": {
            "operationId": "conversation_events_stream",
            "summary": "Server-Sent Events of a conversation (served by Channels)",
            "description": (
                "A `text/event-stream` of the conversation's events in `seq` order: `id: <seq>`, "
                "`event: <name>`, `data: {\"event\", \"data\", \"message_id\", \"seq\"}` (the same frames as the "
                "WebSocket `/ws/chat/{conversation_id}/`). Resume with `Last-Event-ID` or `?after=<seq>`: a "
                "`snapshot` frame, then every stored event after that seq. Heartbeat comments keep it open. "
                "Owners only; 404 otherwise."
            ),
            "tags": ["conversations"],
            "parameters": [
                {"name": "conversation_id", "in": "path", "required": True,
                 "schema": {"type": "string", "format": "uuid"}},
                {"name": "after", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0},
                 "description": "replay events with a greater seq"},
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "the browser's resume point (the last seq it saw)"},
            ],
            "security": [{"cookieAuth": []}, {}],
            "responses": {
                "200": {"description": "the event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "404": {"description": "not the caller's conversation"},
            },
        }
    }
    return result
