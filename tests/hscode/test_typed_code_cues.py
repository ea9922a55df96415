"""A digit run is a typed code only when the text marks it as one (issue 15, item 3)."""

import pytest

from hscode.analysis.analyse import analyse_text
from hscode.analysis.notation import extract_codes


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("HS 8517.13", "851713"),
        ("제8517호", "8517"),
        ("851713", "851713"),
        ("8517.13.00", "851713"),
        ("8517-13-0000", "851713"),
        ("85류", "85"),
        ("세번 8517130000 관세율 알려줘", "851713"),
        ("품목번호: 851713", "851713"),
        ("851713은 뭐야?", "851713"),
        ("8517130000 수입 요건", "851713"),
        ("what is the duty rate for 851713", "851713"),
    ],
)
def test_marked_or_lone_code_is_a_typed_code(text, code):
    mentions = extract_codes(text)
    assert mentions and mentions[0].code == code and mentions[0].cued
    analysis = analyse_text(text)
    assert analysis.explicit is not None and analysis.explicit.code == code
    if len(code) == 6:
        assert analysis.chosen is not None and analysis.chosen.source == "explicit"
        assert analysis.chosen.confidence == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "Galaxy phone case 851713 black",
        "FROZEN BOBBY VEAL RIB BONES ; BONEIN VEALRIBCAGE ; 020220",
        "model 847130 stainless steel bottle opener",
        "냉동 삼겹살 로트번호 020312 소매포장",
        "Parts and accessories of subheading 84433110 ; C4350 TONER WASTE BOX",
    ],
)
def test_model_or_lot_number_inside_a_description_is_no_typed_code(text):
    analysis = analyse_text(text)
    assert analysis.explicit is None
    assert all(not m.cued for m in analysis.mentions)
    assert all(c.source != "explicit" and c.confidence < 1.0 for c in analysis.candidates)


def test_bare_number_is_only_a_weak_hint_weighed_against_the_text():
    # the number names a telephone subheading, the text a bottle opener: the text wins
    analysis = analyse_text("stainless steel bottle opener 851713")
    assert analysis.candidates and analysis.candidates[0].code[:4] != "8517"
    # when the text agrees with the number, the number helps that code without making it certain
    agreeing = analyse_text("851713 스마트폰")
    assert agreeing.explicit is None
    assert agreeing.candidates[0].code == "851713"
    assert agreeing.candidates[0].confidence < 1.0


def test_invalid_bare_number_in_a_description_is_not_reported_as_a_wrong_code():
    analysis = analyse_text("bolt M8 part 999999 zinc plated")
    assert not [m for m in analysis.mentions if not m.valid]
