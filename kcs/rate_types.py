"""Names of the KCS tariff rate types (관세율구분), Korean and English.

Source of the Korean names: the `trrtTpNm` values UNI-PASS API030 returned for these codes, as collected in
docs/research/korean-customs-apis.md §2 ("Rate-type codes"); the family names of the other codes come from
the same section. The English names are ours (the agreement's usual English name). The tariff file itself has
only the codes. A trailing number is the agreement's "(선택N)" variant: FAU11 is 한ㆍ호주 FTA (선택11).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BASIC = "basic"
WTO = "wto"
FTA = "fta"
OTHER = "other"


@dataclass(frozen=True)
class RateType:
    code: str
    name_ko: str
    name_en: str
    kind: str  # BASIC, WTO, FTA or OTHER

    def name(self, language: str) -> str:
        return self.name_en if language.startswith("en") else self.name_ko


# code → (Korean name as API030 returns it, English name)
_NAMED: dict[str, tuple[str, str]] = {
    "A": ("기본세율", "Basic rate"),
    "C": ("WTO협정세율", "WTO agreed rate"),
    "D": ("WTO개도국협정세율", "WTO developing-country agreed rate"),
    "E1": ("아시아ㆍ태평양 협정세율(일반)", "Asia-Pacific Trade Agreement rate (general)"),
    "R": ("최빈국특혜관세", "Least-developed-country preferential rate"),
    "U": ("북한산", "Goods of North Korean origin"),
    "F": ("국제협력관세", "International cooperation tariff"),
    "F1": ("국제협력관세", "International cooperation tariff"),
    "P1": ("할당관세", "Quota tariff"),
    "P3": ("할당관세", "Quota tariff"),
    "W1": ("WTO 추천세율", "WTO recommended rate"),
    "W2": ("WTO 미추천세율", "WTO non-recommended rate"),
    "FAE1": ("한ㆍUAE CEPA(선택1)", "Korea–UAE CEPA (option 1)"),
    "FAS1": ("한ㆍ아세안 FTA협정세율(선택1)", "Korea–ASEAN FTA rate (option 1)"),
    "FAU1": ("한ㆍ호주 FTA협정세율(선택1)", "Korea–Australia FTA rate (option 1)"),
    "FCA1": ("한ㆍ캐나다 FTA협정세율(선택1)", "Korea–Canada FTA rate (option 1)"),
    "FCECR1": ("한ㆍ중미 FTA협정세율_코스타리카(선택1)", "Korea–Central America FTA rate, Costa Rica (option 1)"),
    "FCEHN1": ("한ㆍ중미 FTA협정세율_온두라스(선택1)", "Korea–Central America FTA rate, Honduras (option 1)"),
    "FCENI1": ("한ㆍ중미 FTA협정세율_니카라과(선택1)", "Korea–Central America FTA rate, Nicaragua (option 1)"),
    "FCEPA1": ("한ㆍ중미 FTA협정세율_파나마(선택1)", "Korea–Central America FTA rate, Panama (option 1)"),
    "FCESV1": ("한ㆍ중미 FTA협정세율_엘살바도르(선택1)", "Korea–Central America FTA rate, El Salvador (option 1)"),
    "FCL1": ("한ㆍ칠레FTA협정세율(선택1)", "Korea–Chile FTA rate (option 1)"),
    "FCN1": ("한ㆍ중국 FTA협정세율(선택1)", "Korea–China FTA rate (option 1)"),
    "FCO1": ("한ㆍ콜롬비아FTA협정세율(선택1)", "Korea–Colombia FTA rate (option 1)"),
    "FEF1": ("한ㆍEFTA FTA협정세율(선택1)", "Korea–EFTA FTA rate (option 1)"),
    "FEU1": ("한ㆍEU FTA협정세율(선택1)", "Korea–EU FTA rate (option 1)"),
    "FGB1": ("한ㆍ영국 FTA협정세율(선택1)", "Korea–UK FTA rate (option 1)"),
    "FID1": ("한ㆍ인도네시아 CEPA(선택1)", "Korea–Indonesia CEPA (option 1)"),
    "FIL1": ("한ㆍ이스라엘 FTA(선택1)", "Korea–Israel FTA (option 1)"),
    "FIN1": ("한ㆍ인도 FTA협정세율(선택1)", "Korea–India CEPA rate (option 1)"),
    "FKH1": ("한ㆍ캄보디아 FTA(선택1)", "Korea–Cambodia FTA (option 1)"),
    "FNZ1": ("한ㆍ뉴질랜드 FTA협정세율(선택1)", "Korea–New Zealand FTA rate (option 1)"),
    "FPE1": ("한ㆍ페루 FTA협정세율(선택1)", "Korea–Peru FTA rate (option 1)"),
    "FPH1": ("한ㆍ필리핀 FTA(선택1)", "Korea–Philippines FTA (option 1)"),
    "FRCAS1": ("RCEP협정세율_아세안(선택1)", "RCEP rate, ASEAN (option 1)"),
    "FRCAU1": ("RCEP협정세율_호주(선택1)", "RCEP rate, Australia (option 1)"),
    "FRCCN1": ("RCEP협정세율_중국(선택1)", "RCEP rate, China (option 1)"),
    "FRCJP1": ("RCEP협정세율_일본(선택1)", "RCEP rate, Japan (option 1)"),
    "FRCNZ1": ("RCEP협정세율_뉴질랜드(선택1)", "RCEP rate, New Zealand (option 1)"),
    "FSG1": ("한ㆍ싱가포르FTA협정세율(선택1)", "Korea–Singapore FTA rate (option 1)"),
    "FTR1": ("한ㆍ터키 FTA협정세율(선택1)", "Korea–Türkiye FTA rate (option 1)"),
    "FUS1": ("한ㆍ미 FTA 협정세율(선택1)", "Korea–US FTA rate (option 1)"),
    "FVN1": ("한ㆍ베트남 FTA협정세율(선택1)", "Korea–Vietnam FTA rate (option 1)"),
}
_VARIANT = re.compile(r"^([A-Z]+?)(\d+)$")
_KO_OPTION = re.compile(r"\(선택\d+\)$")
_EN_OPTION = re.compile(r"\(option \d+\)$")


def _kind(code: str) -> str:
    if code == "A":
        return BASIC
    if code == "C":
        return WTO
    # FTA codes are F + the agreement's letters (+ variant number); F and F1 are 국제협력관세.
    if len(code) > 2 and code[0] == "F" and code[1].isalpha():
        return FTA
    return OTHER


def rate_type(code: str) -> RateType:
    """The named rate type; a variant of a known agreement (FAU11) gets its family's name with its number;
    an unknown code is named by itself, so nothing is ever invented."""
    code = code.strip().upper()
    if code in _NAMED:
        name_ko, name_en = _NAMED[code]
        return RateType(code, name_ko, name_en, _kind(code))
    match = _VARIANT.match(code)
    if match:
        family = f"{match.group(1)}1"
        if family in _NAMED and _KO_OPTION.search(_NAMED[family][0]):
            number = match.group(2)
            name_ko = _KO_OPTION.sub(f"(선택{number})", _NAMED[family][0])
            name_en = _EN_OPTION.sub(f"(option {number})", _NAMED[family][1])
            return RateType(code, name_ko, name_en, _kind(code))
    return RateType(code, code, code, _kind(code))
