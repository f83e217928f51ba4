"""Person records -> their encodings: what an agency sends instead of names.

Every identifying role becomes a Bloom filter (names, date of birth, postcode, address) or a
keyed HMAC (NHS number, UPN, LA child id), blocking keys are keyed HMACs, and sex and every
column the agency did not name as a role pass through as delivered, so validation and the
indicators read them as before. No clear identifying value is written, and the file is written
under a temporary name and renamed, its schema beside it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import jellyfish
import pandas as pd

from sources.encoding.bloom import FilterMaker
from sources.encoding.schema import (
    EncodingError,
    EncodingSchema,
    derive,
    key_check,
    write_schema,
)
from sources.link_input import person_records, read_table

log = logging.getLogger("joinedup")

CLEAR_ROLES = ("sex",)                 # compared as it is; identifies no one on its own
# Filters of a value made from several roles: forename and surname in alphabetical order, so
# that a record whose names were entered the wrong way round still compares with the other
# (5% of FEBRL4's true pairs); each role's own filter is keyed by its role and cannot show it.
DERIVED = {"names_sorted": ("first_name", "last_name")}
TRANSFORMS = {
    "soundex": jellyfish.soundex,
    "initial": lambda v: v[:1],
    "year": lambda v: v[:4],
    "value": lambda v: v,
    # YYYYMMDD -> the year and the two smaller-then-larger of day and month: a swap keeps it
    "day_month_either_way": lambda v: v[:4] + "".join(sorted((v[4:6], v[6:8]))),
}


def _text(role: str, values: pd.Series) -> pd.Series:
    """The standardised value a role is encoded from (dates as YYYYMMDD, postcodes compact)."""
    def one(value) -> str | None:
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            return None
        if role == "dob":
            return value.strftime("%Y%m%d") if isinstance(value, date) else None
        text = str(value).strip().upper()
        if role == "postcode":
            text = text.replace(" ", "")
        return text or None

    return pd.Series([one(v) for v in values], index=values.index, dtype=object)


def _hmac(key: bytes, role: str, value: str | None) -> str | None:
    if value is None:
        return None
    return hmac.new(key, f"{role}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:32]


def _keys(parts: list[str], texts: dict[str, pd.Series]) -> list[str | None] | None:
    """The key of each record made of `role:transform` parts (a blocking key, the salt), None
    where a part is empty; None for all when a part's role is not in the file."""
    pieces = []
    for part in parts:
        role, _sep, transform = part.partition(":")
        if role not in texts:
            return None
        t = TRANSFORMS[transform]
        pieces.append([(t(v) or None) if v else None for v in texts[role]])
    return [None if any(p is None for p in row) else "|".join(row)
            for row in zip(*pieces, strict=True)]


def encode_records(records: pd.DataFrame, roles: list[str], schema: EncodingSchema,
                   secret: bytes) -> pd.DataFrame:
    """The encoded columns of canonical person records (sources.link_input)."""
    filters = FilterMaker(schema, secret)
    exact_key, block_key = derive(secret, "exact"), derive(secret, "blocking")
    out = pd.DataFrame(index=records.index)
    texts = {role: _text(role, records[role]) for role in roles if role in records}
    for role, parts in DERIVED.items():
        if role in schema.bloom and all(p in texts for p in parts):
            texts[role] = pd.Series(
                [" ".join(sorted(v)) if all(v) else None
                 for v in zip(*(texts[p] for p in parts), strict=True)],
                index=records.index, dtype=object)
            roles = [*roles, role]
    salt = schema.hardening.get("salt") or {}
    salted = [r for r in salt.get("fields", []) if r in texts and r in schema.bloom]
    salts = _keys(salt["from"], texts) if salted else None
    if salted and salts is None:
        raise EncodingError(f"the schema's hardening salts {', '.join(salted)} with "
                            f"{', '.join(salt['from'])}, which this file does not map: map "
                            "those roles too, or the names would be encoded unsalted, which is "
                            "what the attacks read (docs/privacy.md)")
    for role in roles:
        if role in schema.bloom and role in texts:
            if role in salted:
                out[f"{role}_bf"] = [None if v is None or s is None else filters.encode(role, v, s)
                                     for v, s in zip(texts[role], salts, strict=True)]
            else:
                out[f"{role}_bf"] = [None if v is None else filters.encode(role, v)
                                     for v in texts[role]]
        elif role in schema.exact and role in texts:
            out[f"{role}_hmac"] = [_hmac(exact_key, role, v) for v in texts[role]]
    if salted:
        unsalted = sum(s is None for s in salts)
        if unsalted:
            log.info("%d records have no %s to salt with: their %s are not encoded", unsalted,
                     ", ".join(salt["from"]), ", ".join(salted))
    for name, parts in schema.blocking.items():
        joined = _keys(parts, texts)
        if joined is not None:
            out[f"block_{name}"] = [_hmac(block_key, name, v) for v in joined]
    for role in CLEAR_ROLES:
        if role in records:
            out[role] = records[role]
    return out


def encodable_roles(schema: EncodingSchema) -> set[str]:
    """The roles `joinedup encode` takes: the schema's fields, sex, and a full name it splits."""
    return set(schema.bloom) | set(schema.exact) | set(CLEAR_ROLES) | {"full_name"}


def encode_file(path: Path, id_column: str, roles: dict[str, str], secret: bytes, out: Path,
                schema: EncodingSchema | None = None,
                withhold: tuple[str, ...] = ()) -> EncodingSchema:
    """Encode one file of people (`joinedup link`'s roles) into `out` (Parquet) with its schema
    beside it; returns the schema written. `withhold` names identifying columns that have no
    encoding: they are left out rather than passed through."""
    schema = schema or EncodingSchema.defaults()
    known = encodable_roles(schema)
    unknown = sorted(set(roles) - known)
    if unknown:
        raise EncodingError(f"role(s) {unknown} cannot be encoded; roles are "
                            f"{', '.join(sorted(known))}")
    encoded_as = {c: r for r, c in roles.items() if r not in CLEAR_ROLES}
    if id_column in encoded_as:
        role = encoded_as[id_column]
        raise EncodingError(f"the id column {id_column!r} is also the {role} to be encoded: "
                            "give a record id that identifies no one (a row number or the "
                            "system's own record id), or it would travel in the clear")
    frame = read_table(path)
    records, _unparsed = person_records(path, id_column, roles, [])
    encoded = encode_records(records, [r for r in (*schema.bloom, *schema.exact) if r in records],
                             schema, secret)
    used = {id_column, *roles.values(), *withhold}
    passed = [c for c in frame.columns if c not in used]
    result = pd.concat([frame[[id_column]].reset_index(drop=True),
                        encoded.reset_index(drop=True),
                        frame[passed].reset_index(drop=True)], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.part")
    result.to_parquet(partial, index=False)
    os.replace(partial, out)
    written = replace(schema, key_check=key_check(secret), id_column=id_column,
                      fields=sorted({c.rsplit("_", 1)[0] for c in encoded.columns
                                     if c.endswith(("_bf", "_hmac"))}),
                      records=len(result))
    write_schema(out, written)
    log.info("encoded %d records of %s: %d fields, %d columns passed through, %d withheld",
             len(result), path.name, len(written.fields), len(passed), len(withhold))
    return written
