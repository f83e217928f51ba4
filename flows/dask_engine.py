"""Linkage's pair stages on a Dask cluster, each partition a Prefect task run by prefect-dask's
DaskTaskRunner, so a regional or national linkage is one more flow in the same Prefect UI.

Without a scheduler address a LocalCluster is started for the linkage and closed after it: the
same code path as a cluster of many machines, on one. The work folder must be one path that
every worker can read and write (a shared filesystem when the workers are on other machines);
it holds the records' linkage features, so it lives in the pipeline's private zone and is
removed when the linkage ends (docs/scale.md).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flows.settings import EngineSettings
from linkage.partitioned import Mapper, PartitionedPairs, Worker

log = logging.getLogger("joinedup")
WORK_PREFIX = "joinedup-partitions-"     # a linkage's work folder, removed when it ends


def _prefect_map(address: str) -> Mapper:
    """A mapper running each call's tasks as one Prefect flow on the Dask cluster at `address`."""
    from prefect import flow, task
    from prefect_dask import DaskTaskRunner

    @task(name="linkage-partition", retries=2, retry_delay_seconds=1)
    def partition(fn: Callable, args: tuple):
        return fn(*args)

    def mapped(fn: Callable, arguments: list[tuple]) -> list:
        @flow(name=f"linkage-{fn.__name__.removesuffix('_task')}",
              task_runner=DaskTaskRunner(address=address), log_prints=False)
        def stage() -> list:
            futures = [partition.submit(fn, args) for args in arguments]
            return [future.result() for future in futures]

        return stage()

    return mapped


@contextmanager
def pair_engine(settings: EngineSettings, private_dir: Path | None = None
                ) -> Iterator[PartitionedPairs | None]:
    """The pair engine the settings name: None (run_linkage's own, in process) or Dask's."""
    if settings.kind == "duckdb":
        yield None
        return
    with dask_pairs(settings, private_dir) as engine:
        yield engine


@contextmanager
def dask_pairs(settings: EngineSettings, private_dir: Path | None = None
               ) -> Iterator[PartitionedPairs]:
    """The partitioned pair engine on the configured cluster (a LocalCluster when no scheduler
    is given), its work folder made private and removed on exit."""
    from distributed import LocalCluster

    cluster = None
    address = settings.scheduler
    if address is None:
        cluster = LocalCluster(n_workers=int(settings.workers), env=_worker_environment(),
                               threads_per_worker=int(settings.threads_per_worker),
                               memory_limit=settings.memory_limit, processes=True,
                               dashboard_address=None)
        address = cluster.scheduler_address
    parent = Path(settings.work_dir) if settings.work_dir else private_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=parent))
    threads = int(settings.threads_per_worker)
    partitions = settings.partitions or 4 * int(settings.workers) * threads
    worker = Worker(memory_limit=_share(settings.memory_limit, threads), threads=1)
    log.info("linkage on Dask at %s: %d partitions", address, partitions)
    try:
        yield PartitionedPairs(_prefect_map(address), work, partitions, worker)
    finally:
        if cluster is not None:
            cluster.close()


def _worker_environment() -> dict[str, str]:
    """The local workers' Prefect settings: this process's API, and quiet task logs. Without
    PREFECT_API_URL each worker process would start a temporary Prefect server of its own and
    record its task runs there, so the temporary server this process uses (a singleton) is
    started first and named to them."""
    from prefect.settings import PREFECT_API_URL, PREFECT_LOGGING_LEVEL

    url = PREFECT_API_URL.value()
    if not url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        url = server.api_url
    level = os.environ.get("PREFECT_LOGGING_LEVEL") or "WARNING"
    return {"PREFECT_API_URL": url, PREFECT_LOGGING_LEVEL.name: level}


def _share(limit: str, threads: int) -> str:
    """A task's DuckDB memory limit: its worker's, shared by the tasks running at once, less a
    margin for the worker itself (Dask pauses a worker at 80% of its limit)."""
    from dask.utils import format_bytes, parse_bytes

    return format_bytes(int(parse_bytes(limit) * 0.6 / threads)).replace(" ", "")
