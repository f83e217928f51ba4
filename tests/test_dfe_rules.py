"""The DfE's own validation rules in the statutory returns' suites (issue 11, validation): each
quarantine or warning they give carries the DfE rule code and message, as the DfE's validators
word them. Synthetic returns only."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from expectations.validate import validate_extract
from sources.column_maps import load_maps
from sources.extract import read_extract
from sources.synth.ssd import write_ssd
from sources.synth.statutory import cin_child_xml, cin_header_xml, write_ssda903_set

MAPS = load_maps()


def _validate(path: Path, as_of: date):
    extract = read_extract(path, "social_care", MAPS, path.name)
    return validate_extract(extract.mapped, as_of, f"social_care.{extract.cmap.name}")


def _codes(rules) -> set[str]:
    return {r.split(":")[0] for r in rules if r.startswith("DfE ")}


def _cin(tmp_path: Path, edit, factors: list[str]) -> Path:
    child = cin_child_xml({"id": "SYN1", "upn": "Y201123425001", "female": True,
                           "dob": date(2012, 1, 2), "referral": date(2025, 6, 1),
                           "ethnicity": "WBRI", "factors": factors, "cp": False,
                           "missing": False, "place": "U1"}, 2026)
    path = tmp_path / "cin.xml"
    path.write_text(f"<Message>{cin_header_xml(2026)}<Children>{edit(child)}</Children>"
                    "</Message>")
    return path


def test_cin_census_rows_breaking_dfe_rules_are_warned_about_by_code(tmp_path):
    def edit(child: str) -> str:
        return (child.replace("<LAchildID>SYN1</LAchildID>",
                              "<LAchildID>SYN-1-WITH-A-VERY-LONG-ID</LAchildID>")
                .replace("</UPN>", "</UPN><UPNunknown>UN7</UPNunknown>")
                .replace("</CINdetails>", "<ReferralNFA>false</ReferralNFA></CINdetails>", 1)
                .replace("<AssessmentFactors>11A</AssessmentFactors>",
                         "<AssessmentFactors>11A</AssessmentFactors>"
                         "<AssessmentFactors>11A</AssessmentFactors>"))
    result = _validate(_cin(tmp_path, edit, ["11A", "18A"]), date(2026, 4, 5))
    assert result.quarantined_rows == []
    assert _codes(result.warnings) == {"DfE 1570", "DfE 1580", "DfE 8772", "DfE 8898",
                                       "DfE 8945Q"}
    assert ("DfE 8772: UPN unknown reason is UN7 (Referral with no further action) but at "
            "least one CIN details is a referral going on to further action") in result.warnings


def test_an_unborn_child_not_recorded_as_u_is_warned_about_as_8750(tmp_path):
    def edit(child: str) -> str:
        return child.replace("<PersonBirthDate>2012-01-02</PersonBirthDate>",
                             "<ExpectedPersonBirthDate>2026-06-01</ExpectedPersonBirthDate>")
    result = _validate(_cin(tmp_path, edit, ["11A"]), date(2026, 4, 5))
    assert "DfE 8750" in _codes(result.warnings)
    assert "DfE 8525Q" not in _codes(result.warnings)      # exactly one of the two is given


def test_a_quarantine_that_is_a_dfe_rule_carries_its_code(tmp_path):
    result = _validate(_cin(tmp_path, lambda c: c.replace("<Sex>F</Sex>", "<Sex>X</Sex>"),
                            ["11A"]), date(2026, 4, 5))
    assert set(result.failures["rule"]) == {
        "DfE 4180: Sex must be provided and equal M, F, or U (sex must be a code in the map's "
        "code list)"}


def _edit_csv(path: Path, column: str, value: str, row: int = 0) -> None:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1 + row][rows[0].index(column)] = value
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_ssda903_rows_breaking_dfe_rules_are_warned_about_by_code(tmp_path):
    folder = write_ssda903_set(tmp_path / "set", 6, 2025)
    _edit_csv(folder / "episodes.csv", "PLACE", "P2", row=1)     # open, after 28/10/2023
    _edit_csv(folder / "episodes.csv", "PLACE", "H5", row=3)     # no URN
    _edit_csv(folder / "header.csv", "UPN", "UN1", row=0)        # a child of school age
    _edit_csv(folder / "header.csv", "UPN", "A12345", row=1)
    result = _validate(folder, date(2025, 4, 5))
    assert {"DfE 217t", "DfE 230", "DfE 209", "DfE 168"} <= _codes(result.warnings)
    warned = [r for r in result.warned.itertuples() if r.rule.startswith("DfE 217t")]
    with (folder / "episodes.csv").open(newline="") as fh:     # the edited row and the
        open_p2 = sum(1 for r in csv.DictReader(fh)              # generator's own open P2s
                      if r["PLACE"] == "P2" and not r["DEC"])
    assert len(warned) == open_p2 >= 2


def test_ssd_factor_21_with_other_factors_is_warned_about_as_8869(tmp_path):
    folder = write_ssd(tmp_path / "ssd", 3)
    with (folder / "ssd_assessment_factors.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][2] = json.dumps(["21", "11A"])
    with (folder / "ssd_assessment_factors.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    result = _validate(folder, date(2026, 4, 5))
    assert result.warnings.get("DfE 8869: The assessment factors code “21” cannot be used in "
                               "conjunction with any other assessment factors.") == 1
