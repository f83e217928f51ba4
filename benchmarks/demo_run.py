"""Time the demo end to end and measure its linkage against the synthetic truth.

Runs `joinedup demo` in a child process (so its peak memory is measured on its own), then
`joinedup evaluate`, and prints one line of figures per population size, generator profile
(`--profile standard|stress`, repeatable; default every profile) and layout (`--format
statutory|native`, repeatable; default the demo's, statutory):

    .venv/bin/python benchmarks/demo_run.py --children 10000 --children 50000 --format native

Each size gets a fresh home under bench-out/ (git-ignored). Figures are what this machine did
on this run; nothing is asserted.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sources.synth.config import profiles

ROOT = Path(__file__).resolve().parent.parent
JOINEDUP = Path(sys.executable).with_name("joinedup")


def run(children: int, seed: int, out: Path, profile: str, file_format: str) -> dict:
    home = out / f"demo-{file_format}-{profile}-{children}"
    shutil.rmtree(home, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run([str(JOINEDUP), "demo", "--home", str(home), "--children", str(children),
                    "--seed", str(seed), "--profile", profile, "--format", file_format],
                   check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    evaluated = subprocess.run([str(JOINEDUP), "evaluate", "--home", str(home)], check=True,
                               capture_output=True, text=True).stdout
    figures = dict(re.findall(r"(\w+)=([0-9.,]+)", evaluated))
    return {"children": children, "profile": profile, "format": file_format,
            "seconds": round(seconds, 1),
            "peak_rss_mb": round(max(peak_kb, before) / 1024), **figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, action="append",
                        help="population size (repeatable; default 10000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out")
    parser.add_argument("--profile", action="append", choices=profiles(),
                        help="generator profile (repeatable; default: every profile)")
    parser.add_argument("--format", action="append", dest="formats",
                        choices=("statutory", "native"),
                        help="the agencies' layouts (repeatable; default statutory)")
    args = parser.parse_args()
    for file_format in args.formats or ["statutory"]:
        for profile in args.profile or profiles():
            for n in args.children or [10_000]:
                result = run(n, args.seed, args.out, profile, file_format)
                print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
