"""An incremental run against a full relink of the same records, after a night's changes.

    .venv/bin/python benchmarks/incremental_link.py --children 1000000 --changed 0.01

The four extracts' person records (as benchmarks/linkage_vs_splink.py makes them) are linked in
full and published as a DuckDB file. Then a share of the records changes (half of the share: a
forename mistyped or a house move; the other half: new records, each a child already known seen
by one more agency), and the changed records are linked twice: incrementally against the first
publication, and in full. Printed: each run's linkage seconds, the pairs it compared, pairwise
F1 of the incremental people against the full relink's, and the share of unchanged records
whose person id the incremental run kept. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linkage_vs_splink import synthetic_inputs  # noqa: E402

from flows.cli_options import parse_roles  # noqa: E402
from flows.link_files import RECORDS_TABLE, load_files  # noqa: E402
from linkage import evaluate_pairs, run_linkage  # noqa: E402
from linkage.incremental import IncrementalPairs, settings_fingerprint, write_state  # noqa: E402
from warehouse.db import connect  # noqa: E402


def changed_files(paths: list[Path], share: float, folder: Path, seed: int = 7) -> list[Path]:
    rng = np.random.default_rng(seed)
    out = []
    for path in paths:
        frame = pd.read_csv(path, dtype=str)
        n = int(len(frame) * share / 2)
        edit = rng.choice(len(frame), size=2 * n, replace=False)
        typo, moved = edit[:n], edit[n:]
        frame.loc[frame.index[typo], "first_name"] = frame["first_name"].iloc[typo].str[:-1] + "Q"
        frame.loc[frame.index[moved], "postcode"] = "ZX99 9ZZ"
        new = frame.iloc[rng.choice(len(frame), size=n, replace=False)].copy()
        new["record_id"] = "new-" + new["record_id"].astype(str)
        target = folder / path.name
        pd.concat([frame, new]).to_csv(target, index=False)
        out.append(target)
    return out


def link(paths, roles, target: Path, previous: Path | None = None, ids=None) -> dict:
    target.unlink(missing_ok=True)              # kept (--keep) from an earlier run
    con = connect(target, memory_limit="8GB")
    load_files(con, paths, "record_id", parse_roles(roles), [])
    engine = None
    if previous is not None:
        con.execute(f"ATTACH '{previous}' AS previous (READ_ONLY)")
        engine = IncrementalPairs("previous")
    start = time.perf_counter()
    summary = run_linkage(con, source_table=RECORDS_TABLE, previous_ids=ids, engine=engine)
    seconds = time.perf_counter() - start
    write_state(con, settings_fingerprint(None), date.today(),
                "incremental" if engine else "full")
    people = con.execute("SELECT record_key, person_id FROM linkage.person").df()
    con.close()
    return {"seconds": seconds, "pairs": summary["candidate_pairs"], "people": people,
            "changed": getattr(engine, "changed", None), "stages": summary["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        paths, roles, _extras, _meta = synthetic_inputs(args.children, folder / "inputs")
        first = link(paths, roles, folder / "first.duckdb")
        (folder / "after").mkdir(parents=True, exist_ok=True)
        after = changed_files(paths, args.changed, folder / "after")
        inc = link(after, roles, folder / "incremental.duckdb", folder / "first.duckdb",
                   first["people"])
        full = link(after, roles, folder / "full.duckdb", ids=first["people"])
        agreement = evaluate_pairs(inc["people"],
                                   full["people"].rename(columns={"person_id": "cluster"}))
        kept = first["people"].merge(inc["people"], on="record_key")
        print("run records_changed seconds candidate_pairs stage_seconds")
        for name, run in (("first-full", first), ("incremental", inc), ("full-relink", full)):
            stages = " ".join(f"{k}={v:.1f}" for k, v in run["stages"].items() if k != "total")
            print(f"{name} {run['changed'] or '-'} {run['seconds']:.1f} {run['pairs']} {stages}")
        print(f"incremental/full time: {inc['seconds'] / full['seconds']:.3f}; pairwise F1 of "
              f"incremental against full: {agreement['f1']:.5f}; records keeping their person "
              f"id: {(kept['person_id_x'] == kept['person_id_y']).mean():.5f} of {len(kept)}")


if __name__ == "__main__":
    main()
