from django.apps import AppConfig


class CustomsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customs"
    verbose_name = "Korea Customs data (HSK table, tariff rates)"
