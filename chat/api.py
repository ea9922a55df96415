"""REST API: conversations, messages with their analyses, staff reviews and reprocessing.

Session auth with CSRF enforced for everyone (anonymous owners hold sessions too).
Visibility is decided here, once: owners see their own conversations, staff see
everything, anybody else gets 404 (a stranger learns nothing, not even that it
exists). Reviews and reprocessing are for staff: an owner gets 403 for their own
message, a stranger still 404. The OpenAPI schema is at /api/schema/.
"""

from __future__ import annotations

import re
from datetime import UTC

import django_filters
import django_filters.constants
from django import forms
from django.core.validators import RegexValidator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, JsonResponse
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
from rest_framework.exceptions import APIException, PermissionDenied, Throttled
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from conversations import contracts
from conversations.models import AnswerFeedback, ChatMessage, Conversation
from conversations.selectors import Owner, conversation_list_for_owner
from hscode.models import AnalysisReview, ReprocessRun
from hscode.reprocessing import (
    SOURCES,
    OperatorError,
    below_confidence_q,
    hscode_q,
    reprocess_request,
    review_record,
    source_q,
)

from .feedback import FeedbackError, FeedbackOutcome, answer_feedback_set
from .protocol import FrameError
from .ratelimit import RateLimited, owner_rate_key, rate_check
from .services import conversation_create


def api_path_not_found(request, *args, **kwargs) -> JsonResponse:
    return JsonResponse({"detail": "Not found."}, status=404)


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


# --- serializers -------------------------------------------------------------------


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


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)
    note = StrictCharField(required=False, allow_blank=True)
    corrected_hs6 = StrictCharField(
        required=False, allow_blank=True, max_length=32,
        help_text="required when the verdict is wrong: an HS 2022 subheading, e.g. 8517.13 or 851713",
    )

    class Meta:
        model = AnalysisReview
        fields = ["id", "message", "reviewer", "verdict", "detected_hscode", "corrected_hs6", "label_hs6", "note",
                  "created_at"]
        read_only_fields = ["id", "message", "reviewer", "detected_hscode", "label_hs6", "created_at"]


class ReprocessRequestSerializer(serializers.Serializer):
    request_id = StrictUUIDField(
        required=False, help_text="repeat a request with the same id and it is not run twice"
    )


class ReprocessRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReprocessRun
        fields = ["id", "message", "request_id", "state", "attempts", "previous_hscode", "new_hscode",
                  "code_changed", "error", "created_at", "started_at", "finished_at"]
        read_only_fields = fields


# --- filters -----------------------------------------------------------------------


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


class ReviewFilter(StrictFilterSet):
    verdict = django_filters.ChoiceFilter(choices=AnalysisReview.Verdict.choices)
    reviewer = django_filters.CharFilter(field_name="reviewer__username")
    label_hs6 = django_filters.CharFilter(field_name="label_hs6", lookup_expr="startswith")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

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
        return conversation.messages.select_related("feedback").order_by("created_at", "id")


# --- messages ----------------------------------------------------------------------


@extend_schema_view(get=extend_schema(summary="Messages the caller may see, with analyses", tags=["messages"]))
class MessageListApi(ApiMixin, generics.ListAPIView):
    serializer_class = MessageSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = MessageFilter

    def get_queryset(self):
        if _fake(self):
            return ChatMessage.objects.none()
        return messages_visible(self.request).select_related("feedback").order_by("created_at", "id")


@extend_schema_view(get=extend_schema(summary="One message with its analysis", tags=["messages"]))
class MessageRetrieveApi(ApiMixin, generics.RetrieveAPIView):
    serializer_class = MessageSerializer
    lookup_url_kwarg = "message_id"

    def get_queryset(self):
        if _fake(self):
            return ChatMessage.objects.none()
        return messages_visible(self.request).select_related("feedback")


class UnprocessableReview(serializers.ValidationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


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
        responses={201: ReviewSerializer,
                   409: OpenApiResponse(description="an assistant's answer: only a person's message is analysed"),
                   422: OpenApiResponse(description="a well-formed review that does not fit: 'wrong' without a "
                                        "corrected code, an unknown code, 'correct' when no code was detected")},
        tags=["reviews"],
    ),
)
class MessageReviewListCreateApi(ApiMixin, generics.ListCreateAPIView):
    serializer_class = ReviewSerializer
    staff_only = True  # checked in initial(), after the 404 for strangers

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not _fake(self):  # 404 / 403 before anything else, even before the body is validated
            needed = REVIEW_VIEW_PERMISSIONS if request.method in ("GET", "HEAD", "OPTIONS") else REVIEW_ADD_PERMISSIONS
            self.message = _message_for_staff(request, kwargs["message_id"], needed)

    def get_queryset(self):
        if _fake(self):
            return AnalysisReview.objects.none()
        return self.message.reviews.select_related("reviewer").order_by("-created_at", "-id")

    def create(self, request, *args, **kwargs):
        if self.message.role != ChatMessage.Role.USER:
            return Response({"detail": "only a person's message has an analysis to review"},
                            status=status.HTTP_409_CONFLICT)
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = review_record(
                message=self.message, reviewer=self.request.user, verdict=data["verdict"],
                corrected_hs6=data.get("corrected_hs6", ""), note=data.get("note", ""),
            )
        except OperatorError as exc:  # well formed, but not a review that fits this message
            raise UnprocessableReview({"detail": [str(exc)]}) from exc


@extend_schema_view(get=extend_schema(summary="All reviews (staff)", tags=["reviews"]))
class ReviewListApi(ApiMixin, generics.ListAPIView):
    serializer_class = ReviewSerializer
    permission_classes = [IsStaff, CanViewReviews]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ReviewFilter
    queryset = AnalysisReview.objects.select_related("reviewer").order_by("-created_at", "-id")


class MessageReprocessApi(ApiMixin, APIView):
    staff_only = True  # checked in post(), after the 404 for strangers
    @extend_schema(
        summary="Reprocess a message's analysis on the bulk queue (staff)",
        description="Resets the analysis and runs detail-page preparation again; connected clients receive the "
        "new button events. Idempotent per request_id.",
        request=ReprocessRequestSerializer,
        responses={202: ReprocessRunSerializer,
                   409: OpenApiResponse(description="an assistant's answer: only a person's message is analysed")},
        tags=["reviews"],
    )
    def post(self, request, message_id: int):
        message = _message_for_staff(request, message_id, REPROCESS_PERMISSIONS)
        if message.role != ChatMessage.Role.USER:
            return Response({"detail": "only a person's message has an analysis to reprocess"},
                            status=status.HTTP_409_CONFLICT)
        body = ReprocessRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = reprocess_request(
            [message.pk], request_id=body.validated_data.get("request_id"), requested_by=request.user, via="api"
        )
        run = ReprocessRun.objects.get(message=message, request_id=outcome.request_id)
        return Response(ReprocessRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


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
