"""REST API of the analysis reviews and reprocessing (staff): the same acts, and permissions, as in the admin.

A stranger gets 404 for a message they may not see, its owner 403 (staff only); see docs/api.md.
"""

from __future__ import annotations

import django_filters
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import ChatMessage
from restkit.fields import StrictCharField, StrictUUIDField
from restkit.filters import StrictFilterSet, UtcIsoDateTimeFilter
from restkit.views import ApiMixin, IsStaff, fake_view, is_staff, messages_visible

from .models import AnalysisReview, ReprocessRun
from .reprocessing import OperatorError, reprocess_request, review_record


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


class CanViewReviews(BasePermission):
    message = "Your account lacks the permission to view reviews (the same as in the admin)."

    def has_permission(self, request, view) -> bool:
        return request.user.has_perms(REVIEW_VIEW_PERMISSIONS)


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


class ReviewFilter(StrictFilterSet):
    verdict = django_filters.ChoiceFilter(choices=AnalysisReview.Verdict.choices)
    reviewer = django_filters.CharFilter(field_name="reviewer__username")
    label_hs6 = django_filters.CharFilter(field_name="label_hs6", lookup_expr="startswith")
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AnalysisReview
        fields: list[str] = []


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
        if not fake_view(self):  # 404 / 403 before anything else, even before the body is validated
            needed = REVIEW_VIEW_PERMISSIONS if request.method in ("GET", "HEAD", "OPTIONS") else REVIEW_ADD_PERMISSIONS
            self.message = _message_for_staff(request, kwargs["message_id"], needed)

    def get_queryset(self):
        if fake_view(self):
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
