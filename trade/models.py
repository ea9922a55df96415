from django.db import models
from django.utils.translation import gettext_lazy as _


class TradeFlow(models.Model):
    """One reported trade value: reporter's imports or exports of an HS code with one partner in one period.

    Rows are loaded by `manage.py import_trade_statistics` (trade/importing.py) from a UN Comtrade
    or a Korea Customs Service (관세청) CSV; the unique constraint makes re-imports update in place.
    """

    # Partner code of a "World" (all partners) total row, as UN Comtrade writes it (partnerCode 0).
    WORLD = "W00"

    class Flow(models.TextChoices):
        IMPORT = "import", "import"
        EXPORT = "export", "export"

    class Granularity(models.TextChoices):
        YEAR = "year", "year"
        MONTH = "month", "month"

    class Source(models.TextChoices):
        COMTRADE = "comtrade", _("UN Comtrade")
        KCS = "kcs", _("관세청 (Korea Customs Service)")

    # 2, 4 or 6 digits (HS) or 10 digits (a Korean HSK national line), as reported, digits only.
    hs_code = models.CharField(max_length=10, db_index=True)
    reporter = models.CharField(max_length=8)  # ISO 3166 alpha-3 ("KOR"); the KCS layout is always KOR
    # As in the source file (alpha-3 for Comtrade, alpha-2 for KCS); WORLD for a total row.
    partner = models.CharField(max_length=8)
    partner_name = models.CharField(max_length=128, blank=True, default="")
    flow = models.CharField(max_length=8, choices=Flow.choices)
    period = models.DateField()  # first day of the year or month
    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    value_usd = models.DecimalField(max_digits=20, decimal_places=2)  # US dollars (converted from the file's unit)
    net_weight_kg = models.DecimalField(max_digits=20, decimal_places=3, null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    source_file = models.CharField(max_length=255, blank=True, default="")
    imported_at = models.DateTimeField(auto_now=True)  # last time an import created or changed the row

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "reporter", "partner", "flow", "hs_code", "period", "granularity"],
                name="tradeflow_unique_row",
            )
        ]
        indexes = [models.Index(fields=["hs_code", "period"])]

    def __str__(self) -> str:
        return f"{self.reporter} {self.flow} {self.hs_code} {self.partner} {self.period}"


class NitemtradeMonth(models.Model):
    """A month of nitemtrade (관세청_품목별 국가별 수출입실적, 공공데이터포털 15100475) already held for an HS6: the
    per-month cache. Only months up to the newest month the service answered are recorded (later months may not
    be published yet and are asked again)."""

    hs_code = models.CharField(max_length=6)
    month = models.DateField()  # first day of the month
    row_count = models.PositiveIntegerField()
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hs_code", "month"], name="nitemtrade_month_unique")]
        ordering = ["hs_code", "month"]

    def __str__(self) -> str:
        return f"{self.hs_code} {self.month:%Y-%m} ({self.row_count} rows)"


class NitemtradeFetch(models.Model):
    """The state of fetching an HS6's last 24 months from nitemtrade (what the statistics page shows while it
    runs). One per HS6; the task runs only from QUEUED."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    hs_code = models.CharField(max_length=6, unique=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    error_code = models.CharField(max_length=40, blank=True, default="")
    calls_total = models.PositiveSmallIntegerField(default=0)
    calls_done = models.PositiveSmallIntegerField(default=0)
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.hs_code} {self.status} ({self.calls_done}/{self.calls_total})"
