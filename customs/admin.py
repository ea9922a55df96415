from django.contrib import admin

from .models import HskEdition, HskLine, TariffImport, TariffRate


@admin.register(HskEdition)
class HskEditionAdmin(admin.ModelAdmin):
    list_display = ("edition", "edition_end", "line_count", "source_file", "imported_at")


@admin.register(HskLine)
class HskLineAdmin(admin.ModelAdmin):
    list_display = ("code", "name_ko", "name_en", "quantity_unit", "weight_unit", "edition")
    list_filter = ("edition",)
    search_fields = ("code", "name_ko", "name_en")


@admin.register(TariffImport)
class TariffImportAdmin(admin.ModelAdmin):
    list_display = ("source_file", "covers_from", "covers_to", "rate_count", "code_count", "imported_at")


@admin.register(TariffRate)
class TariffRateAdmin(admin.ModelAdmin):
    list_display = ("code", "rate_type", "rate", "valid_from", "valid_to", "source")
    search_fields = ("code",)
    list_filter = ("rate_type",)
