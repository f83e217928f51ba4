import pandas as pd

from sources.kinds import get_kind
from warehouse import load
from warehouse.db import connect
from warehouse.schema import create_schema


def _frame(rows: list[dict], start_row: int = 2) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame.index = range(start_row, start_row + len(frame))
    return frame


def _police_rows():
    base = {"occurrence_type": "MISSING", "person_ref": "N1", "last_name": "STONE",
            "dob": pd.Timestamp("2012-04-03"), "sex": "F"}
    return _frame([
        {**base, "record_id": "R1", "first_name": "AVA", "reported_at": pd.Timestamp("2026-01-01"),
         "postcode": "ZX1 1AA"},
        {**base, "record_id": "R2", "first_name": "EVA", "reported_at": pd.Timestamp("2026-03-01"),
         "postcode": None},
        {**base, "record_id": "R3", "person_ref": "N2", "first_name": "LEO",
         "reported_at": pd.Timestamp("2026-02-01"), "postcode": "ZX2 2BB"},
    ])


def test_person_record_takes_latest_non_null_values_and_keeps_aliases():
    con = connect()
    create_schema(con)
    load.start_loading(con)
    loaded = load.load_rows(con, get_kind("police"), "police", "sha-a", 1, _police_rows())
    assert loaded == 3
    assert load.finish_loading(con) == 2
    rows = con.execute("""SELECT record_key, first_name, alias_first_names, postcode, event_rows
                          FROM staging.person_record ORDER BY record_key""").fetchall()
    assert rows[0] == ("police:N1", "EVA", ["AVA"], "ZX1 1AA", 2)   # postcode: latest non-null
    assert rows[1] == ("police:N2", "LEO", [], "ZX2 2BB", 1)
    events = con.execute("""SELECT record_key, person_key, row_number FROM staging.police
                            ORDER BY record_key""").fetchall()
    assert events == [("police:R1", "police:N1", 2), ("police:R2", "police:N1", 3),
                      ("police:R3", "police:N2", 4)]
    names = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'police'"
    ).fetchall()}
    assert "first_name" not in names     # identifying values live only in person_record


def test_a_later_extract_replaces_rows_with_the_same_record_id():
    con = connect()
    create_schema(con)
    load.start_loading(con)
    kind = get_kind("school")
    first = _frame([{"record_id": "A1", "record_type": "ATTENDANCE", "school_type": "PRIMARY",
                     "academic_year": "2025/26", "sessions_possible": 100,
                     "person_ref": "U1", "first_name": "AVA", "last_name": "STONE"}])
    again = first.assign(sessions_possible=120)
    load.load_rows(con, kind, "school", "sha-1", 1, first)
    load.load_rows(con, kind, "school", "sha-2", 2, again)
    load.finish_loading(con)
    assert con.execute("SELECT sessions_possible, extract_id FROM staging.school").fetchall() == [
        (120, "sha-2")]
