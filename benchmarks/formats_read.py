"""Time and peak memory of reading and validating the statutory returns at council scale.

    .venv/bin/python benchmarks/formats_read.py [--children 200000] [--year 2026] [--out DIR]

Writes a synthetic CIN census XML of N children and an SSDA903 CSV set of the same children
(sources.synth.statutory), then reads each as the nightly run does (sources.extract: stream,
flatten, map) and validates it (expectations.validate), each in a fresh process so that its peak
resident memory is its own. Targets (issue 11): each under 60 s and 1 GB. Figures are printed;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(path: Path, year: int) -> None:
    """Read + validate one delivery; prints one line of figures."""
    from expectations.validate import validate_extract
    from sources.column_maps import load_maps
    from sources.extract import read_extract

    start = time.perf_counter()
    extract = read_extract(path, "social_care", load_maps(), path.name)
    read_s = time.perf_counter() - start
    result = validate_extract(extract.mapped, date(year, 4, 10),
                              f"social_care.{extract.cmap.name}")
    total = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{path.name}: {extract.rows_in:,} event rows, {len(result.quarantined_rows):,} "
          f"quarantined; read {read_s:.1f} s, read + validate {total:.1f} s, "
          f"peak RSS {peak_mb:,.0f} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=200_000)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "formats")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.year)
        return
    from sources.synth.statutory import write_cin_census, write_ssda903_set

    args.out.mkdir(parents=True, exist_ok=True)
    cin = args.out / f"cin_census_{args.year}_{args.children}.xml"
    ssda = args.out / f"ssda903_{args.year}_{args.children}"
    start = time.perf_counter()
    write_cin_census(cin, args.children, args.year)
    write_ssda903_set(ssda, args.children, args.year)
    size = cin.stat().st_size + sum(p.stat().st_size for p in ssda.iterdir())
    print(f"wrote {args.children:,} children as CIN census XML and an SSDA903 set "
          f"({size / 2**20:,.0f} MB) in {time.perf_counter() - start:.1f} s", flush=True)
    for path in (cin, ssda):
        subprocess.run([sys.executable, __file__, "--measure", str(path), "--year",
                        str(args.year)], check=True)


if __name__ == "__main__":
    main()
