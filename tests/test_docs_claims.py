"""Every claim the README and docs/reliability.md say is tested names its test, and that test exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "docs" / "reliability.md"]
TEST_NAME = re.compile(r"`(?:(tests/[\w/]+\.py)(?:::([\w…]+))?|(?:::)?(test_\w+…?))`")


def _defined_tests() -> dict[str, set[str]]:
    """Test function names per test file."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names = set(re.findall(r"^\s*(?:async\s+)?def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
        found[path.relative_to(ROOT).as_posix()] = names
    return found


def _references(doc: Path) -> list[tuple[str | None, str | None]]:
    refs = []
    for path, name, bare in TEST_NAME.findall(doc.read_text(encoding="utf-8")):
        refs.append((path or None, (name or bare or None)))
    return refs


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_test_a_document_names_exists(doc):
    defined = _defined_tests()
    every_name = set().union(*defined.values())
    missing = []
    for path, name in _references(doc):
        if path is not None and path not in defined:
            missing.append(path)
        elif name is not None and not name.startswith("…"):
            pool = defined[path] if path is not None else every_name
            # "test_x…" abbreviates a name; "…_for_staff" continues the previous one
            if not any(candidate == name or (name.endswith("…") and candidate.startswith(name[:-1]))
                       for candidate in pool):
                missing.append(f"{path or ''}::{name}")
    assert missing == [], f"{doc.name} names tests that do not exist: {missing}"


def test_every_guarantee_in_the_reliability_tables_names_a_test():
    rows = [line for line in (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith(("| guarantee", "|---"))]
    untested = [row[:100] for row in rows if not TEST_NAME.search(row)]
    assert untested == [], f"rows without a named test: {untested}"


# Words by which a document says something is tested; the paragraph, list item or table row that uses one must
# name the test (a backticked tests/ path or test name), which the test above then finds.
CLAIM = re.compile(r"\b(?:tested|proved|proves|proven|asserted|held by|validated|checked by|covered by)\b", re.I)


def _blocks(text: str) -> list[str]:
    """Paragraphs, list items and table rows (headings and code blocks left out)."""
    blocks = []
    for paragraph in re.split(r"\n\s*\n", text):
        if paragraph.lstrip().startswith("```"):
            continue
        current: list[str] = []
        for line in paragraph.splitlines():
            if line.startswith("#"):
                continue
            if re.match(r"\s*(?:[*-] |\|)", line) and current:
                blocks.append("\n".join(current))
                current = []
            current.append(line)
        if current:
            blocks.append("\n".join(current))
    return blocks


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_tested_claim_names_its_test(doc):
    unnamed = [" ".join(block.split())[:160] for block in _blocks(doc.read_text(encoding="utf-8"))
               if CLAIM.search(block) and not TEST_NAME.search(block)]
    assert unnamed == [], f"{doc.name} says these are tested without naming the test: {unnamed}"
