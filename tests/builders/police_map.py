"""An invented police records system's column map and CSV export, for the reader, validation,
check and step tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

POLICE_MAP = """
name: test_police_rms
kind: police
supplier: Invented police records system used by the tests
formats: {date: "%d/%m/%Y", datetime: "%d/%m/%Y %H:%M"}
columns:
  record_id: Occurrence Ref
  occurrence_type: {column: Type, codes: {MISPER: MISSING, CRIME: CRIME}}
  role: {value: VICTIM}
  reported_at: Reported
  missing_since: Last Seen
  found_at: Found
  offence_code: HO Code
  cse_flag: CSE
  suspect_count: Suspects
  person_ref: Nominal
  first_name: Forename
  last_name: Surname
  dob: DOB
  sex: {column: Sex, translate: sex.words}
  ethnicity: {column: SDE, translate: ethnicity.police_sde_18plus1}
  ethnicity_observed: {column: IC, translate: police_observed_ethnicity.ic_codes}
  postcode: Postcode
"""

POLICE_HEADER = ("Occurrence Ref,Type,Reported,Last Seen,Found,HO Code,CSE,Suspects,Nominal,"
                 "Forename,Surname,DOB,Sex,SDE,IC,Postcode")


def write_map(folder: Path, text: str = POLICE_MAP, name: str = "test_police_rms.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def police_csv(rows: list[str], header: str = POLICE_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"
