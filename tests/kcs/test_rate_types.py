"""kcs.rate_types names the 관세율구분 codes in Korean and English, never inventing a name."""

from __future__ import annotations

from kcs.rate_types import BASIC, FTA, OTHER, WTO, rate_type


def test_basic_wto_and_fta_codes_are_named_as_api030_names_them():
    assert (rate_type("A").name_ko, rate_type("A").kind) == ("기본세율", BASIC)
    assert (rate_type("C").name_ko, rate_type("C").kind) == ("WTO협정세율", WTO)
    fcn = rate_type("FCN1")
    assert (fcn.name_ko, fcn.kind) == ("한ㆍ중국 FTA협정세율(선택1)", FTA)
    assert fcn.name("en") == "Korea–China FTA rate (option 1)"
    assert rate_type("FUS1").name_ko == "한ㆍ미 FTA 협정세율(선택1)"  # verbatim, space before 협정 included


def test_a_numbered_variant_takes_its_agreements_name_and_number():
    assert rate_type("FAU11").name_ko == "한ㆍ호주 FTA협정세율(선택11)"
    assert rate_type("fau11").kind == FTA


def test_international_cooperation_tariff_is_not_an_fta_and_unknown_codes_name_themselves():
    assert rate_type("F1").kind == OTHER
    unknown = rate_type("ZZ9")
    assert (unknown.name_ko, unknown.name_en, unknown.kind) == ("ZZ9", "ZZ9", OTHER)
