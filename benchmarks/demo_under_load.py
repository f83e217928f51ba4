"""`joinedup demo` run after run while busy loops hold the machine's cores: every run must succeed.

A nightly job that fails because the machine is busy fails on the nights that matter. Each run
is a fresh home and a fresh process (so each starts Prefect's temporary server, the step that
timed out under load), with `--busy` processes spinning on the CPU meanwhile. Prints each run's
outcome and wall time, then how many of them succeeded.

    .venv/bin/python benchmarks/demo_under_load.py --runs 10 --busy 4 --children 2000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JOINEDUP = Path(sys.executable).with_name("joinedup")
SPIN = "while True: pass"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--busy", type=int, default=4, help="busy-loop processes")
    parser.add_argument("--children", type=int, default=2000)
    args = parser.parse_args()
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.busy)]
    ok = 0
    try:
        for n in range(1, args.runs + 1):
            with tempfile.TemporaryDirectory(prefix="demo-under-load-") as tmp:
                started = time.perf_counter()
                done = subprocess.run([str(JOINEDUP), "demo", "--home", f"{tmp}/home",
                                       "--children", str(args.children)], cwd=ROOT,
                                      capture_output=True, text=True)
                seconds = time.perf_counter() - started
            ok += done.returncode == 0
            last = (done.stderr.strip().splitlines() or [""])[-1][:160]
            print(f"run {n:2d}: {'ok    ' if done.returncode == 0 else 'FAILED'} "
                  f"exit {done.returncode} in {seconds:5.1f} s"
                  + ("" if done.returncode == 0 else f"  {last}"), flush=True)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    print(f"{ok} of {args.runs} demo runs succeeded with {args.busy} busy loops on the machine")


if __name__ == "__main__":
    main()
