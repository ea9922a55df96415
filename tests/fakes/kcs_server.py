"""A fake of the live KCS services for tests and demos: real HTTP on 127.0.0.1 imitating
docs/research/korean-customs-apis.md §11.

    UNI-PASS   GET /ext/rest/ccctLworCdQry/retrieveCcctLworCd?crkyCn=&hsSgn=&imexTp=      (API029)
               GET /ext/rest/trrtQry/retrieveTrrt?crkyCn=&hsSgn=                          (API030)
    data.go.kr GET /1220000/retrieveCcctLworCd/getRetrieveCcctLworCd?serviceKey=&hsSgn=&imexTpcd=
               GET /1220000/nitemtrade/getNitemtradeList?serviceKey=&strtYymm=&endYymm=&hsSgn=
               GET /1220000/retrieveTrifFxrtInfo/getRetrieveTrifFxrtInfo?serviceKey=&aplyBgnDt=&weekFxrtTpcd=

What it imitates: UNI-PASS answers HTTP 200 always (errors as tCnt -1 + ntceInfo: unknown key, key of another
API, missing parameter), both tag casings in different fixtures, tCnt before and after the rows, a single row and
lists, empty elements, numbers as strings, YYYYMMDD dates, `dcerCrmLworCd` (API029). data.go.kr: the standard
envelope with item children in alphabetical order, XML even when type=json is asked, 403 for a key not
subscribed to the service (and for a double-encoded key), nitemtrade's 총계 row first with "-" fields, children
one HS level below the request, the 12-month rule (alternating resultCode 99 and an empty resultCode with the
"1년이내" message), empty <items/> for unknown codes, every row whatever numOfRows says; ccct: an empty answer for a
non-10-digit hsSgn, no aplyEndDt, bfhnAffcRtmTpcd; FX: rows for the week's Sunday, a stale ECU row, an empty
cntySgn.

Faults (`server.set_fault(kind, times=None, service=None, delay=...)`): "quota" (HTTP 429 with
OpenAPI_ServiceResponse reason 22), "quota_200" (the same body with HTTP 200), "html_503" (an HTML maintenance
page), "slow" (waits `delay` seconds before answering), "truncated_trade" (nitemtrade rows that do not add up to
the 총계 row), "not_xml" (HTTP 200 with a body that is not XML).

`python -m tests.fakes.kcs_server --port 8765` serves it until stopped (devtools/stack.py starts it for
`make run` when KCS_FAKE=1) and prints `READY http://127.0.0.1:<port>`, then `KEYS {json of the keys}`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

# One key per service, as the portals issue them.
KEYS = {
    "ccct_gw": "fake-gw-ccct-key",
    "nitemtrade": "fake-gw-nitemtrade-key",
    "fx_gw": "fake-gw-fx-key",
    "api029": "fake-unipass-api029-key",
    "api030": "fake-unipass-api030-key",
}
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
FAULT_KINDS = frozenset({"quota", "quota_200", "html_503", "slow", "truncated_trade", "not_xml"})

# --- content ---------------------------------------------------------------------
# 세관장확인대상 per (HSK10, direction "1" export / "2" import): (law code, law, agency code, agency, document).
REQUIREMENTS: dict[tuple[str, str], list[tuple[str, str, str, str, str]]] = {
    ("0203291000", "2"): [
        ("05", "가축전염병 예방법", "810", "농림축산검역본부", "수입검역증명서"),
        ("47", "수입식품안전관리 특별법", "830", "식품의약품안전처", "수입식품등의 신고확인증"),
    ],
    ("0203291000", "1"): [("05", "가축전염병 예방법", "810", "농림축산검역본부", "수출검역증명서")],
    ("3307902000", "2"): [("15", "화장품법", "243", "한국의약품수출입협회", "표준통관예정보고서(화장품)")],
}
# API030 rows per HSK10: (trrtTpcd, trrtTpNm, trrt).
TARIFF_ROWS: dict[str, list[tuple[str, str, str]]] = {
    "0203291000": [
        ("A", "기본세율", "25"),
        ("C", "WTO협정세율", "22.5"),
        ("FCL1", "한ㆍ칠레FTA협정세율(선택1)", "0"),
        ("FEU1", "한ㆍEU FTA협정세율(선택1)", "0"),
        ("FUS1", "한ㆍ미 FTA 협정세율(선택1)", "0"),
        ("FCA1", "한ㆍ캐나다 FTA협정세율(선택1)", "5.4"),
    ],
    "3304991000": [("A", "기본세율", "8")],
}
# Partner countries of the nitemtrade fixture: (ISO-2, Korean name, export USD base, import USD base).
PARTNERS = [
    ("US", "미국", 120_000, 2_450_000),
    ("ES", "스페인", 0, 1_830_000),
    ("DE", "독일", 3_500, 1_210_000),
    ("CA", "캐나다", 0, 960_000),
    ("CL", "칠레", 0, 540_000),
]
ITEM_NAMES = {"0203291000": "삼겹살", "0203299000": "기타"}
FX_ROWS = [  # (cntySgn, mtryUtNm, fxrt, currSgn)
    ("US", "US Dollar", "1385.20", "USD"),
    ("EU", "Euro", "1502.37", "EUR"),
    ("CN", "Yuan Renminbi", "190.41", "CNY"),
    ("JP", "Yen", "9.4213", "JPY"),
    ("VN", "Dong", "0.0509", "VND"),
    ("", "Won", "1", "KRW"),
]


def latest_month(today: date | None = None) -> str:
    """The newest month the fake has data for: two months back (the portal lags, §8)."""
    today = today or date.today()
    index = today.year * 12 + today.month - 1 - 2
    return f"{index // 12:04d}{index % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[4:])
    out = []
    while f"{y:04d}{m:02d}" <= last:
        out.append(f"{y:04d}{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def trade_items(hs: str, first: str, last: str, newest: str) -> list[dict[str, str]]:
    """Items one level below `hs` (6 → HSK10), one per month × partner, numbers varying by month."""
    children = sorted(code for code in ITEM_NAMES if code.startswith(hs)) if len(hs) in (6, 10) else []
    if len(hs) == 4 and "0203291000".startswith(hs):
        children = ["020329"]
    rows = []
    for month in month_range(first, min(last, newest)):
        swing = int(month[4:]) * 7 + int(month[2:4])
        for child_code in children:
            for rank, (iso, name, exp_base, imp_base) in enumerate(PARTNERS):
                factor = 100 + swing - rank * 3 + (3 if child_code.endswith("9000") else 0)
                exp_usd = exp_base * factor // 100
                imp_usd = imp_base * factor // 100 // (2 if child_code.endswith("9000") else 1)
                rows.append(
                    {
                        "balPayments": str(exp_usd - imp_usd),
                        "expDlr": str(exp_usd),
                        "expWgt": str(exp_usd // 9),
                        "hsCd": child_code,
                        "impDlr": f"{imp_usd:,}" if iso == "US" else str(imp_usd),  # commas happen (HPD)
                        "impWgt": str(imp_usd * 10 // 45),
                        "statCd": iso,
                        "statCdCntnKor1": name,
                        "statKor": ITEM_NAMES.get(child_code, "돼지고기"),
                        "year": f"{month[:4]}.{month[4:]}",
                    }
                )
    return rows


def _num(value: str) -> int:
    return int(value.replace(",", ""))


def totals_item(rows: list[dict[str, str]]) -> dict[str, str]:
    sums = {f: sum(_num(r[f]) for r in rows) for f in ("expDlr", "expWgt", "impDlr", "impWgt")}
    return {
        "balPayments": str(sums["expDlr"] - sums["impDlr"]),
        "expDlr": str(sums["expDlr"]),
        "expWgt": str(sums["expWgt"]),
        "hsCd": "-",
        "impDlr": str(sums["impDlr"]),
        "impWgt": str(sums["impWgt"]),
        "statCd": "-",
        "statCdCntnKor1": "-",
        "statKor": "-",
        "year": "총계",
    }


# --- XML -------------------------------------------------------------------------
def _element(tag: str, value: str) -> str:
    return f"<{tag}/>" if value == "" else f"<{tag}>{escape(value)}</{tag}>"


def gateway_ok(items: list[dict[str, str]], *, total: bool = True) -> str:
    body = "".join(
        "<item>" + "".join(_element(k, item[k]) for k in sorted(item)) + "</item>" for item in items
    )
    items_xml = f"<items>{body}</items>" if items else "<items/>"
    count = f"<numOfRows>{len(items)}</numOfRows><pageNo>1</pageNo><totalCount>{len(items)}</totalCount>"
    return (
        f"{DECLARATION}<response><header><resultCode>00</resultCode><resultMsg>정상서비스.</resultMsg></header>"
        f"<body>{items_xml}{count if total else ''}</body></response>"
    )


def gateway_result(code: str, message: str) -> str:
    return (
        f"{DECLARATION}<response><header>{_element('resultCode', code)}<resultMsg>{escape(message)}</resultMsg>"
        "</header><body><items/></body></response>"
    )


def gateway_service_error(auth: str, reason: str) -> str:
    return (
        "<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg>"
        f"<returnAuthMsg>{auth}</returnAuthMsg><returnReasonCode>{reason}</returnReasonCode>"
        "</cmmMsgHeader></OpenAPI_ServiceResponse>"
    )


def unipass(root: str, row_tag: str, rows: list[list[tuple[str, str]]], *, count_first: bool, notice: str = "",
            count: int | None = None) -> str:
    rows_xml = "".join(f"<{row_tag}>" + "".join(_element(k, v) for k, v in row) + f"</{row_tag}>" for row in rows)
    t_cnt = f"<tCnt>{len(rows) if count is None else count}</tCnt>"
    head = _element("ntceInfo", notice)
    inner = f"{head}{t_cnt}{rows_xml}" if count_first else f"{head}{rows_xml}{t_cnt}"
    return f"{DECLARATION}<{root}>{inner}</{root}>"


HTML_503 = (
    "<html><head><title>503 Service Unavailable</title></head><body><h1>503 Service Unavailable</h1></body></html>"
)


# --- the server ------------------------------------------------------------------
@dataclass
class Fault:
    kind: str
    times: int | None
    service: str | None
    delay: float


class FakeKcsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.newest_month = latest_month()
        self._span_refusals = 0
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def unipass_url(self) -> str:
        return self.url

    @property
    def gateway_url(self) -> str:
        return f"{self.url}/1220000"

    def start(self) -> FakeKcsServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="fake-kcs", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeKcsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_fault(self, kind: str, *, times: int | None = None, service: str | None = None, delay: float = 0.0):
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        with self.lock:
            self.faults.append(Fault(kind, times, service, delay))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def request_count(self, service: str | None = None) -> int:
        with self.lock:
            return sum(1 for name, _ in self.requests if service is None or name == service)

    def _take_fault(self, service: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.service in (None, service):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    # --- answers ---
    def answer(self, path: str, query: dict[str, str], raw_query: str) -> tuple[int, str, str]:
        routes = {
            "/ext/rest/ccctLworCdQry/retrieveCcctLworCd": ("api029", self._api029),
            "/ext/rest/trrtQry/retrieveTrrt": ("api030", self._api030),
            "/1220000/retrieveCcctLworCd/getRetrieveCcctLworCd": ("ccct_gw", self._ccct_gw),
            "/1220000/nitemtrade/getNitemtradeList": ("nitemtrade", self._nitemtrade),
            "/1220000/retrieveTrifFxrtInfo/getRetrieveTrifFxrtInfo": ("fx_gw", self._fx_gw),
        }
        if path not in routes:
            return 404, "text/html", "<html><body>404 Not Found</body></html>"
        service, handler = routes[path]
        with self.lock:
            self.requests.append((service, {k: v for k, v in query.items() if k not in ("serviceKey", "crkyCn")}))
        fault = self._take_fault(service)
        if fault is not None:
            if fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "quota":
                return 429, "text/xml", gateway_service_error("LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR", "22")
            elif fault.kind == "quota_200":
                return 200, "text/xml", gateway_service_error("LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR", "22")
            elif fault.kind == "html_503":
                return 503, "text/html", HTML_503
            elif fault.kind == "not_xml":
                return 200, "text/xml", "<response><header><resultCode>00</resultCode>"
        if service.startswith("api"):
            key = query.get("crkyCn", "")
            if key != KEYS[service]:
                notice = "인증키상의 API 불일치" if key in KEYS.values() else "존재하지 않는 인증키입니다."
                root = "ccctLworCdQryRtnVo" if service == "api029" else "trrtQryRtnVo"
                return 200, "text/xml", unipass(root, "x", [], count_first=True, notice=notice, count=-1)
        else:
            key = query.get("serviceKey", "")
            if key != KEYS[service]:  # a double-encoded key decodes to "%…" and is refused the same way
                return 403, "text/xml", gateway_service_error("SERVICE_KEY_IS_NOT_REGISTERED_ERROR", "30")
        return handler(query, fault)

    def _api029(self, query: dict[str, str], fault: Fault | None) -> tuple[int, str, str]:
        hs, imex = query.get("hsSgn", ""), query.get("imexTp", "")
        if not imex:
            return 200, "text/xml", unipass("CcctLworCdQryRtnVo", "x", [], count_first=True,
                                            notice="수출입구분(imexTp)은 필수입력입니다.", count=-1)
        found = REQUIREMENTS.get((hs, imex), [])
        if not found:
            notice = "조회된 정보가 없습니다."
            return 200, "text/xml", unipass("CcctLworCdQryRtnVo", "x", [], count_first=True, notice=notice)
        rows = [
            [("hsSgn", hs), ("reqApreIttCd", agency_cd), ("aplyEndDt", ""), ("dcerCfrmLworNm", law),
             ("reqCfrmIstmNm", doc), ("aplyStrtDt", "20140101"), ("reqApreIttNm", agency), ("dcerCrmLworCd", law_cd)]
            for law_cd, law, agency_cd, agency, doc in found
        ]
        # Guide casing (PascalCase) with tCnt first for one row; lower camelCase with tCnt last for lists.
        if len(rows) == 1:
            return 200, "text/xml", unipass("CcctLworCdQryRtnVo", "CcctLworCdQryRsltVo", rows, count_first=True)
        return 200, "text/xml", unipass("ccctLworCdQryRtnVo", "ccctLworCdQryRsltVo", rows, count_first=False)

    def _api030(self, query: dict[str, str], fault: Fault | None) -> tuple[int, str, str]:
        hs = query.get("hsSgn", "")
        found = TARIFF_ROWS.get(hs, [])
        if not found:
            return 200, "text/xml", unipass("trrtQryRtnVo", "x", [], count_first=True,
                                            notice="조회된 관세율 정보가 없습니다.")
        rows = [
            [("basePrc", ""), ("hsSgn", hs), ("prutXamt", ""), ("trrtTpcd", code), ("trrtTpNm", name),
             ("aplyEndDt", "20261231"), ("aplyStrtDt", "20260101"), ("trrt", rate)]
            for code, name, rate in found
        ]
        if len(rows) == 1:  # the guide's casing, tCnt after the row
            return 200, "text/xml", unipass("TrrtQryRtnVo", "TrrtQryRsltVo", rows, count_first=False)
        return 200, "text/xml", unipass("trrtQryRtnVo", "trrtQryRsltVo", rows, count_first=True)

    def _ccct_gw(self, query: dict[str, str], fault: Fault | None) -> tuple[int, str, str]:
        hs, imex = query.get("hsSgn", ""), query.get("imexTpcd", "")
        if len(hs) != 10 or not hs.isdigit():
            return 200, "text/xml", gateway_ok([])
        items = [
            {"aplyStrtDt": "20140101", "bfhnAffcRtmTpcd": "2", "dcerCfrmLworCd": law_cd, "dcerCfrmLworNm": law,
             "hsSgn": hs, "reqApreIttCd": agency_cd, "reqApreIttNm": agency, "reqCfrmIstmNm": doc}
            for law_cd, law, agency_cd, agency, doc in REQUIREMENTS.get((hs, imex), [])
        ]
        return 200, "text/xml", gateway_ok(items)

    def _nitemtrade(self, query: dict[str, str], fault: Fault | None) -> tuple[int, str, str]:
        first, last, hs = query.get("strtYymm", ""), query.get("endYymm", ""), query.get("hsSgn", "")
        if len(first) != 6 or len(last) != 6 or not (first + last).isdigit():
            return 200, "text/xml", gateway_result("99", "조회기간(strtYymm, endYymm)은 필수입력입니다.")
        span = (int(last[:4]) * 12 + int(last[4:])) - (int(first[:4]) * 12 + int(first[4:])) + 1
        if span > 12:
            with self.lock:
                self._span_refusals += 1
                odd = self._span_refusals % 2 == 1
            # Sources disagree on the code (§8): alternate between them.
            if odd:
                return 200, "text/xml", gateway_result("99", "시작과 종료의 조회기간은 1년이내 기간만 가능합니다.")
            return 200, "text/xml", gateway_result("", "시작과 종료의 조회기간은 1년이내 기간만 가능합니다.")
        rows = trade_items(hs, first, last, self.newest_month)
        if not rows:
            return 200, "text/xml", gateway_ok([])
        totals = totals_item(rows)
        if fault is not None and fault.kind == "truncated_trade":
            rows = rows[: len(rows) // 2]
        return 200, "text/xml", gateway_ok([totals, *rows])

    def _fx_gw(self, query: dict[str, str], fault: Fault | None) -> tuple[int, str, str]:
        raw = query.get("aplyBgnDt", "")
        if query.get("weekFxrtTpcd") not in ("1", "2"):
            return 200, "text/xml", gateway_result("99", "수출입구분(weekFxrtTpcd)은 필수입력입니다.")
        try:
            day = datetime.strptime(raw, "%Y%m%d").date()
        except ValueError:
            return 200, "text/xml", gateway_result("99", "조회일자(aplyBgnDt)는 필수입력입니다.")
        sunday = day - timedelta(days=(day.weekday() + 1) % 7)
        items = [
            {"aplyBgnDt": sunday.strftime("%Y%m%d"), "cntySgn": cnty, "currSgn": curr, "fxrt": rate,
             "imexTp": query["weekFxrtTpcd"], "mtryUtNm": unit}
            for cnty, unit, rate, curr in FX_ROWS
        ]
        items.append({"aplyBgnDt": "19981227", "cntySgn": "", "currSgn": "ECU", "fxrt": "1395.12",
                      "imexTp": query["weekFxrtTpcd"], "mtryUtNm": ""})
        return 200, "text/xml", gateway_ok(items)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                status, content_type, text = server.answer(parts.path, query, parts.query)
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", f"{content_type};charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # quiet; the key is in the URL
                pass

        return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = FakeKcsServer(port=args.port)
    print(f"READY {server.url}", flush=True)
    print(f"KEYS {json.dumps(KEYS)}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.httpd.serve_forever()
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
