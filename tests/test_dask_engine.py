"""The partitioned pair engine (linkage.partitioned) and its Dask cluster (flows.dask_engine):
it must make the same people as the single-process engine, in process and on real Dask
workers through Prefect, and survive a worker killed mid-run.

All people, addresses and identifiers here are invented (tests/builders/linkage_records.py).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from linkage import run_linkage
from linkage.partitioned import PartitionedPairs, Worker, serial_map
from tests.builders.linkage_records import DUPLICATES, TWINS, background, load_staging
from warehouse.db import connect
from warehouse.schema import create_schema

RECORDS = background(600, seed=5) + TWINS + DUPLICATES
# a reviewer splits one duplicate pair and joins one twin pair: decided pairs must reach the
# gathered pairs whatever they scored
DECISIONS = pd.DataFrame({"record_key_l": ["health:D1", "health:T5"],
                          "record_key_r": ["social:D1", "health:T6"],
                          "decision": ["non_match", "match"]})


def _linked(engine=None) -> dict:
    con = connect()
    create_schema(con)
    load_staging(con, RECORDS)
    summary = run_linkage(con, decisions=DECISIONS, engine=engine)
    out = {name: con.execute(f"SELECT * FROM linkage.{name} ORDER BY ALL").df()
           for name in ("person", "pair", "model", "review")}
    con.close()
    return {"summary": summary, **out}


@pytest.fixture(scope="module")
def one_process() -> dict:
    return _linked()


def _assert_same_linkage(got: dict, want: dict) -> None:
    for table in ("person", "pair", "model", "review"):
        pd.testing.assert_frame_equal(got[table], want[table], check_exact=False, rtol=1e-9,
                                      obj=f"linkage.{table}")
    for key in ("candidate_pairs", "pairs_first_found_by_rule", "oversized_blocks_skipped",
                "clusters", "merges_refused", "vetoed_pairs", "deterministic_pairs"):
        assert got["summary"][key] == want["summary"][key], key


def test_partitions_make_the_same_people_pairs_and_model_as_one_process(one_process, tmp_path):
    work = tmp_path / "partitions"
    engine = PartitionedPairs(serial_map, work, partitions=3, worker=Worker())
    got = _linked(engine)
    _assert_same_linkage(got, one_process)
    assert one_process["summary"]["candidate_pairs"] > 200       # blocking had work to split
    assert not work.exists()                                     # the features do not linger


def _csv(tmp_path: Path) -> Path:
    frame = pd.DataFrame(RECORDS)[["record_key", "first_name", "middle_names", "last_name",
                                   "dob", "sex", "postcode", "address"]]
    path = tmp_path / "children.csv"
    frame.to_csv(path, index=False)
    return path


ROLES = ["--map", "first_name=first_name", "--map", "middle_names=middle_names", "--map",
         "last_name=last_name", "--map", "dob=dob", "--map", "sex=sex", "--map",
         "postcode=postcode", "--map", "address=address"]


def _link(path: Path, out: Path, *more: str) -> pd.DataFrame:
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, ["link", str(path), "--id", "record_key", *ROLES,
                                      "--out", str(out), "--quiet", *more])
    assert result.exit_code == 0, result.output
    return pd.read_csv(out).sort_values("record_id").reset_index(drop=True)


def _same_partition(a: pd.DataFrame, b: pd.DataFrame) -> None:
    merged = a.merge(b, on=["source", "record_id"], validate="one_to_one")
    assert len(merged) == len(a) == len(b)
    assert merged.groupby("person_id_x")["person_id_y"].nunique().max() == 1
    assert merged.groupby("person_id_y")["person_id_x"].nunique().max() == 1


def test_link_on_a_local_dask_cluster_makes_the_same_people(prefect_harness, tmp_path):
    path = _csv(tmp_path)
    alone = _link(path, tmp_path / "one.csv")
    on_dask = _link(path, tmp_path / "dask.csv", "--engine", "dask", "--workers", "2",
                    "--worker-memory", "1GB")
    _same_partition(alone, on_dask)
    assert alone["person_id"].nunique() < len(alone)             # some records did link


def test_a_worker_killed_mid_run_is_replaced_and_the_people_are_the_same(prefect_harness,
                                                                          tmp_path):
    """The test owns the cluster, kills one worker's process as soon as the first partition's
    pairs are on disk, and the run (its tasks retried on the other worker or the restarted
    one) completes with the same clusters."""
    from distributed import Client, LocalCluster
    from prefect.settings import PREFECT_API_URL

    path = _csv(tmp_path)
    alone = _link(path, tmp_path / "one.csv")
    work = tmp_path / "shared"
    killed: list[int] = []
    with (LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GB",
                       dashboard_address=None, env={"PREFECT_API_URL": PREFECT_API_URL.value(),
                                                    "PREFECT_LOGGING_LEVEL": "WARNING"}
                       ) as cluster,
          Client(cluster) as client):
        pids = client.run(os.getpid)

        def kill_when_pairs_appear() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if any(work.glob("*/pairs/part-*")):
                    victim = sorted(pids.values())[0]
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                    return
                time.sleep(0.01)

        watcher = threading.Thread(target=kill_when_pairs_appear, daemon=True)
        watcher.start()
        from typer.testing import CliRunner

        from flows.cli import app
        result = CliRunner().invoke(app, [
            "link", str(path), "--id", "record_key", *ROLES, "--out", str(tmp_path / "k.csv"),
            "--quiet", "--engine", "dask", "--scheduler", cluster.scheduler_address,
            "--work-dir", str(work)])
        watcher.join(timeout=5)
        assert result.exit_code == 0, result.output
        after = client.run(os.getpid)
    assert killed, "no worker was killed: the pairs never appeared"
    assert killed[0] not in after.values()                        # that process is gone
    on_dask = pd.read_csv(tmp_path / "k.csv").sort_values("record_id").reset_index(drop=True)
    _same_partition(alone, on_dask)


def test_a_killed_runs_partition_folder_is_removed_by_the_next_run(tmp_path):
    from flows.dask_engine import WORK_PREFIX
    from flows.home import Home
    from flows.steps import remove_partition_folders

    home = Home(tmp_path / "home")
    left = home.work_dir / f"{WORK_PREFIX}abc123"
    (left / "pairs").mkdir(parents=True)
    (left / "features.parquet").write_bytes(b"PAR1")
    other = home.work_dir / "return-scratch.duckdb"
    other.write_bytes(b"")
    assert remove_partition_folders(home) == [left]
    assert not left.exists() and other.exists()
