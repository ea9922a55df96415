"""Payload parsing and typed results: both text generations, JSON, tolerant models."""

from __future__ import annotations

from context7_client import Library, LibrarySearch, parse_json_context, parse_text

V2_TEXT = """### Middleware Authentication Example

Source: https://github.com/vercel/next.js/blob/canary/docs/middleware.mdx

Shows how to check a session cookie in middleware.

```typescript
export function middleware(req) { /* ... */ }
```

```bash
npm run dev
```

--------------------------------

### Routing > Middleware

Source: https://github.com/vercel/next.js/blob/canary/docs/middleware.mdx

Middleware lets you run code before a request completes.

--------------------------------

"""

V1_TEXT = """========================
CODE SNIPPETS
========================
TITLE: Smartphones classification
DESCRIPTION: Smartphones fall in HS 8517.13.

SOURCE: https://example.org/hs/8517.md#_snippet_0

LANGUAGE: json
CODE:
```
{"hs": "8517.13"}
```

LANGUAGE: text
CODE:
```
8517.13 Smartphones
```

----------------------------------------

TITLE: Laptops
DESCRIPTION: Portable computers are in 8471.30.

SOURCE: https://example.org/hs/8471.md#_snippet_1

========================
QUESTIONS AND ANSWERS
========================
TOPIC: Phones
Q: Where do feature phones go?
A: Subheading 8517.14.


SOURCE: https://example.org/hs/8517.md#_qa_0
"""


def test_v2_text_splits_into_snippets_with_title_source_body_and_tagged_code_blocks():
    fmt, snippets = parse_text(V2_TEXT)
    assert fmt == "v2-text"
    assert len(snippets) == 2  # the trailing separator adds no empty snippet
    first, second = snippets
    assert first.title == "Middleware Authentication Example"
    assert first.source == "https://github.com/vercel/next.js/blob/canary/docs/middleware.mdx"
    assert first.body == "Shows how to check a session cookie in middleware."
    assert [(b.language, b.code) for b in first.code_blocks] == [
        ("typescript", "export function middleware(req) { /* ... */ }"),
        ("bash", "npm run dev"),
    ]
    assert first.kind == "code"
    assert second.title == "Routing > Middleware"
    assert second.body == "Middleware lets you run code before a request completes."
    assert second.code_blocks == ()
    assert second.kind == "info"


def test_v2_entry_without_source_line_or_description_keeps_heading_and_code():
    fmt, snippets = parse_text("### Only code\n\n```python\nprint(1)\n```")
    assert fmt == "v2-text"
    assert snippets[0].title == "Only code"
    assert snippets[0].source == ""
    assert snippets[0].code_blocks[0].code == "print(1)"


def test_40_hyphen_line_inside_v2_text_is_not_a_separator():
    text = "### A\n\nSource: x\n\nbody\n\n" + "-" * 40 + "\n\nstill A"
    _, snippets = parse_text(text)
    assert len(snippets) == 1


def test_v1_text_parses_title_description_source_and_language_code_pairs():
    fmt, snippets = parse_text(V1_TEXT)
    assert fmt == "v1-text"
    code = [s for s in snippets if s.kind == "code"]
    assert [s.title for s in code] == ["Smartphones classification", "Laptops"]
    first = code[0]
    assert first.body == "Smartphones fall in HS 8517.13."
    assert first.source == "https://example.org/hs/8517.md#_snippet_0"
    assert [(b.language, b.code) for b in first.code_blocks] == [
        ("json", '{"hs": "8517.13"}'),
        ("text", "8517.13 Smartphones"),
    ]
    assert code[1].code_blocks == ()


def test_v1_questions_and_answers_become_qa_snippets():
    _, snippets = parse_text(V1_TEXT)
    qa = [s for s in snippets if s.kind == "qa"]
    assert len(qa) == 1
    assert qa[0].title == "Where do feature phones go?"
    assert "Subheading 8517.14." in qa[0].body
    assert qa[0].source == "https://example.org/hs/8517.md#_qa_0"


def test_no_content_bodies_mean_no_snippets():
    for body in ("", "   ", "No content available", "No context data available\n"):
        assert parse_text(body) == ("empty", [])


def test_json_context_yields_code_and_info_snippets_tokens_and_rules_ignoring_unknown_fields():
    data = {
        "codeSnippets": [
            {
                "codeTitle": "Smartphones",
                "codeDescription": "HS 8517.13",
                "codeLanguage": "json",
                "codeTokens": 40,
                "codeId": "https://example.org/8517.md#_snippet_3",
                "pageTitle": "Heading 8517",
                "codeList": [{"language": "json", "code": "{}"}, "junk"],
                "isDynamic": False,
                "brandNewField": 1,
            },
            "not a snippet",
        ],
        "infoSnippets": [
            {"pageId": "https://example.org/gir", "breadcrumb": "GIR > Rule 1", "content": "Text", "contentTokens": 5},
            {"content": "no breadcrumb, no tokens"},
            {"breadcrumb": "no content: skipped"},
        ],
        "rules": {"global": ["be precise"], "libraryOwn": [], "other": "ignored"},
        "unknownTopLevel": True,
    }
    snippets, tokens, rules = parse_json_context(data)
    assert tokens == 45
    assert [s.kind for s in snippets] == ["code", "info", "info"]
    assert snippets[0].source == "https://example.org/8517.md"  # #_snippet_N removed
    assert snippets[0].code_blocks[0].language == "json"
    assert snippets[1].title == "GIR > Rule 1"
    assert snippets[2].tokens is None
    assert rules == {"global": ("be precise",), "libraryOwn": ()}


def test_json_context_of_another_shape_is_rejected():
    assert parse_json_context({"results": []}) is None
    assert parse_json_context(["codeSnippets"]) is None


def test_library_tolerates_missing_optional_fields_and_ignores_unknown_ones():
    minimal = Library.from_json({"id": "/kcs/korea-customs-tariff", "title": "HSK", "newField": [1, 2]})
    assert minimal == Library(id="/kcs/korea-customs-tariff", title="HSK")
    full = Library.from_json(
        {
            "id": "/wco/hs",
            "title": "HS",
            "trustScore": 8.7,
            "benchmarkScore": 91,
            "totalSnippets": -1,
            "versions": ["2022", 7],
            "stars": "12",
        }
    )
    assert full.trust_score == 8.7
    assert full.benchmark_score == 91.0
    assert full.total_snippets == -1
    assert full.versions == ("2022",)
    assert full.stars == 12
    assert Library.from_json({"title": "no id"}) is None
    assert Library.from_json("nonsense") is None


def test_best_library_prefers_an_exact_finalized_match_over_rank():
    search = LibrarySearch(
        library_name="Next.js",
        query=None,
        results=(
            Library(id="/a/processing", title="Next.js", state="processing"),
            Library(id="/b/nextjs-examples", title="Next.js examples", state="finalized"),
            Library(id="/vercel/next.js", title="Next.js", state="finalized"),
        ),
    )
    assert search.library_id == "/vercel/next.js"
    assert LibrarySearch(library_name="x", query=None).best is None
