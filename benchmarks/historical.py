"""Splink's `historical_figures_with_errors_50k` deduplicated by `joinedup link`, no settings.

    .venv/bin/python benchmarks/historical.py [--data FILE.parquet] [--full-name] [--extra COL]
        [--keep DIR]

Why this set: it is generated independently of this project (Wikidata people with injected
errors), most of its duplicates have no date of birth or postcode and another forename, full
names carry titles and ordinals ("thomas clifford, 1st baron clifford of chudleigh"), and many
dates fall before 1677 or are partial - the cases issue 12 items 4 and 5 are about.

The file is given to `joinedup link` with the roles the previous sessions measured with
(`first_name`, `last_name=surname`, `dob`, `postcode=postcode_fake`, `sex=gender`) and, with
--full-name, `full_name=full_name` too (middle names and titles parsed from it), with --extra
further columns compared as they are (`--extra birth_place --extra occupation`). It prints the
wall time of the whole command and pairwise precision, recall and F1 of the clusters against the
`cluster` column (the F1 of pairs of records put in one cluster, as Splink's own evaluation of
this set counts it), then the candidate pairs and how many true pairs blocking proposed.
Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from blocking_recall import rule_pairs

from flows.link_files import RECORDS_TABLE, load_files
from linkage import evaluate_pairs
from linkage.blocking import feature_columns, rule_max_block
from linkage.features import build_features
from linkage.settings import load_settings
from warehouse.db import connect

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "linkage-data" / \
    "historical_figures_with_errors_50k.parquet"
JOINEDUP = Path(sys.executable).with_name("joinedup")
ROLES = ["first_name=first_name", "last_name=surname", "dob=dob", "postcode=postcode_fake",
         "sex=gender"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--full-name", action="store_true",
                        help="also map full_name=full_name")
    parser.add_argument("--extra", action="append", default=[],
                        help="another column to compare (repeatable): birth_place and "
                             "occupation are the further columns Splink's tutorial compares")
    parser.add_argument("--keep", type=Path, help="keep the clusters and pairs here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / "historical.csv"
        frame = pd.read_parquet(args.data)
        frame.to_csv(source, index=False)
        roles = ROLES + (["full_name=full_name"] if args.full_name else [])
        out, pairs = folder / "clusters.csv", folder / "pairs.csv"
        cmd = [str(JOINEDUP), "link", str(source), "--id", "unique_id", "--out", str(out),
               "--quiet"]
        if args.keep:       # the pairs file is for study; Splink's timing writes none either
            cmd += ["--pairs", str(pairs)]
        for role in roles:
            cmd += ["--map", role]
        for extra in args.extra:
            cmd += ["--extra", extra]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)     # CPU: less disturbed by others
        if done.returncode:
            print(done.stdout, done.stderr, sep="\n")
            raise SystemExit(done.returncode)
        predicted = pd.read_csv(out, dtype=str)
        predicted["record_key"] = predicted["record_id"]
        truth = frame.rename(columns={"unique_id": "record_key"})[["record_key", "cluster"]]
        scores = evaluate_pairs(predicted, truth)
        given = (" +full_name" if args.full_name else "") + "".join(f" +{e}" for e in args.extra)
        print(f"historical {scores['records']:,} records{given}"
              f": precision {scores['precision']:.4f} recall {scores['recall']:.4f} "
              f"F1 {scores['f1']:.4f} (tp {scores['tp']:,} fp {scores['fp']:,} "
              f"fn {scores['fn']:,}); {seconds:.1f} s wall, "
              f"{usage.ru_utime + usage.ru_stime:.1f} s CPU")

        blocking(source, roles, frame, Path(tmp))


def blocking(source: Path, roles: list[str], frame: pd.DataFrame, tmp: Path) -> None:
    """Candidate pairs of the default rules and the share of true pairs among them, per rule
    (as benchmarks/blocking_recall.py prints them for the synthetic extracts)."""
    settings = load_settings({})
    con = connect(tmp / "blocking.duckdb", memory_limit="2GB")
    read = load_files(con, [source], "unique_id", dict(r.split("=", 1) for r in roles), [])
    build_features(con, RECORDS_TABLE, read.extras)
    truth = frame.assign(record_key=source.stem + ":" + frame["unique_id"])
    con.register("truth_df", truth[["record_key", "cluster"]])
    con.execute("CREATE TEMP TABLE true_pair AS SELECT a.rid AS rid_l, b.rid AS rid_r "
                "FROM linkage.feature a JOIN truth_df ta ON ta.record_key = a.record_key "
                "JOIN truth_df tb ON tb.cluster = ta.cluster "
                "JOIN linkage.feature b ON b.record_key = tb.record_key AND a.rid < b.rid")
    n_true = con.execute("SELECT count(*) FROM true_pair").fetchall()[0][0]
    con.execute("CREATE TEMP TABLE found (rule VARCHAR, rid_l INTEGER, rid_r INTEGER)")
    con.execute("CREATE TEMP TABLE candidate (rid_l INTEGER, rid_r INTEGER)")
    columns = feature_columns(con)
    made = {r["name"]: rule_pairs(con, r, columns, rule_max_block(r, settings))
            for r in settings["blocking"]["rules"]}
    candidates, found = con.execute(
        "SELECT (SELECT count(*) FROM (SELECT DISTINCT rid_l, rid_r FROM candidate)), "
        "(SELECT count(*) FROM (SELECT DISTINCT rid_l, rid_r FROM found))").fetchall()[0]
    per_rule = dict(con.execute("SELECT rule, count(*) FROM found GROUP BY rule").fetchall())
    con.close()
    print(f"blocking: {candidates:,} candidate pairs; recall {found / n_true:.4f} "
          f"({n_true - found:,} of {n_true:,} true pairs never proposed)")
    for rule, pairs in made.items():
        print(f"  {rule:36} {pairs:>11,} pairs {per_rule.get(rule, 0):>9,} true")


if __name__ == "__main__":
    main()
