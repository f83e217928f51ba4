"""The Dask engine against the single-process engine on the same synthetic extracts.

    .venv/bin/python benchmarks/distributed_scale.py --children 100000 --workers 1 --workers 2

For each size the four extracts' person records (as benchmarks/linkage_vs_splink.py makes them)
are linked by `joinedup link` in one process, then with `--engine dask` on a local cluster of
each worker count. Printed per run: wall seconds, the driver's peak resident memory and the
largest worker's (sampled every 0.2 s from the process tree, so a short peak can be missed),
pairwise precision / recall / F1 against the generator's truth, and how far the F1 lies from
the single-process engine's. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linkage_vs_splink import BIN, score, synthetic_inputs  # noqa: E402


class TreeMemory:
    """Peak RSS of a command's own process and of its largest Dask worker process."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.root = psutil.Process(process.pid)
        self.driver = 0
        self.worker = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.is_set():
            try:
                self.driver = max(self.driver, self.root.memory_info().rss)
                for child in self.root.children(recursive=True):
                    cmdline = " ".join(child.cmdline())
                    if "multiprocessing" in cmdline and "uvicorn" not in cmdline:
                        self.worker = max(self.worker, child.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.2)

    def stop(self) -> tuple[int, int]:
        self.done.set()
        self.thread.join()
        return self.driver >> 20, self.worker >> 20


def link(paths, roles, meta, out: Path, *engine: str) -> dict:
    cmd = [str(BIN / "joinedup"), "link", *map(str, paths), "--id", meta["id"], "--out",
           str(out), "--quiet", *engine]
    for role in roles:
        cmd += ["--map", role]
    start = time.perf_counter()
    with out.with_suffix(".log").open("w") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        memory = TreeMemory(process)
        code = process.wait()
    seconds = time.perf_counter() - start
    driver_mb, worker_mb = memory.stop()
    return {"ok": code == 0, "seconds": seconds, "driver_mb": driver_mb, "worker_mb": worker_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, action="append", help="repeatable")
    parser.add_argument("--workers", type=int, action="append", help="repeatable")
    parser.add_argument("--worker-memory", default="4GB")
    parser.add_argument("--keep", type=Path, help="keep the inputs and outputs here")
    args = parser.parse_args()
    print("children records engine workers seconds driver_MB worker_MB precision recall F1 "
          "F1_minus_single", flush=True)
    for children in args.children or [100_000]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = args.keep / f"synthetic-{children}" if args.keep else Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            paths, roles, _extras, meta = synthetic_inputs(children, folder)
            runs = [("duckdb", 0, [])] + [
                ("dask", w, ["--engine", "dask", "--workers", str(w), "--worker-memory",
                             args.worker_memory]) for w in (args.workers or [1, 2])]
            single_f1 = None
            for engine, workers, options in runs:
                out = folder / f"clusters-{engine}-{workers}.csv"
                timing = link(paths, roles, meta, out, *options)
                figures = score(out, meta) if timing["ok"] else {}
                f1 = figures.get("f1", float("nan"))
                single_f1 = f1 if engine == "duckdb" else single_f1
                print(f"{children} {figures.get('records', '-')} {engine} {workers or '-'} "
                      f"{timing['seconds']:.1f} {timing['driver_mb']} "
                      f"{timing['worker_mb'] if workers else '-'} "
                      f"{figures.get('precision', float('nan')):.4f} "
                      f"{figures.get('recall', float('nan')):.4f} {f1:.4f} "
                      f"{f1 - single_f1:+.4f}" + ("" if timing["ok"] else " FAILED"),
                      flush=True)


if __name__ == "__main__":
    main()
