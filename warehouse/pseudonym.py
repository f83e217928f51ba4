"""Keyed pseudonyms for the ids analysts see.

Linkage's person_id is sequential (P00000123): anyone who learns one child's id and the order
records arrived can guess at others, and the same id appears in the linkage zone beside names.
Analysts therefore see HMAC-SHA256(key, person_id) instead, cut to 12 characters of Crockford
base32 (60 bits; no I, L, O or U, so it reads aloud and copies by hand without confusion).
Without the key the pseudonym cannot be turned back into a person_id, nor a person_id into its
pseudonym; with the same key a child keeps the same pseudonym from night to night, because
linkage keeps the same person_id.

DuckDB has no HMAC, so pseudonyms are computed here in Python and written to
`linkage.pseudonym`, which the `analyst` views join to. The key itself is never written to the
warehouse: callers (flows.keys) resolve it and pass the bytes in.
"""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pandas as pd

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"       # Crockford base32
LENGTH = 12
GROUP = 4
MIN_KEY_BYTES = 16

TABLE_DDL = ("CREATE TABLE IF NOT EXISTS linkage.pseudonym ("
             "person_id VARCHAR PRIMARY KEY, pseudonym VARCHAR NOT NULL UNIQUE)")


class PseudonymKeyError(ValueError):
    """The pseudonymisation key is missing or too short (the message never quotes it)."""


def check_key(key: bytes, origin: str) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"the pseudonymisation key from {origin} is shorter than {MIN_KEY_BYTES} bytes; "
            "use a long random value, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`")
    return bytes(key)


def pseudonym(key: bytes, person_id: str) -> str:
    digest = hmac.new(key, person_id.encode("utf-8"), hashlib.sha256).digest()
    number = int.from_bytes(digest[:8], "big") >> (64 - 5 * LENGTH)
    chars = [ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(LENGTH))]
    return "-".join("".join(chars[i:i + GROUP]) for i in range(0, LENGTH, GROUP))


def write_pseudonyms(con: duckdb.DuckDBPyConnection, key: bytes) -> int:
    """(Re)write linkage.pseudonym for every person_id in linkage.person; returns the count.

    60 bits make a collision between two children of one partnership vanishingly unlikely
    (about 1 in 10^8 for 100,000 children), but one would merge two children in every analyst
    query, so it is checked, not assumed."""
    key = check_key(key, "the caller")
    ids = [p for (p,) in con.execute(
        "SELECT DISTINCT person_id FROM linkage.person WHERE person_id IS NOT NULL "
        "ORDER BY 1").fetchall()]
    frame = pd.DataFrame({"person_id": pd.Series(ids, dtype="object")})
    frame["pseudonym"] = [pseudonym(key, p) for p in ids]
    if frame["pseudonym"].duplicated().any():
        raise RuntimeError("two person ids share a pseudonym; rotate the pseudonymisation key")
    con.execute(TABLE_DDL)
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM linkage.pseudonym")
    con.register("pseudonym_frame", frame)
    try:
        con.execute("INSERT INTO linkage.pseudonym SELECT person_id, pseudonym "
                    "FROM pseudonym_frame")
    finally:
        con.unregister("pseudonym_frame")
    con.execute("COMMIT")
    return len(frame)


def unpseudonymised(con: duckdb.DuckDBPyConnection) -> int:
    """Children in the marts without a pseudonym: a build with any is not published."""
    return con.execute(
        "SELECT count(DISTINCT person_id) FROM (SELECT person_id FROM mart.child_profile "
        "UNION ALL SELECT person_id FROM mart.child_indicator) m "
        "WHERE NOT EXISTS (SELECT 1 FROM linkage.pseudonym p "
        "WHERE p.person_id = m.person_id)").fetchall()[0][0]
