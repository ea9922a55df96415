"""An import duty and VAT estimate for one HSK10 line (plain Python).

The rule, and where it comes from:
- Customs value in won (과세가격): the foreign-currency value × the week's customs exchange rate (과세환율,
  관세법 제18조: the rate of the week that contains the declaration date, published by 관세청), below one won
  dropped. A person without a live rate may give the value in won directly.
- The rate that applies (관세법 제50조 세율 적용의 우선순위): the WTO agreed rate (국제협력관세, C) applies only when
  it is lower than the basic rate (A) (제50조 제3항), so without a preference the lower of A and C applies. An FTA
  rate of an agreement covering the origin country applies when it is lower than that
  (자유무역협정의 이행을 위한 관세법의 특례에 관한 법률 제5조 제1항), and only with a valid certificate of origin
  and an application for it (같은 법 제8조, 제10조); when several agreements cover the origin (한·중 FTA and RCEP
  for China), the lowest of their "(선택1)" general rates is used. Special tariffs (덤핑방지관세, 할당관세, 조정관세 …)
  and specific duties per unit are not part of this estimate.
- Duty (관세) = customs value × rate, below one won dropped.
- VAT (부가가치세법 제29조 제2항, 제30조): 10 % of (customs value + duty), below one won dropped. Individual
  consumption, liquor and education taxes, which would join the VAT base, are not estimated.
- Payable amounts drop ends below 10 won (국고금 관리법 제47조); the estimate shows both.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

VAT_RATE = Decimal("10")

EU = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
ASEAN = frozenset("BN KH ID LA MY MM PH SG TH VN".split())
EFTA = frozenset({"CH", "IS", "LI", "NO"})
# The FTA "(선택1)" rate types whose agreement covers an origin country (ISO 3166 alpha-2).
FTA_PARTNERS: dict[str, frozenset[str]] = {
    "FAE1": frozenset({"AE"}), "FAS1": ASEAN, "FAU1": frozenset({"AU"}), "FCA1": frozenset({"CA"}),
    "FCECR1": frozenset({"CR"}), "FCEHN1": frozenset({"HN"}), "FCENI1": frozenset({"NI"}),
    "FCEPA1": frozenset({"PA"}), "FCESV1": frozenset({"SV"}), "FCL1": frozenset({"CL"}), "FCN1": frozenset({"CN"}),
    "FCO1": frozenset({"CO"}), "FEF1": EFTA, "FEU1": EU, "FGB1": frozenset({"GB"}), "FID1": frozenset({"ID"}),
    "FIL1": frozenset({"IL"}), "FIN1": frozenset({"IN"}), "FKH1": frozenset({"KH"}), "FNZ1": frozenset({"NZ"}),
    "FPE1": frozenset({"PE"}), "FPH1": frozenset({"PH"}), "FRCAS1": ASEAN, "FRCAU1": frozenset({"AU"}),
    "FRCCN1": frozenset({"CN"}), "FRCJP1": frozenset({"JP"}), "FRCNZ1": frozenset({"NZ"}),
    "FSG1": frozenset({"SG"}), "FTR1": frozenset({"TR"}), "FUS1": frozenset({"US"}), "FVN1": frozenset({"VN"}),
}


def fta_types_for(origin: str) -> list[str]:
    origin = origin.strip().upper()
    return sorted(code for code, partners in FTA_PARTNERS.items() if origin in partners)


@dataclass(frozen=True)
class RateOption:
    rate_type: str
    name: str
    rate: Decimal  # percent


@dataclass(frozen=True)
class DutyEstimate:
    customs_value_krw: int
    rate: RateOption  # the rate that applies
    basis: str  # "fta" | "wto" | "basic"
    duty_krw: int
    vat_base_krw: int
    vat_krw: int
    total_krw: int
    duty_payable_krw: int  # below 10 won dropped
    vat_payable_krw: int
    considered: tuple[RateOption, ...]  # every rate that was compared


def floor_won(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def floor_ten(amount: int) -> int:
    return amount - amount % 10


def to_won(value: Decimal, krw_per_unit: Decimal) -> int:
    """A foreign-currency value in won at the customs exchange rate, below one won dropped."""
    if value < 0:
        raise ValueError("a customs value cannot be negative")
    return floor_won(value * krw_per_unit)


def applicable_rate(basic: RateOption | None, wto: RateOption | None,
                    fta: list[RateOption]) -> tuple[RateOption, str, tuple[RateOption, ...]]:
    """The rate that applies (see the module's rule) and why: "fta", "wto" or "basic"."""
    general = [r for r in (basic, wto) if r is not None]
    if not general and not fta:
        raise ValueError("no basic, WTO or FTA rate is known for this line")
    best_general = min(general, key=lambda r: (r.rate, r.rate_type != "A")) if general else None
    considered = tuple(general + fta)
    best_fta = min(fta, key=lambda r: (r.rate, r.rate_type)) if fta else None
    if best_fta is not None and (best_general is None or best_fta.rate < best_general.rate):
        return best_fta, "fta", considered
    assert best_general is not None
    return best_general, ("wto" if best_general.rate_type == "C" else "basic"), considered


def estimate(customs_value_krw: int, basic: RateOption | None, wto: RateOption | None,
             fta: list[RateOption]) -> DutyEstimate:
    if customs_value_krw < 0:
        raise ValueError("a customs value cannot be negative")
    rate, basis, considered = applicable_rate(basic, wto, fta)
    duty = floor_won(Decimal(customs_value_krw) * rate.rate / 100)
    vat_base = customs_value_krw + duty
    vat = floor_won(Decimal(vat_base) * VAT_RATE / 100)
    return DutyEstimate(
        customs_value_krw=customs_value_krw, rate=rate, basis=basis, duty_krw=duty, vat_base_krw=vat_base,
        vat_krw=vat, total_krw=duty + vat, duty_payable_krw=floor_ten(duty), vat_payable_krw=floor_ten(vat),
        considered=considered,
    )
