from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from hscode import api as hscode_api

from . import api, views

app_name = "chat"

urlpatterns = [
    path("", views.chat_page, name="page"),
    path("api/conversations/", api.ConversationListCreateApi.as_view(), name="conversation-list"),
    path("api/conversations/<uuid:conversation_id>/", api.ConversationRetrieveApi.as_view(), name="conversation"),
    path(
        "api/conversations/<uuid:conversation_id>/messages/",
        api.ConversationMessageListApi.as_view(),
        name="conversation-messages",
    ),
    path("api/messages/", api.MessageListApi.as_view(), name="message-list"),
    path("api/messages/<int:message_id>/", api.MessageRetrieveApi.as_view(), name="message"),
    path("api/messages/<int:message_id>/reviews/", hscode_api.MessageReviewListCreateApi.as_view(),
         name="message-reviews"),
    path("api/messages/<int:message_id>/feedback/", api.MessageFeedbackApi.as_view(), name="message-feedback"),
    path("api/messages/<int:message_id>/reprocess/", hscode_api.MessageReprocessApi.as_view(),
         name="message-reprocess"),
    path("api/reviews/", hscode_api.ReviewListApi.as_view(), name="review-list"),
    # OpenAPI 3: the schema, Swagger UI and Redoc (assets from drf-spectacular-sidecar, no CDN).
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="chat:schema"), name="swagger-ui"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="chat:schema", template_name="ops/redoc.html"),
        name="redoc",
    ),
    # Any other /api/ path: a JSON 404 like the API's own, whatever DEBUG says (clients parse the body).
    re_path(r"^api/", api.api_path_not_found, name="api-not-found"),
]
