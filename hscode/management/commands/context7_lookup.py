"""Operator check of the Context7 integration.

    python manage.py context7_lookup --library "HS Nomenclature" --query "smartphone HS code"
    python manage.py context7_lookup --library-id /wco/hs-nomenclature-2022 --query "스마트폰" --json

Prints the resolved library, the snippet count, the HS codes found, the latency,
cache hit or miss and the circuit-breaker state. Exits with status 1 and the
error code (CONTEXT7_*) on failure. Without --library/--library-id the
configured CONTEXT7_LIBRARY_ID / CONTEXT7_LIBRARY_NAME is used.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from context7_client import Context7Error
from hscode.context7_consult import find_hs_codes, get_client


class Command(BaseCommand):
    help = "Look a query up in Context7 through the production client (retries, breaker, cache) and report."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--library", metavar="NAME", help="library name to resolve (e.g. 'HS Nomenclature')")
        which.add_argument("--library-id", metavar="ID", help="Context7 library ID (e.g. /wco/hs-nomenclature-2022)")
        parser.add_argument("--query", required=True, metavar="TEXT", help="what to look up")
        parser.add_argument("--type", choices=("txt", "json"), default="txt", help="response type of /v2/context")
        parser.add_argument(
            "--no-cache", action="store_true", help="do not read the cache (the answer still refreshes it)"
        )
        parser.add_argument("--reset-breaker", action="store_true", help="close the shared circuit breaker first")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        client = get_client()
        library_name = options["library"]
        library_id = options["library_id"]
        if not library_name and not library_id:
            library_id = settings.CONTEXT7_LIBRARY_ID or None
            library_name = None if library_id else (settings.CONTEXT7_LIBRARY_NAME or None)
        if not library_name and not library_id:
            raise CommandError("give --library or --library-id (or set CONTEXT7_LIBRARY_ID / CONTEXT7_LIBRARY_NAME)")
        if options["reset_breaker"]:
            client.reset_breaker()
        use_cache = not options["no_cache"]
        report: dict[str, Any] = {
            "library_name": library_name,
            "library_id": library_id,
            "query": options["query"],
            "resolve_cache": None,
            "docs_cache": None,
        }
        calls = 0
        started = time.monotonic()
        error: Context7Error | None = None
        try:
            if library_name:
                search = client.resolve_library_id(library_name, options["query"], use_cache=use_cache)
                calls += len(search.calls)
                library_id = search.library_id
                best = search.best
                report.update(
                    library_id=library_id,
                    library_title=best.title if best else None,
                    resolve_cache="hit" if search.cache_hit else "miss",
                )
            docs = client.get_library_docs(
                library_id, options["query"], response_type=options["type"], use_cache=use_cache
            )
            calls += len(docs.calls)
            findings = find_hs_codes(docs, options["query"])
            report.update(
                library_id=library_id,
                snippets=len(docs.snippets),
                format=docs.format,
                tokens=docs.total_tokens,
                hs_codes=[f["code"] for f in findings],
                docs_cache="hit" if docs.cache_hit else "miss",
            )
        except Context7Error as exc:
            error = exc
            calls += len(exc.calls)
        report["latency_ms"] = round((time.monotonic() - started) * 1000)
        report["http_calls"] = calls
        breaker = client.breaker_status()
        report["breaker"] = breaker.to_dict()
        report["cache_counters"] = client.stats()
        if error is not None:
            report["error"] = error.to_dict()

        if options["json"]:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            self._print(report)
        if error is not None:
            raise CommandError(f"{error.code}: {error.message}")

    def _print(self, report: dict[str, Any]) -> None:
        library = report.get("library_id") or "-"
        if report.get("library_title"):
            library += f" ({report['library_title']}; resolved from {report['library_name']!r})"
        lines = [f"library:   {library}"]
        if "snippets" in report:
            lines.append(f"snippets:  {report['snippets']} (format {report['format']}, ~{report['tokens']} tokens)")
            lines.append(f"hs codes:  {', '.join(report['hs_codes']) or '(none)'}")
        lines.append(f"latency:   {report['latency_ms']} ms ({report['http_calls']} HTTP calls)")
        cache = [
            f"{step}: {report[key]}"
            for step, key in (("resolve", "resolve_cache"), ("docs", "docs_cache"))
            if report[key]
        ]
        lines.append(f"cache:     {', '.join(cache) or '-'}")
        counters = report["cache_counters"]
        lines.append(f"counters:  hits {counters.get('cache_hits', 0)}, misses {counters.get('cache_misses', 0)}")
        breaker = report["breaker"]
        state = f"{breaker['state']} (failures {breaker['failures']}"
        if breaker["retry_after_s"]:
            state += f", next probe in {breaker['retry_after_s']} s"
        lines.append(f"breaker:   {state}{'' if breaker['shared'] else ', not shared: Redis unavailable'})")
        if "error" in report:
            lines.append(f"error:     {report['error']['code']}: {report['error']['message']}")
        self.stdout.write("\n".join(lines))
