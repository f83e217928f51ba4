"""Encoded files -> encoded person records, for linkage (linkage/encoded.py).

An encoded file is recognised by the schema beside it. Files linked together must have been
encoded with one schema under one secret (the schema's key check), or their encodings would
compare as noise; and every filter must be as long as the schema says, since a filter cut
short (a truncated transfer, a column re-typed by a spreadsheet) would compare as a different
value. Each is refused with the file, row and column and what to do, before any record is
loaded. A clear file linked beside encoded ones is encoded here, in memory, with the same schema
and secret, so that the link database never holds its clear values.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from sources.column_maps import load_maps, normalise_header
from sources.encoding.encode import CLEAR_ROLES, encode_records
from sources.encoding.schema import EncodingError, EncodingSchema, read_schema, schema_path
from sources.kinds import load_person_columns
from sources.link_input import ROLES, SEX_WORDS, person_records
from sources.readers import PARQUET_SUFFIXES

ENCODED_SUFFIXES = ("_bf", "_hmac")


def is_encoded_file(path: Path) -> bool:
    """A schema beside it, or (refused when read, for want of one) encoded columns in it."""
    if schema_path(path).is_file():
        return True
    if path.suffix.lower() not in PARQUET_SUFFIXES or not path.is_file():
        return False
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError):
        return False
    return any(name.endswith(ENCODED_SUFFIXES) for name in names)


def same_encoding(paths: list[Path], secret: bytes | None) -> list[EncodingSchema]:
    """The schemas of the encoded `paths` (each names its own id column and fields), refusing
    a file of another schema than the first's, or encoded under another secret than the first
    file (or than `secret`, when given)."""
    first = read_schema(paths[0], secret)
    schemas = [first]
    for path in paths[1:]:
        schema = read_schema(path, secret, expected=first)
        if schema.key_check != first.key_check:
            raise EncodingError(f"{path.name} was encoded under another secret than "
                                f"{paths[0].name}: records encoded under different secrets "
                                "never match; ask the agencies to encode with the "
                                "partnership's one secret")
        schemas.append(schema)
    return schemas


def clear_identifier_headers() -> dict[str, str]:
    """Headers that hold a clear identifying value wherever Joined Up meets them (normalised
    header -> what it holds): the roles, the identifying person columns, and every header a
    shipped column map reads one of them from (Forename, DateOfBirth, HomePostcode...)."""
    identifying = {name for name, column in load_person_columns().items() if column.pii}
    roles = [role for role in ROLES if role not in CLEAR_ROLES]
    found = {normalise_header(name): name for name in (*roles, *identifying)}
    for cmap in load_maps().values():
        for canonical, rule in cmap.columns.items():
            if canonical in identifying and rule.column:
                found.setdefault(normalise_header(rule.column), canonical)
    return found


def check_no_clear_identifiers(path: Path, columns) -> None:
    """Refuse an encoded file that still carries a clear name, date of birth, address or
    identifier among its passed-through columns: the agency left it out of `--map`, so it
    travelled in the clear."""
    known = clear_identifier_headers()
    clear = [(c, known[normalise_header(c)]) for c in columns
             if normalise_header(c) in known]
    if clear:
        column, role = clear[0]
        raise EncodingError(
            f"{path.name}: column '{column}' holds a clear identifying value ({role}) beside "
            f"the encodings{f' (and {len(clear) - 1} more)' if len(clear) > 1 else ''}: it "
            f"left the agency unencoded; ask the agency to delete this file and encode it again "
            f"with --map {role}={column}")


def encoded_records(path: Path, schema: EncodingSchema) -> pd.DataFrame:
    """The encoded person records of one file (record_key, source, record_id, sex and the
    `_bf`, `_hmac` and `block_` columns), checked against its schema."""
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise EncodingError(f"{path.name}: cannot be read as Parquet ({type(exc).__name__}); "
                            "ask the agency to send the file `joinedup encode` wrote") from None
    id_column = schema.id_column
    check_no_clear_identifiers(path, [c for c in frame.columns if c != id_column])
    wanted = [id_column, *(f"{role}_bf" for role in schema.fields if role in schema.bloom),
              *(f"{role}_hmac" for role in schema.fields if role in schema.exact)]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise EncodingError(f"{path.name}: columns {missing} that its schema lists are not in "
                            "the file: it was altered after encoding; ask the agency to encode "
                            "it again")
    ids = frame[id_column].astype("string").str.strip()
    if ids.isna().any() or (ids == "").any() or ids.duplicated().any():
        raise EncodingError(f"{path.name}: column '{id_column}' must hold a unique, non-empty "
                            f"id on every row ({int(ids.isna().sum() + (ids == '').sum())} "
                            f"empty, {int(ids.duplicated().sum())} repeated)")
    out = pd.DataFrame({"source": path.stem, "record_id": ids.to_numpy()})
    out["record_key"] = path.stem + ":" + out["record_id"]
    if "sex" in frame:
        out["sex"] = frame["sex"].astype("string").str.strip().str.upper().map(SEX_WORDS)
    for column in frame.columns:
        if column.endswith("_bf"):
            _check_lengths(path, column, frame[column], schema.filter_bytes)
        if column.endswith(ENCODED_SUFFIXES) or column.startswith("block_"):
            out[column] = frame[column].to_numpy()
    return out


def _check_lengths(path: Path, column: str, filters: pd.Series, expected: int) -> None:
    lengths = filters.map(len, na_action="ignore")
    wrong = lengths.notna() & (lengths != expected)
    if wrong.any():
        row = int(wrong.to_numpy().nonzero()[0][0])
        raise EncodingError(
            f"{path.name}: row {row + 1}, column {column}: a Bloom filter of "
            f"{int(lengths.iloc[row])} bytes where the schema's are {expected} "
            f"({int(wrong.sum())} such rows): the file was cut short or altered after encoding; "
            "ask the agency to encode it again and send it whole")


def encode_clear(path: Path, id_column: str, roles: dict[str, str], schema: EncodingSchema,
                 secret: bytes) -> pd.DataFrame:
    """A clear file's person records encoded as `schema` under `secret`, in the shape of
    encoded_records: what `joinedup encode` would have sent for it."""
    records, _unparsed = person_records(path, id_column, roles, [])
    encoded = encode_records(records, [r for r in (*schema.bloom, *schema.exact)
                                       if r in records], schema, secret)
    keys = records[["source", "record_id", "record_key"]].reset_index(drop=True)
    return pd.concat([keys, encoded.reset_index(drop=True)], axis=1)
