"""Invented children's person records for the linkage, review and link-command tests: strong
identifiers with valid check digits, a background of different children, twins and cross-source
duplicates, and loading them into staging.person_record.

All people, addresses and identifiers here are invented (NHS numbers in the never-issued 9xx
range, UPNs with a fictional local-authority number, postcodes in the fictional ZX area).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sources import standardise


def nhs(body: str) -> str:
    """A valid NHS number from a 9-digit body (Modulus 11)."""
    check = 11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    assert check != 10, f"{body} has no valid check digit"
    return body + str(check)


def upn(body: str) -> str:
    """A valid UPN from a 12-digit body (DfE check letter)."""
    return standardise.upn_check_letter(body) + body


def person(key: str, first: str | None, last: str | None, dob: str | None, sex: str | None,
           postcode: str | None = None, address: str | None = None, middle: str | None = None,
           **ids: str) -> dict:
    source, ref = key.split(":")
    return {
        "record_key": key, "source": source, "kind": source, "person_ref": ref,
        "extract_id": f"{source}-extract-1", "event_rows": 1,
        "first_name": first, "middle_names": middle, "last_name": last,
        "dob": dt.date.fromisoformat(dob) if dob else None, "sex": sex,
        "postcode": postcode, "address": address,
        "nhs_number": ids.get("nhs_number"), "upn": ids.get("upn"),
        "la_child_id": ids.get("la_child_id"),
    }


FIRST_NAMES = ["ADA", "BRAM", "CORA", "DEVON", "ELODIE", "FINLAY", "GRETA", "HUGO", "IMOGEN",
               "JUDE", "KIT", "LYRA", "MILO", "NIAMH", "OTTO", "PHOEBE", "QUINN", "ROSA", "SILAS",
               "TALIA", "UMAR", "VERA", "WREN", "XANTHE", "YUSUF", "ZARA", "ARLO", "BEA", "CASPER",
               "DELPHINE"]
SURNAMES = ["ALDERTON", "BRACKLEY", "CALDWELL", "DUNMORE", "ELLERBY", "FAIRHURST", "GLENDOWER",
            "HASWELL", "INGLEBY", "JARROLD", "KILBRIDE", "LANGSTROTH", "MERRIDEW", "NORTHCOTE",
            "OAKENFOLD", "PENHALIGON", "QUARRINGTON", "RAVENSCROFT", "SHELDRAKE", "THISTLEWOOD"]
STREETS = ["ACORN", "BEECH", "CEDAR", "DAMSON", "ELDER", "FIELDFARE", "GORSE", "HAZEL"]


def background(n: int = 120, seed: int = 11) -> list[dict]:
    """n different children: unique (first, last) names, random dobs, shared postcode pool."""
    rng = np.random.default_rng(seed)
    names = [(f, s) for s in SURNAMES for f in FIRST_NAMES]
    chosen = rng.choice(len(names), size=n, replace=False)
    records = []
    for i, k in enumerate(chosen):
        first, last = names[k]
        dob = dt.date(2006, 1, 1) + dt.timedelta(days=int(rng.integers(0, 15 * 365)))
        district, sector = int(rng.integers(1, 9)), int(rng.integers(1, 10))
        street = STREETS[int(rng.integers(0, len(STREETS)))]
        records.append(person(
            f"{['education', 'health', 'social'][i % 3]}:B{i:03d}", first, last, dob.isoformat(),
            ["F", "M"][int(rng.integers(0, 2))], f"ZX{district} {sector}AB",
            f"{int(rng.integers(1, 200))} {street} ROAD"))
    return records


def load_staging(con, records: list[dict]) -> None:
    """Put records into staging.person_record (created by warehouse.schema.create_schema)."""
    con.register("test_people_df", pd.DataFrame(records))
    columns = ", ".join(pd.DataFrame(records).columns)
    con.execute(f"INSERT INTO staging.person_record ({columns}) SELECT {columns} "
                "FROM test_people_df")
    con.unregister("test_people_df")


# Twins: same surname, dob, address and postcode, different first names.
TWINS = [
    person("health:T1", "AMARA", "OKONKWO", "2014-03-09", "F", "ZX4 7QT", "12 ASHBURN CLOSE"),
    person("health:T2", "CHIDI", "OKONKWO", "2014-03-09", "M", "ZX4 7QT", "12 ASHBURN CLOSE"),
    person("education:T1", "AMARA", "OKONKWO", "2014-03-09", "F", "ZX4 7QT", "12 ASHBURN CL"),
    person("health:T3", "ISLA", "FENWICK", "2016-04-11", "F", "ZX6 2RD", "3 MILLER COURT"),
    person("health:T4", "NOOR", "FENWICK", "2016-04-11", "F", "ZX6 2RD", "3 MILLER COURT"),
    # Isla again in another source, day and month swapped.
    person("social:T3", "ISLA", "FENWICK", "2016-11-04", "F", "ZX6 2RD", "3 MILLER COURT"),
    # twins given one middle name, and twins one of whom has the other's forename as hers
    person("health:T5", "CIARAN", "MAGUIRE", "2015-09-02", "M", "ZX7 4PL", "8 HEATH VIEW",
           middle="FIONN"),
    person("health:T6", "COLM", "MAGUIRE", "2015-09-02", "M", "ZX7 4PL", "8 HEATH VIEW",
           middle="FIONN"),
    person("education:T7", "KLAUDIA", "NOWAK", "2013-01-20", "F", "ZX1 6GB", "41 TERN STREET",
           middle="KRISTINA"),
    person("education:T8", "KRISTINA", "NOWAK", "2013-01-20", "F", "ZX1 6GB", "41 TERN STREET",
           middle="MONIKA"),
    # sisters five years apart whose names are one letter apart
    person("health:S1", "PRIYA", "DHALIWAL", "2011-03-24", "F", "ZX3 5NE", "27 WAGTAIL ROAD"),
    person("education:S2", "RIYA", "DHALIWAL", "2016-07-26", "F", "ZX3 5NE", "27 WAGTAIL ROAD"),
]
# True duplicates across sources: a nickname, a typo, a day-month swap.
DUPLICATES = [
    person("health:D1", "OLIVER", "BRENNAND", "2012-05-17", "M", "ZX2 3LB", "4 KESTREL WAY"),
    person("social:D1", "OLLIE", "BRENNAND", "2012-05-17", "M", "ZX2 3LB", "4 KESTREL WAY"),
    person("health:D2", "JASMINE", "PATTERSON", "2013-02-14", "F", "ZX3 8HN", "77 LINNET ROAD"),
    person("police:D2", "JASMINE", "PATERSON", "2013-02-14", "F", "ZX3 8HN", None),
    person("education:D3", "TOBIAS", "WRENFIELD", "2010-08-06", "M", "ZX5 1JP",
           "9 ORCHARD RISE"),
    person("health:D3", "TOBIAS", "WRENFIELD", "2010-06-08", "M", "ZX5 1JP", "9 ORCHARD RISE"),
    # a girl who goes by her middle name
    person("health:D4", "MARGARET", "ASHWORTH", "2011-11-11", "F", "ZX8 2DF", "5 PLOVER LANE",
           middle="ROSE"),
    person("police:D4", "ROSE", "ASHWORTH", "2011-11-11", "F", "ZX8 2DF", None),
]
