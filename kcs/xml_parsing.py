"""Untrusted XML of the UNI-PASS and data.go.kr services, parsed with defusedxml (no entities, no DTDs).

Tag names are matched case-insensitively (the UNI-PASS guide prints `TrrtQryRtnVo`, the live API answers
`trrtQryRtnVo`), rows are plain dicts keyed by the lower-cased tag, and an empty element reads as "".
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring


class NotXml(ValueError):
    """The body is not well-formed XML (an HTML error page, a truncated answer, an entity bomb)."""


def parse_xml(body: bytes) -> Element:
    try:
        return fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise NotXml(f"{type(exc).__name__}: {exc}") from None


def local_name(element: Element) -> str:
    """The lower-cased tag without a namespace."""
    return element.tag.rsplit("}", 1)[-1].lower()


def child(element: Element, name: str) -> Element | None:
    wanted = name.lower()
    for item in element:
        if local_name(item) == wanted:
            return item
    return None


def child_text(element: Element | None, name: str) -> str | None:
    """The stripped text of the first child named `name` (any casing); "" when empty, None when absent."""
    if element is None:
        return None
    found = child(element, name)
    if found is None:
        return None
    return (found.text or "").strip()


def descendant(element: Element, name: str) -> Element | None:
    wanted = name.lower()
    for item in element.iter():
        if local_name(item) == wanted:
            return item
    return None


def row_fields(element: Element) -> dict[str, str]:
    """One row as {lower-cased tag: stripped text}; an empty element gives ""."""
    return {local_name(item): (item.text or "").strip() for item in element}
