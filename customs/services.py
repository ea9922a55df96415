"""Loading the 관세청 files: the HSK code table (by edition) and the 관세율표 (tariff rates).

Each import reads and checks the whole file first (kcs raises KcsFileError naming every bad line), then writes
it in one transaction: a malformed file loads nothing, and a failed write leaves the previous data in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from kcs.hsk_file import read_hsk_table
from kcs.tariff_file import read_tariff_file

from .models import HskEdition, HskGroup, HskLine, TariffImport, TariffRate

Progress = Callable[[int], object]
BATCH = 2000
PERIODS_PER_QUERY = 100


def _checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _noop(_: int) -> None:
    return None


@dataclass(frozen=True)
class HskImportResult:
    edition: str
    lines: int
    groups: int
    skipped: bool  # the same file was already loaded for this edition

    def __str__(self) -> str:
        if self.skipped:
            return f"HSK {self.edition}: already loaded ({self.lines} lines)"
        return f"HSK {self.edition}: loaded {self.lines} lines and {self.groups} group rows"


def hsk_import(path: str | Path, *, progress: Progress | None = None, force: bool = False) -> HskImportResult:
    """Load a 관세청_HS부호 file as its edition, replacing an earlier load of the same edition.

    Re-loading the same file (same checksum) is skipped unless `force`. Raises kcs.KcsFileError (nothing loaded).
    """
    path = Path(path)
    progress = progress or _noop
    checksum = _checksum(path)
    loaded = HskEdition.objects.filter(checksum=checksum).first()
    if loaded is not None and not force:
        # The same file: skipped before parsing, so that a start-up with the data in place costs one query.
        return HskImportResult(loaded.edition, loaded.line_count, loaded.groups.count(), skipped=True)
    table = read_hsk_table(path)
    with transaction.atomic():
        edition, _ = HskEdition.objects.update_or_create(
            edition=table.edition,
            defaults={"edition_end": table.edition_end, "source_file": path.name, "checksum": checksum,
                      "line_count": len(table.lines)},
        )
        edition.lines.all().delete()
        edition.groups.all().delete()
        HskGroup.objects.bulk_create(
            [HskGroup(edition=edition, code=g.code, hs6=g.code[:6], name_ko=g.name_ko, name_en=g.name_en)
             for g in table.groups],
            batch_size=BATCH,
        )
        for start in range(0, len(table.lines), BATCH):
            chunk = table.lines[start : start + BATCH]
            HskLine.objects.bulk_create(
                [
                    HskLine(
                        edition=edition, code=line.code, hs6=line.hs6, name_ko=line.name_ko, name_en=line.name_en,
                        valid_from=line.valid_from, valid_to=line.valid_to, quantity_unit=line.quantity_unit,
                        weight_unit=line.weight_unit, property_class_name=line.property_class_name,
                    )
                    for line in chunk
                ]
            )
            progress(len(chunk))
    return HskImportResult(table.edition, len(table.lines), len(table.groups), skipped=False)


@dataclass(frozen=True)
class TariffImportResult:
    source_file: str
    rates: int
    codes: int
    replaced: int
    covers: tuple
    unknown_codes: tuple[str, ...]  # codes not in the current HSK edition (loaded all the same)


def tariff_rates_import(path: str | Path, *, progress: Progress | None = None) -> TariffImportResult:
    """Load a 관세율표 file; its rows replace every stored rate whose validity overlaps one of the file's periods
    (a yearly file replaces that year; a file with only last year's and a revision's periods leaves the rest).

    Raises kcs.KcsFileError (nothing loaded).
    """
    path = Path(path)
    progress = progress or _noop
    checksum = _checksum(path)
    rates = read_tariff_file(path)
    covers_from = min(rate.valid_from for rate in rates)
    covers_to = max(rate.valid_to for rate in rates)
    codes = {rate.code for rate in rates}
    periods = sorted({(rate.valid_from, rate.valid_to) for rate in rates})
    with transaction.atomic():
        replaced = 0
        for start in range(0, len(periods), PERIODS_PER_QUERY):
            overlapping = Q()
            for valid_from, valid_to in periods[start : start + PERIODS_PER_QUERY]:
                overlapping |= Q(valid_from__lte=valid_to, valid_to__gte=valid_from)
            replaced += TariffRate.objects.filter(overlapping).delete()[0]
        source = TariffImport.objects.create(
            source_file=path.name, checksum=checksum, rate_count=len(rates), code_count=len(codes),
            covers_from=covers_from, covers_to=covers_to, replaced_count=replaced,
        )
        for start in range(0, len(rates), BATCH):
            chunk = rates[start : start + BATCH]
            TariffRate.objects.bulk_create(
                [
                    TariffRate(
                        code=rate.code, rate_type=rate.rate_type, rate=rate.rate, specific_duty=rate.specific_duty,
                        base_price=rate.base_price, valid_from=rate.valid_from, valid_to=rate.valid_to, source=source,
                    )
                    for rate in chunk
                ]
            )
            progress(len(chunk))
    current = HskEdition.objects.order_by("-edition_end").first()
    known = set(current.lines.filter(code__in=codes).values_list("code", flat=True)) if current else codes
    return TariffImportResult(
        source_file=path.name, rates=len(rates), codes=len(codes), replaced=replaced,
        covers=(covers_from, covers_to), unknown_codes=tuple(sorted(codes - known)),
    )


def shipped_hsk_path() -> Path:
    return Path(settings.KCS_HSK_FILE)


def shipped_hsk_load(*, progress: Progress | None = None) -> HskImportResult:
    """The HSK table the project ships (KCS_HSK_FILE), loaded unless that file is already loaded."""
    return hsk_import(shipped_hsk_path(), progress=progress)
