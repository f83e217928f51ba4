"""Reviewers' decisions on pairs of records, kept outside the warehouse.

The warehouse file is rebuilt and swapped every night, so anything written into it would be lost
with the next build; decisions live in an append-only JSON-lines file in the home directory
instead (the home's review decisions file, readable by its owner only; flows/home.py says where)
and every run reads them back in.
Appending rather than rewriting means a crash can at worst cut the last line short (it is
skipped), never lose earlier decisions, and the file doubles as the audit trail of who decided
what and when. The latest entry for a pair wins, so a reviewer changes their mind by deciding
again.

Pairs are named by record_key (source + the source system's own person reference), which stays
the same across runs, unlike the warehouse's integer record ids. Notes are the reviewer's own
words: they are stored, exported and never printed by the listing commands.
"""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from sources.common.jsonl import append_jsonl, read_jsonl

MATCH = "match"
NON_MATCH = "non_match"
DECISIONS = (MATCH, NON_MATCH)
COLUMNS = ["record_key_l", "record_key_r", "decision", "note", "by", "decided_at"]
_SPELLINGS = {"match": MATCH, "non_match": NON_MATCH, "non-match": NON_MATCH,
              "nonmatch": NON_MATCH, "no_match": NON_MATCH, "no-match": NON_MATCH}


class DecisionError(ValueError):
    """A decision a person wrote that cannot be used; the message says where and what to do."""


def parse_decision(value: object, where: str) -> str:
    text = str(value).strip().lower() if value is not None else ""
    if text not in _SPELLINGS:
        raise DecisionError(f"{where}: decision {text!r} is neither 'match' nor 'non_match'; "
                            "write one of them (or leave the row's decision empty to skip it)")
    return _SPELLINGS[text]


def ordered_pair(key_a: str, key_b: str, where: str) -> tuple[str, str]:
    """Pairs are stored with the smaller key first, as linkage.pair and linkage.review hold them,
    so that (A, B) and (B, A) are one pair and a later decision replaces an earlier one."""
    a, b = str(key_a).strip(), str(key_b).strip()
    if not a or not b:
        raise DecisionError(f"{where}: both record keys are needed (source:person_ref)")
    if a == b:
        raise DecisionError(f"{where}: a record cannot be paired with itself ({a})")
    return (a, b) if a < b else (b, a)


def append_decisions(path: Path, rows: list[dict]) -> int:
    """Append decisions (record_key_l, record_key_r, decision, note, by); returns how many."""
    if not rows:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    entries = []
    for i, row in enumerate(rows, start=1):
        left, right = ordered_pair(row["record_key_l"], row["record_key_r"], f"decision {i}")
        entries.append({
            "record_key_l": left, "record_key_r": right,
            "decision": parse_decision(row["decision"], f"decision {i}"),
            "note": str(row.get("note") or ""), "by": str(row.get("by") or ""),
            "decided_at": row.get("decided_at") or now,
        })
    append_jsonl(path, entries, "decision-append")
    return len(entries)


def read_decisions(path: Path) -> pd.DataFrame:
    """Every decision ever recorded, oldest first (an empty frame when there is no file); a
    line cut short by a crash is skipped."""
    rows = []
    for number, entry in enumerate(read_jsonl(path), start=1):
        where = f"{path}, decision {number}"
        left, right = ordered_pair(entry.get("record_key_l", ""), entry.get("record_key_r", ""),
                                   where)
        rows.append({"record_key_l": left, "record_key_r": right,
                     "decision": parse_decision(entry.get("decision"), where),
                     "note": entry.get("note") or "", "by": entry.get("by") or "",
                     "decided_at": entry.get("decided_at") or ""})
    return pd.DataFrame(rows, columns=COLUMNS)


def decision_frame(decisions: pd.DataFrame | None) -> pd.DataFrame:
    """The decisions a run applies (record_key_l, record_key_r, decision) from any frame of
    them: each pair ordered (smaller key first), a record paired with itself dropped, the last
    decision given for a pair kept, and every value read by parse_decision."""
    columns = ["record_key_l", "record_key_r", "decision"]
    if decisions is None or len(decisions) == 0:
        return pd.DataFrame(columns=columns, dtype="object")
    missing = set(columns) - set(decisions.columns)
    if missing:
        raise DecisionError(f"decisions need columns {', '.join(columns)}; "
                            f"missing {', '.join(sorted(missing))}")
    frame = decisions[columns].astype(str).copy()
    frame["decision"] = [parse_decision(value, f"decisions, row {number}")
                         for number, value in enumerate(frame["decision"], start=1)]
    left = frame[["record_key_l", "record_key_r"]].min(axis=1)
    right = frame[["record_key_l", "record_key_r"]].max(axis=1)
    frame["record_key_l"], frame["record_key_r"] = left, right
    frame = frame[frame["record_key_l"] != frame["record_key_r"]]
    return frame.drop_duplicates(["record_key_l", "record_key_r"], keep="last")


def latest(decisions: pd.DataFrame) -> pd.DataFrame:
    """One row per pair: the last decision recorded for it."""
    if decisions is None or decisions.empty:
        return pd.DataFrame(columns=COLUMNS)
    out = decisions.drop_duplicates(["record_key_l", "record_key_r"], keep="last")
    return out.sort_values(["record_key_l", "record_key_r"]).reset_index(drop=True)


def load_latest(path: Path) -> pd.DataFrame:
    return latest(read_decisions(path))


def read_decisions_csv(path: Path) -> pd.DataFrame:
    """Decisions from a CSV a reviewer filled in: columns record_key_l, record_key_r (or
    source_l, record_id_l, source_r, record_id_r, as in `joinedup link --pairs`) and decision;
    note and by are optional. Rows with an empty decision are skipped: a reviewer may return a
    queue half done."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DecisionError(f"{path}: cannot be read as CSV ({type(exc).__name__}); save it as "
                            "a comma-separated UTF-8 file") from None
    columns = set(frame.columns)
    by_source = {"source_l", "record_id_l", "source_r", "record_id_r"}
    if {"record_key_l", "record_key_r"} <= columns:
        left, right = frame["record_key_l"], frame["record_key_r"]
    elif by_source <= columns:
        left = frame["source_l"].str.strip() + ":" + frame["record_id_l"].str.strip()
        right = frame["source_r"].str.strip() + ":" + frame["record_id_r"].str.strip()
    else:
        raise DecisionError(f"{path}: needs columns record_key_l and record_key_r (or source_l, "
                            "record_id_l, source_r, record_id_r) and decision")
    if "decision" not in columns:
        raise DecisionError(f"{path}: has no column 'decision'; add one holding match or "
                            "non_match")
    rows = []
    for i in range(len(frame)):
        raw = frame["decision"].iloc[i].strip()
        if not raw:
            continue
        where = f"{path}, row {i + 2}"      # row 1 is the header
        key_l, key_r = ordered_pair(left.iloc[i], right.iloc[i], where)
        rows.append({"record_key_l": key_l, "record_key_r": key_r,
                     "decision": parse_decision(raw, f"{where}, column decision"),
                     "note": frame["note"].iloc[i] if "note" in columns else "",
                     "by": frame["by"].iloc[i] if "by" in columns else ""})
    return pd.DataFrame(rows, columns=COLUMNS[:5])


def write_csv(frame: pd.DataFrame, path: Path) -> int:
    """A CSV for reviewers; readable by its owner only, like everything that names records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    path.chmod(0o600)
    return len(frame)
