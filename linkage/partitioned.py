"""The pair stages cut into partitions that can run anywhere: each partition is blocked, compared
and scored in its own DuckDB, reading and writing Parquet in a work folder every worker sees.

Why these cuts. A blocking rule pairs records that share its key value, so partitioning a rule's
keys by the hash of the value sends every block, whole, to one partition: block sizes (and so
the placeholder guard, `max_block_size`) stay exact and each pair of the rule is made once. A
pair found by several rules is then sent by the hash of its two record ids to one comparison
partition, where the rules' copies meet and the first rule names it, as the single-process
union does. The model is fitted once, by the driver, on the same seeded hash sample of
comparison vectors as the single-process engine reads (linkage.model.em_sample), so the two
engines fit the same model and make the same people. Scoring, and the pairs inside each linked
component that the clustering guard reads, are partitioned by pair as comparison is.

Every task writes under a temporary name and renames, so a task that runs twice (its worker
lost mid-task and the task retried elsewhere) leaves one whole copy. Tasks take and return only
plain values and paths; the caller maps them over the partitions, in this process or on a Dask
cluster through Prefect (flows.dask_engine).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from linkage.blocking import each_rule_keys, pairs_from_keys_sql
from linkage.clustering import components
from linkage.comparisons import gamma_table_sql, parse_comparisons
from linkage.context import LinkageRun
from linkage.engine import InProcessPairs
from linkage.review import decided_pairs
from linkage.scoring import score_sql

log = logging.getLogger("linkage")

# map(task, [args, ...]) -> [result, ...], in the order of the arguments
Mapper = Callable[[Callable, list[tuple]], list]


def serial_map(task: Callable, arguments: list[tuple]) -> list:
    return [task(*args) for args in arguments]


@dataclass(frozen=True)
class Worker:
    """What each task's DuckDB may use: a worker runs one task per thread Dask gives it, so a
    task's memory is the worker's limit shared by its threads."""

    memory_limit: str | None = None
    threads: int = 1


@dataclass(frozen=True)
class WorkFolder:
    root: Path

    @property
    def features(self) -> Path:
        return self.root / "features.parquet"

    @property
    def model(self) -> Path:
        return self.root / "model.parquet"

    @property
    def labels(self) -> Path:
        return self.root / "labels.parquet"

    def block_pairs(self, part: int) -> Path:
        return self.root / "pairs" / f"part-{part}"

    def pair_files(self, q: int) -> list[Path]:
        return sorted((self.root / "pairs").glob(f"part-*/rule*/q={q}/*.parquet"))

    def stage(self, name: str, q: int) -> Path:
        return self.root / name / f"part-{q}.parquet"

    def glob(self, name: str) -> str:
        return _sql_path(self.root / name) + "/part-*.parquet"


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def _open(folder: WorkFolder, worker: Worker, features: bool = True) -> duckdb.DuckDBPyConnection:
    config = {"threads": int(worker.threads), "temp_directory": str(folder.root / "spill")}
    if worker.memory_limit:
        config["memory_limit"] = worker.memory_limit
    con = duckdb.connect(config=config)
    if features:
        con.execute("CREATE SCHEMA linkage")
        con.execute("CREATE VIEW linkage.feature AS SELECT * FROM "
                    f"read_parquet('{_sql_path(folder.features)}')")
    return con


def _copy_atomic(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    con.execute(f"COPY ({query}) TO '{_sql_path(partial)}' (FORMAT parquet)")
    os.replace(partial, target)


# --- tasks: each runs on a worker -------------------------------------------------------------

def block_task(root: str, settings: dict, worker: Worker, parts: int, part: int) -> int:
    """The pairs of every rule in one key partition, split by pair hash into the comparison
    partitions; returns the number of over-size blocks skipped."""
    folder = WorkFolder(Path(root))
    target = folder.block_pairs(part)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    partial.mkdir(parents=True)
    oversized = 0
    with _open(folder, worker) as con:
        for rule_no, names, max_block, skipped in each_rule_keys(con, settings, (part, parts)):
            con.execute(
                "CREATE OR REPLACE TEMP TABLE rule_pairs AS SELECT DISTINCT a.rid AS rid_l, "
                "b.rid AS rid_r, $rule_no::SMALLINT AS rule_no, hash(a.rid, b.rid) % $parts AS q "
                + pairs_from_keys_sql("linkage_block_keys", names),
                {"rule_no": rule_no, "parts": int(parts), "max_block": max_block})
            con.execute(f"COPY rule_pairs TO '{_sql_path(partial / f'rule{rule_no}')}' "
                        "(FORMAT parquet, PARTITION_BY (q))")
            oversized += skipped
    if target.exists():                # an earlier attempt of this task finished
        shutil.rmtree(target)
    os.replace(partial, target)
    return int(oversized)


def compare_task(root: str, settings: dict, worker: Worker, q: int) -> dict[int, int]:
    """Comparison vectors of one pair partition (each pair once, named by its first rule);
    returns the pairs first found by each rule."""
    folder = WorkFolder(Path(root))
    files = folder.pair_files(q)
    with _open(folder, worker) as con:
        if files:
            listed = ", ".join(f"'{_sql_path(f)}'" for f in files)
            con.execute("CREATE TEMP TABLE candidate AS SELECT rid_l, rid_r, "
                        f"min(rule_no)::SMALLINT AS rule_no FROM read_parquet([{listed}]) "
                        "GROUP BY rid_l, rid_r")
        else:
            con.execute("CREATE TEMP TABLE candidate "
                        "(rid_l INTEGER, rid_r INTEGER, rule_no SMALLINT)")
        con.execute(gamma_table_sql(settings, "candidate", "gamma"))
        _copy_atomic(con, "SELECT * FROM gamma", folder.stage("gamma", q))
        return dict(con.execute("SELECT rule_no, count(*) FROM candidate GROUP BY 1").fetchall())


def score_task(root: str, settings: dict, worker: Worker, prior_weight: float, q: int) -> None:
    folder = WorkFolder(Path(root))
    with _open(folder, worker, features=False) as con:
        con.execute("CREATE SCHEMA linkage")
        con.execute("CREATE TABLE linkage.model AS SELECT * FROM "
                    f"read_parquet('{_sql_path(folder.model)}')")
        con.execute("CREATE VIEW gamma AS SELECT * FROM "
                    f"read_parquet('{_sql_path(folder.stage('gamma', q))}')")
        con.execute(score_sql(settings, parse_comparisons(settings), "gamma", "scored",
                              prior_weight))
        _copy_atomic(con, "SELECT * FROM scored", folder.stage("scored", q))


def within_task(root: str, worker: Worker, q: int) -> None:
    """The scored pairs of one partition whose records are in one linked component."""
    folder = WorkFolder(Path(root))
    with _open(folder, worker, features=False) as con:
        labels = _sql_path(folder.labels)
        _copy_atomic(
            con,
            f"SELECT s.* FROM read_parquet('{_sql_path(folder.stage('scored', q))}') s "
            f"JOIN read_parquet('{labels}') a ON a.rid = s.rid_l "
            f"JOIN read_parquet('{labels}') b ON b.rid = s.rid_r WHERE a.comp = b.comp",
            folder.stage("within", q))


# --- the driver --------------------------------------------------------------------------------

class PartitionedPairs(InProcessPairs):
    """The pair stages of run_linkage on partitions mapped by `mapper`: the driver's DuckDB
    holds the features, the model and the pairs that can matter (linkage_scored), never all
    candidate pairs (those stay in the work folder, read through views)."""

    all_scored = "linkage_scored_all"

    def __init__(self, mapper: Mapper, root: Path, partitions: int, worker: Worker) -> None:
        self.map = mapper
        self.folder = WorkFolder(Path(root))
        self.parts = max(1, int(partitions))
        self.worker = worker

    def _args(self, *fixed) -> list[tuple]:
        return [(str(self.folder.root), *fixed, q) for q in range(self.parts)]

    def candidates(self, run: LinkageRun) -> dict:
        self.folder.root.mkdir(parents=True, exist_ok=True)
        run.con.execute(f"COPY linkage.feature TO '{_sql_path(self.folder.features)}' "
                        "(FORMAT parquet)")
        rules = run.settings["blocking"]["rules"]
        oversized = sum(self.map(block_task, self._args(run.settings, self.worker, self.parts)))
        by_rule: dict[int, int] = {}
        for counts in self.map(compare_task, self._args(run.settings, self.worker)):
            for rule_no, n in counts.items():
                by_rule[int(rule_no)] = by_rule.get(int(rule_no), 0) + int(n)
        log.info("linkage: %d partitions blocked and compared", self.parts)
        return {
            "candidate_pairs": sum(by_rule.values()),
            "pairs_first_found_by_rule": {rule["name"]: by_rule.get(i, 0)
                                          for i, rule in enumerate(rules)},
            "oversized_blocks_skipped": int(oversized),
        }

    def compare(self, run: LinkageRun) -> None:
        run.con.execute("CREATE OR REPLACE TEMP VIEW linkage_gamma AS SELECT * FROM "
                        f"read_parquet('{self.folder.glob('gamma')}')")

    def score(self, run: LinkageRun, decisions: pd.DataFrame | None) -> None:
        con, settings = run.con, run.settings
        con.execute(f"COPY linkage.model TO '{_sql_path(self.folder.model)}' (FORMAT parquet)")
        self.map(score_task, self._args(settings, self.worker, run.model.prior_weight()))
        con.execute("DROP VIEW linkage_gamma")
        scored_files = f"read_parquet('{self.folder.glob('scored')}')"
        floor = min(float(settings["pairs"]["keep_min_probability"]),
                    float(settings["review"]["low"]),
                    float(settings["review"]["include_vetoed_above"]))
        decided = decided_pairs(con, decisions)
        con.register("linkage_decided_pairs_df", decided)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE linkage_scored AS SELECT * FROM {scored_files} s "
            "WHERE greatest(s.match_probability, coalesce(s.model_probability, 0)) >= $floor "
            "OR EXISTS (SELECT 1 FROM linkage_decided_pairs_df d "
            "WHERE d.rid_l = s.rid_l AND d.rid_r = s.rid_r)", {"floor": floor})
        con.unregister("linkage_decided_pairs_df")
        # every candidate as it stands: the gathered pairs as the later stages change them
        # (reviewers' decisions), the rest as scored
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {self.all_scored} AS SELECT * FROM linkage_scored "
            f"UNION ALL BY NAME SELECT a.* FROM {scored_files} a ANTI JOIN linkage_scored s "
            "ON s.rid_l = a.rid_l AND s.rid_r = a.rid_r")

    def complete_components(self, run: LinkageRun, scored_table: str, n_records: int) -> int:
        """Add to `scored_table` the candidate pairs inside each component its edges make, so
        the clustering guard reads every pair it would read in one process."""
        con = run.con
        if n_records == 0:
            return 0
        edges = con.execute(
            f"SELECT rid_l, rid_r FROM {scored_table} WHERE match_probability >= $t",
            {"t": float(run.settings["clustering"]["threshold"])}).fetchnumpy()
        labels = components(n_records, edges["rid_l"].astype(np.int64),
                            edges["rid_r"].astype(np.int64))
        multi = np.flatnonzero(np.bincount(labels)[labels] >= 2)
        if len(multi) == 0:
            return 0
        pd.DataFrame({"rid": multi.astype(np.int32), "comp": labels[multi].astype(np.int64)}
                     ).to_parquet(self.folder.labels, index=False)
        self.map(within_task, self._args(self.worker))
        before = con.execute(f"SELECT count(*) FROM {scored_table}").fetchall()[0][0]
        con.execute(
            f"INSERT INTO {scored_table} BY NAME SELECT w.* FROM "
            f"read_parquet('{self.folder.glob('within')}') w ANTI JOIN {scored_table} s "
            "ON s.rid_l = w.rid_l AND s.rid_r = w.rid_r")
        return con.execute(f"SELECT count(*) FROM {scored_table}").fetchall()[0][0] - before

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"DROP VIEW IF EXISTS {self.all_scored}")
        con.execute("DROP VIEW IF EXISTS linkage_gamma")
        shutil.rmtree(self.folder.root, ignore_errors=True)
