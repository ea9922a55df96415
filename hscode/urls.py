from django.urls import path

from . import views

app_name = "hscode"

urlpatterns = [
    path("detail/hscode/", views.hscode_lookup, name="lookup"),
    path("detail/hscode/<str:code>/", views.hscode_detail, name="detail"),
    path("regulation", views.regulation, name="regulation"),
    path("statistics", views.statistics, name="statistics"),
]
