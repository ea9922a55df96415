from django.apps import AppConfig


class HscodeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "hscode"
    verbose_name = "HS code analysis"
