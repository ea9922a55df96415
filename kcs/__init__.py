"""Korea Customs Service (관세청) file parsing (stand-alone: no Django).

    from kcs.hsk_file import read_hsk_file
    lines = read_hsk_file("data/kcs/hsk_2025_kcs.csv")   # list[HskLine], HSK 10-digit lines

    from kcs.tariff_file import read_tariff_file
    rates = read_tariff_file("관세청_품목번호별 관세율표_20260211.xlsx")   # list[TariffRateLine]

Both read csv (UTF-8 or CP949) and xlsx with the Korean headers of the data.go.kr files, keep leading zeros of
codes, accept Excel-serial and YYYYMMDD / YYYY-MM-DD dates, and raise `KcsFileError` naming every bad line of a
malformed file, so that a caller loads all of a file or nothing.
"""

from .errors import BadLine, KcsFileError

__all__ = ["BadLine", "KcsFileError"]
