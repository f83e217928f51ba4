"""Reading an encoded file back: its schema first, then every filter and HMAC checked.

A filter cut short (a truncated transfer, a spreadsheet that rewrote the column) would still
compare, only wrongly: the Dice coefficient of two filters of different lengths means nothing,
and a balanced filter that lost bits no longer hides its value's length. So a file whose
encodings are not all the shape its schema says is refused, naming the row and the column,
before anything of it is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sources.encoding.schema import EncodingError, EncodingSchema, read_schema

HMAC_CHARS = 32


def _ones(filters: pd.Series) -> np.ndarray:
    packed = np.frombuffer(b"".join(filters), dtype=np.uint8).reshape(len(filters), -1)
    return np.unpackbits(packed, axis=1).sum(axis=1)


def _refuse(path: Path, frame: pd.DataFrame, id_column: str, column: str, bad: pd.Series,
            problem: str) -> None:
    rows = np.flatnonzero(bad.to_numpy())
    if not len(rows):
        return
    first = int(rows[0])
    others = f" (and {len(rows) - 1:,} more rows)" if len(rows) > 1 else ""
    raise EncodingError(f"{path.name}, row {first + 1} (id {frame[id_column].iloc[first]}), "
                        f"column {column}: {problem}{others}: the file was cut short or altered "
                        "after it was encoded; ask the agency to encode it again and send it "
                        "with its schema")


def _check_filters(path: Path, frame: pd.DataFrame, schema: EncodingSchema, role: str) -> None:
    column = f"{role}_bf"
    values = frame[column]
    present = values.notna()
    not_bytes = present & ~values.map(lambda v: isinstance(v, bytes | bytearray))
    _refuse(path, frame, schema.id_column, column, not_bytes, "not a Bloom filter's bytes")
    size = schema.filter_bytes
    lengths = values.map(len, na_action="ignore")
    wrong = present & (lengths != size)
    shown = int(lengths[wrong].iloc[0]) if wrong.any() else 0
    _refuse(path, frame, schema.id_column, column, wrong,
            f"{shown} bytes where this schema's filters have {size}")
    if schema.hardening.get("balance") and not schema.hardening.get("xor_fold") and present.any():
        ones = pd.Series(schema.bits, index=values.index)
        ones[present] = _ones(values[present])
        _refuse(path, frame, schema.id_column, column, ones != schema.bits,
                f"a balanced filter must have exactly {schema.bits} bits set")


def read_encoded(path: Path, secret: bytes | None = None,
                 expected: EncodingSchema | None = None) -> tuple[pd.DataFrame, EncodingSchema]:
    """An encoded file and its schema, refused (EncodingError) if the schema is missing, of
    other settings than `expected` or another secret than `secret`, or if any encoding in the
    file is not the shape the schema says."""
    schema = read_schema(path, secret, expected)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise EncodingError(f"{path.name}: cannot be read as Parquet ({type(exc).__name__}): "
                            "the file was cut short or is not an encoded file; ask the agency "
                            "to send it again") from None
    if len(frame) != schema.records:
        raise EncodingError(f"{path.name}: holds {len(frame):,} records where its schema says "
                            f"{schema.records:,}: the file was cut short or altered after it "
                            "was encoded; ask the agency to encode it again")
    expected_columns = [schema.id_column,
                        *(f"{f}_bf" for f in schema.fields if f in schema.bloom),
                        *(f"{f}_hmac" for f in schema.fields if f in schema.exact)]
    missing = [c for c in expected_columns if c not in frame.columns]
    if missing:
        raise EncodingError(f"{path.name}: column(s) {', '.join(missing)} named by its schema "
                            "are not in the file; ask the agency to encode it again")
    for role in schema.fields:
        if role in schema.bloom:
            _check_filters(path, frame, schema, role)
        elif role in schema.exact:
            column = f"{role}_hmac"
            bad = pd.Series([v is not None and not (isinstance(v, str) and len(v) == HMAC_CHARS)
                             for v in frame[column]], index=frame.index)
            _refuse(path, frame, schema.id_column, column, bad,
                    f"not a keyed HMAC ({HMAC_CHARS} hexadecimal characters)")
    return frame, schema
