from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

FIXTURES = Path(__file__).with_name("fixtures")
COMTRADE_COFFEE = FIXTURES / "comtrade_kor_090111_annual.csv"
KCS_STEEL_UTF8_BOM = FIXTURES / "kcs_720851_monthly_utf8bom.csv"
KCS_COFFEE_CP949 = FIXTURES / "kcs_0901210000_annual_cp949.csv"
KCS_MALFORMED = FIXTURES / "kcs_malformed.csv"


def run_import(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_trade_statistics", str(path), "--no-progress", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def import_file():
    return run_import
