import pytest

from hscode.analysis.notation import extract_codes, normalize_code


@pytest.mark.parametrize(
    ("text", "code", "national"),
    [
        ("8517.13", "851713", ""),
        ("8517.13.00", "851713", "00"),
        ("8517.13-0000", "851713", "0000"),
        ("851713", "851713", ""),
        ("8517130000", "851713", "0000"),
        ("HS 8517", "8517", ""),
        ("제8517호", "8517", ""),
        ("제85류", "85", ""),
        ("85류", "85", ""),
    ],
)
def test_every_notation_normalises_to_the_international_code_and_keeps_national_digits(text, code, national):
    mention = normalize_code(text)
    assert mention is not None
    assert mention.code == code
    assert mention.national == national
    assert mention.valid


def test_korean_hsk_ten_digit_code_keeps_its_national_part_in_dotted_form():
    mention = normalize_code("HSK 8517130000")
    assert mention.dotted == "8517.13-0000"
    assert mention.full_digits == "8517130000"


def test_nonexistent_code_is_rejected_with_a_reason():
    mention = normalize_code("9999.99")
    assert mention is not None
    assert not mention.valid
    assert "99" in mention.reason


def test_nonexistent_subheading_under_a_real_heading_says_which_level_is_missing():
    mention = normalize_code("8517.99")
    assert not mention.valid
    assert "subheading 8517.99" in mention.reason
    assert mention.suggestions


def test_codes_in_a_sentence_are_found_in_order_and_prices_are_not_codes():
    mentions = extract_codes("8517.13 말고 제8471호도 가능한가요? 가격은 150000원")
    assert [m.code for m in mentions] == ["851713", "8471"]
