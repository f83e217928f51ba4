"""Time and peak memory of reading and validating the statutory returns at council scale.

    .venv/bin/python benchmarks/formats_read.py [--children N] [--year Y] [--out DIR] [--reuse]

Writes a synthetic CIN census XML of N children and an SSDA903 CSV set of the same children
(sources.synth.statutory), then reads each as the nightly run does (stream, flatten, map) and
validates it (expectations.validate), each in a fresh process so that its peak resident memory
is its own, printing each stage's wall and CPU time (on a shared machine the wall time is
inflated by the others' load; the CPU time much less) and the peak memory reached by its end.
Targets (issue 11): each under 60 s and 1 GB. Figures are printed; nothing is asserted.
`--reuse` measures the files a previous run wrote.
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


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: Path, year: int) -> None:
    """Read + validate one delivery as the nightly run does (sources.extract.read_extract's
    steps, taken one at a time so each stage's time and the peak resident memory reached by its
    end are printed); then one line of totals."""
    from expectations.validate import validate_extract
    from sources.column_maps import load_maps
    from sources.mapping import apply_map
    from sources.statutory.formats import open_statutory

    maps = load_maps()
    start, cpu_start = time.perf_counter(), time.process_time()
    stages = []
    cpu = [cpu_start]

    def done(name: str, since: float) -> float:
        now, used = time.perf_counter(), time.process_time()
        stages.append(f"{name} {now - since:.1f} s, CPU {used - cpu[-1]:.1f} s "
                      f"(peak {_peak_mb():,.0f} MB)")
        cpu.append(used)
        return now

    source = open_statutory(path, path.name)
    source.peek()
    raw = source.read(1)
    at = done("read", start)
    mapped = apply_map(raw, maps[source.map_name], path.name)   # raw is kept, as the run
                                                                # keeps it for the quarantine
    at = done("map", at)
    result = validate_extract(mapped, date(year, 4, 10), f"social_care.{source.map_name}")
    done("validate", at)
    total = time.perf_counter() - start
    print(f"{path.name}: {mapped.rows_in:,} event rows, {len(result.quarantined_rows):,} "
          f"quarantined; read + validate {total:.1f} s (CPU {cpu[-1] - cpu_start:.1f} s), "
          f"peak RSS {_peak_mb():,.0f} MB", flush=True)
    print("  stages: " + "; ".join(stages), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=200_000)
    parser.add_argument("--year", type=int, default=2026)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "formats")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true",
                        help="measure the files already in --out instead of writing them again")
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.year)
        return
    from sources.synth.statutory import write_cin_census, write_ssda903_set

    args.out.mkdir(parents=True, exist_ok=True)
    cin = args.out / f"cin_census_{args.year}_{args.children}.xml"
    ssda = args.out / f"ssda903_{args.year}_{args.children}"
    start = time.perf_counter()
    if not (args.reuse and cin.exists() and ssda.exists()):
        write_cin_census(cin, args.children, args.year)
        write_ssda903_set(ssda, args.children, args.year)
    size = cin.stat().st_size + sum(p.stat().st_size for p in ssda.iterdir())
    print(f"{args.children:,} children as CIN census XML and an SSDA903 set "
          f"({size / 2**20:,.0f} MB), ready in {time.perf_counter() - start:.1f} s", flush=True)
    for path in (cin, ssda):
        subprocess.run([sys.executable, __file__, "--measure", str(path), "--year",
                        str(args.year)], check=True)


if __name__ == "__main__":
    main()
