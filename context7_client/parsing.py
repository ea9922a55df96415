"""Turn /v2/context payloads into snippets.

Text formats (docs/research/context7-api.md section 4):

* current (v2): entries separated by a blank line, exactly 32 hyphens, a blank
  line; each entry is `### <title>`, optionally `Source: <url>`, then markdown
  with language-tagged code fences. A trailing separator may follow the last entry.
* v1 (until Nov 2025): a `CODE SNIPPETS` banner between lines of 24 `=`;
  entries `TITLE:` / `DESCRIPTION:` / `SOURCE:` / pairs of `LANGUAGE:` and
  `CODE:` + untagged fence, separated by exactly 40 hyphens; optionally a
  `QUESTIONS AND ANSWERS` section with `TOPIC:` / `Q:` / `A:` / `SOURCE:`.
* `No content available` / `No context data available` / empty body: no snippets.

JSON (`type=json`): `codeSnippets[]`, `infoSnippets[]`, optional `rules`.
"""

from __future__ import annotations

import re
from typing import Any

from .models import CodeBlock, Snippet, _int

NO_CONTENT_BODIES = ("", "No content available", "No context data available")

_V2_SEPARATOR = re.compile(r"^-{32}[ \t]*$", re.MULTILINE)
_V1_SEPARATOR = re.compile(r"^-{40}[ \t]*$", re.MULTILINE)
_V1_BANNER = re.compile(r"^={24}\s*\n(CODE SNIPPETS|QUESTIONS AND ANSWERS)\s*\n={24}\s*$", re.MULTILINE)
_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[^\s`]*)[^\n]*$")
_WORD = re.compile(r"[\w가-힣]{2,}", re.UNICODE)


def detect_format(text: str) -> str:
    stripped = text.strip()
    if stripped in NO_CONTENT_BODIES:
        return "empty"
    if _V1_BANNER.search(text) or (re.search(r"^TITLE: ", text, re.MULTILINE) and _V1_SEPARATOR.search(text)):
        return "v1-text"
    if re.match(r"TITLE: ", stripped):
        return "v1-text"
    return "v2-text"


def parse_text(text: str) -> tuple[str, list[Snippet]]:
    """(format, snippets) of a text payload in either generation's format."""
    text = text.replace("\r\n", "\n")
    fmt = detect_format(text)
    if fmt == "empty":
        return fmt, []
    if fmt == "v1-text":
        return fmt, _parse_v1(text)
    return fmt, [s for s in (_parse_v2_entry(chunk) for chunk in _V2_SEPARATOR.split(text)) if s]


def split_markdown(markdown: str) -> tuple[str, tuple[CodeBlock, ...]]:
    """Separate fenced code blocks from the prose around them."""
    prose: list[str] = []
    blocks: list[CodeBlock] = []
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i].strip())
        if opening:
            fence = opening.group("fence")
            language = opening.group("lang")
            code: list[str] = []
            i += 1
            while i < len(lines) and not (
                lines[i].strip().startswith(fence) and lines[i].strip().strip(fence[0]) == ""
            ):
                code.append(lines[i])
                i += 1
            i += 1  # closing fence (or end of text for an unclosed fence)
            blocks.append(CodeBlock(language=language, code="\n".join(code).strip("\n")))
            continue
        prose.append(lines[i])
        i += 1
    return _tidy("\n".join(prose)), tuple(blocks)


def _tidy(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _parse_v2_entry(chunk: str) -> Snippet | None:
    lines = chunk.strip("\n").split("\n")
    title = ""
    source = ""
    start = 0
    # The heading and Source line come first; either may be missing (on-prem examples).
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start < len(lines) and lines[start].startswith("### "):
        title = lines[start][4:].strip()
        start += 1
    probe = start
    while probe < len(lines) and not lines[probe].strip():
        probe += 1
    if probe < len(lines) and lines[probe].startswith("Source:"):
        source = lines[probe][len("Source:") :].strip()
        start = probe + 1
    body, blocks = split_markdown("\n".join(lines[start:]))
    if not (title or source or body or blocks):
        return None
    return Snippet(title=title, source=source, body=body, code_blocks=blocks, kind="code" if blocks else "info")


def _parse_v1(text: str) -> list[Snippet]:
    snippets: list[Snippet] = []
    # Split into sections by banner; each banner names the section that follows.
    parts = _V1_BANNER.split(text)
    sections: list[tuple[str, str]] = []
    if parts[0].strip():
        sections.append(("CODE SNIPPETS", parts[0]))
    for name, body in zip(parts[1::2], parts[2::2], strict=False):
        sections.append((name, body))
    for name, body in sections:
        for chunk in _V1_SEPARATOR.split(body):
            if not chunk.strip():
                continue
            snippet = _parse_v1_qa(chunk) if name == "QUESTIONS AND ANSWERS" else _parse_v1_code(chunk)
            if snippet:
                snippets.append(snippet)
    return snippets


def _field_block(chunk: str, label: str, stop_labels: tuple[str, ...]) -> str:
    """Text after `LABEL:` up to the next known label at the start of a line."""
    match = re.search(rf"^{label}:[ \t]?(.*)$", chunk, re.MULTILINE)
    if not match:
        return ""
    rest = chunk[match.start(1) :]
    stop = re.search(rf"^(?:{'|'.join(stop_labels)}):", rest, re.MULTILINE)
    return (rest[: stop.start()] if stop else rest).strip()


def _parse_v1_code(chunk: str) -> Snippet | None:
    labels = ("TITLE", "DESCRIPTION", "SOURCE", "LANGUAGE", "CODE")
    title = _field_block(chunk, "TITLE", labels)
    description = _field_block(chunk, "DESCRIPTION", labels)
    source = _field_block(chunk, "SOURCE", labels)
    blocks: list[CodeBlock] = []
    for match in re.finditer(r"^LANGUAGE:[ \t]?(.*)\nCODE:[ \t]*\n", chunk, re.MULTILINE):
        _, found = split_markdown(chunk[match.end() :])
        if found:
            blocks.append(CodeBlock(language=match.group(1).strip(), code=found[0].code))
    if not (title or description or blocks):
        return None
    return Snippet(title=title, source=source, body=description, code_blocks=tuple(blocks), kind="code")


def _parse_v1_qa(chunk: str) -> Snippet | None:
    labels = ("TOPIC", "Q", "A", "SOURCE")
    topic = _field_block(chunk, "TOPIC", labels)
    question = _field_block(chunk, "Q", labels)
    answer = _field_block(chunk, "A", labels)
    source = _field_block(chunk, "SOURCE", labels)
    if not (question or answer):
        return None
    title = question or topic
    body = answer if not topic else f"{topic}\n\n{answer}"
    return Snippet(title=title, source=source, body=body.strip(), kind="qa")


def parse_json_context(data: Any) -> tuple[list[Snippet], int, dict[str, tuple[str, ...]]] | None:
    """(snippets, total_tokens, rules) of a `type=json` body; None when the body is not that shape."""
    if not isinstance(data, dict):
        return None
    code_items = data.get("codeSnippets")
    info_items = data.get("infoSnippets")
    if not isinstance(code_items, list) and not isinstance(info_items, list):
        return None
    snippets: list[Snippet] = []
    tokens = 0
    for item in code_items if isinstance(code_items, list) else []:
        if not isinstance(item, dict):
            continue
        blocks = tuple(
            CodeBlock(language=str(c.get("language") or ""), code=str(c.get("code") or ""))
            for c in item.get("codeList") or []
            if isinstance(c, dict)
        )
        count = _int(item.get("codeTokens"))
        tokens += count or 0
        source = str(item.get("codeId") or "")
        snippets.append(
            Snippet(
                title=str(item.get("codeTitle") or item.get("pageTitle") or ""),
                source=re.sub(r"#_snippet_\d+$", "", source),
                body=str(item.get("codeDescription") or ""),
                code_blocks=blocks,
                kind="code",
                tokens=count,
            )
        )
    for item in info_items if isinstance(info_items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            continue
        count = _int(item.get("contentTokens"))
        tokens += count or 0
        body, blocks = split_markdown(item["content"])
        snippets.append(
            Snippet(
                title=str(item.get("breadcrumb") or ""),
                source=str(item.get("pageId") or ""),
                body=body,
                code_blocks=blocks,
                kind="info",
                tokens=count,
            )
        )
    rules: dict[str, tuple[str, ...]] = {}
    if isinstance(data.get("rules"), dict):
        for key, values in data["rules"].items():
            if isinstance(values, list):
                rules[str(key)] = tuple(str(v) for v in values if isinstance(v, str))
    return snippets, tokens, rules


def estimate_tokens(text: str) -> int:
    """Rough token count of text (about four characters a token)."""
    return (len(text) + 3) // 4


# Words that make almost any snippet look relevant.
_STOP_WORDS = frozenset(
    "the a an and or of to in on for with is are be what which how do does can my your this that it "
    "뭐야 무엇 어떻게 알려줘 주세요".split()
)


def query_words(query: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(query)} - _STOP_WORDS


def count_relevant(snippets: list[Snippet], query: str) -> int:
    """Snippets that share at least one word (2+ letters) with the query."""
    words = query_words(query)
    if not words:
        return 0
    return sum(1 for s in snippets if words & query_words(s.text))
