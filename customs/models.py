"""Korea Customs Service (관세청) data: the HSK code table by edition, and tariff rates per HSK10 and rate type.

Loaded by `manage.py import_hsk FILE` / `import_tariff_rates FILE` (customs/services.py); the shipped HSK table
is loaded on first start by `manage.py load_shipped_data`. 출처: 관세청, 공공누리 제1유형.
"""

from django.db import models


class HskEdition(models.Model):
    """One imported edition of the 관세청_HS부호 table. The newest edition (latest edition_end) is current."""

    edition = models.CharField(max_length=16, unique=True)  # "2025": the year every row's 적용종료일자 ends
    edition_end = models.DateField()
    source_file = models.CharField(max_length=255)
    checksum = models.CharField(max_length=64)  # sha256 of the file: the same file is not loaded twice
    line_count = models.PositiveIntegerField()
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-edition_end"]

    def __str__(self) -> str:
        return f"HSK {self.edition} ({self.line_count} lines)"


class HskLine(models.Model):
    """One HSK 10-digit line of an edition. `name_ko`/`name_en` are as published: relative to the parent."""

    edition = models.ForeignKey(HskEdition, on_delete=models.CASCADE, related_name="lines")
    code = models.CharField(max_length=10)  # digits, leading zeros kept
    hs6 = models.CharField(max_length=6, db_index=True)
    name_ko = models.TextField()
    name_en = models.TextField(blank=True, default="")
    valid_from = models.DateField()
    valid_to = models.DateField()
    quantity_unit = models.CharField(max_length=8, blank=True, default="")
    weight_unit = models.CharField(max_length=8, blank=True, default="")
    property_class_name = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["edition", "code"], name="customs_hskline_unique")]
        indexes = [models.Index(fields=["code"])]
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name_ko}"


class HskGroup(models.Model):
    """A 7–9 digit row of an edition: the parent name of the HSK lines under it."""

    edition = models.ForeignKey(HskEdition, on_delete=models.CASCADE, related_name="groups")
    code = models.CharField(max_length=9)
    hs6 = models.CharField(max_length=6, db_index=True)
    name_ko = models.TextField()
    name_en = models.TextField(blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["edition", "code"], name="customs_hskgroup_unique")]
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name_ko}"


class TariffImport(models.Model):
    """One import of a 관세율표 file: what it covered, for the as-of date and source shown with the rates."""

    source_file = models.CharField(max_length=255)
    checksum = models.CharField(max_length=64)
    rate_count = models.PositiveIntegerField()
    code_count = models.PositiveIntegerField()
    covers_from = models.DateField()
    covers_to = models.DateField()
    replaced_count = models.PositiveIntegerField(default=0)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source_file} ({self.covers_from}–{self.covers_to})"


class TariffRate(models.Model):
    """One rate of an HSK10 for one rate type (A, C, FCN1 …) and validity period, from the 관세율표 file."""

    code = models.CharField(max_length=10)
    rate_type = models.CharField(max_length=8)
    rate = models.DecimalField(max_digits=9, decimal_places=4, null=True, blank=True)  # percent
    specific_duty = models.CharField(max_length=64, blank=True, default="")  # 단위당세액, verbatim
    base_price = models.CharField(max_length=64, blank=True, default="")  # 기준가격, verbatim
    valid_from = models.DateField()
    valid_to = models.DateField()
    source = models.ForeignKey(TariffImport, on_delete=models.PROTECT, related_name="rates")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "rate_type", "valid_from"], name="customs_tariffrate_unique")
        ]
        indexes = [models.Index(fields=["code", "valid_from", "valid_to"])]
        ordering = ["code", "rate_type", "valid_from"]

    def __str__(self) -> str:
        return f"{self.code} {self.rate_type} {self.rate}"
