import hashlib

from django.db import models


def case_text_hash(text: str) -> str:
    """Key for duplicate detection: sha256 of the text with whitespace collapsed."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


class ClassificationCase(models.Model):
    """A labelled example (product text -> HS 6-digit code) for the nearest-neighbour stage."""

    class Source(models.TextChoices):
        IMPORT = "import", "Imported file"
        REVIEW = "review", "Staff review"
        KCS_NAMES = "kcs_names", "KCS trade-name declarations (shipped, 출처: 관세청)"
        KCS_RULING = "kcs_ruling", "KCS classification rulings (shipped, 출처: 관세청)"

    class Lang(models.TextChoices):
        KO = "ko", "Korean"
        EN = "en", "English"

    text = models.TextField()
    # Unique together with hs6; a hash because a unique index on long text fails on PostgreSQL.
    text_hash = models.CharField(max_length=64, editable=False)
    hs6 = models.CharField(max_length=6, db_index=True)
    lang = models.CharField(max_length=2, choices=Lang.choices, default=Lang.EN)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.IMPORT, db_index=True)
    # KCS rulings: the decision's reference id (품목분류2과-5029) and date; shown as "유사 결정사례".
    reference_id = models.CharField(max_length=64, blank=True, default="")
    decision_date = models.DateField(null=True, blank=True)
    hsk10 = models.CharField(max_length=10, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["text_hash", "hs6"], name="classification_case_text_hs6_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.hs6}: {self.text[:60]}"

    def save(self, *args, **kwargs):
        self.text_hash = case_text_hash(self.text)
        super().save(*args, **kwargs)
