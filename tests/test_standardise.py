import pandas as pd

from sources import standardise


def test_names_lose_titles_accents_and_punctuation_but_keep_hyphens():
    raw = pd.Series(["Miss Zoë  O'Brien", " smith - jones ", "", None, "Mr. José-María", "N/A"])
    assert standardise.name(raw).tolist() == [
        "ZOE OBRIEN", "SMITH-JONES", pd.NA, pd.NA, "JOSE-MARIA", pd.NA]


def test_postcodes_are_formatted_or_null():
    raw = pd.Series(["zx47qp", "ZX4 7QP", "not a postcode", None, "ZX10 1AB"])
    assert standardise.postcode(raw).tolist() == ["ZX4 7QP", "ZX4 7QP", pd.NA, pd.NA, "ZX10 1AB"]


def test_nhs_numbers_need_a_valid_check_digit():
    # 943 476 5919 is the NHS's published example of a valid number
    raw = pd.Series(["943 476 5919", "9434765918", "12345", None])
    assert standardise.nhs_number(raw).tolist() == ["9434765919", pd.NA, pd.NA, pd.NA]


def test_upn_check_letter_round_trip():
    body = "801201001012"
    letter = standardise.upn_check_letter(body)
    good = letter + body
    wrong = ("A" if letter != "A" else "B") + body
    assert standardise.upn(pd.Series([good, wrong, "short"])).tolist() == [good, pd.NA, pd.NA]
    assert "I" not in standardise.UPN_LETTERS and "O" not in standardise.UPN_LETTERS
