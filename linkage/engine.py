"""Where run_linkage's pair stages run: in its own DuckDB (the default), or in partitions mapped
over workers (linkage.partitioned). Everything before (features) and after (the model's fit on
its sample, decisions, clustering, ids) is the same code on the driver, which is why the two
make the same people.

An engine makes, for the pipeline:
- `features(con, source_table, extras, encoded)`: linkage.feature, and the number of records;
- `candidates(run)`: the candidate pairs, and the blocking summary;
- `compare(run)`: `linkage_gamma`, the candidates' comparison vectors (a table or a view);
- `model(run, n_records, n_candidates)`: the model that scores them (fitted by EM, or carried);
- `score(run, decisions)`: `linkage_scored`, the pairs the later stages read;
- `complete_components(run, table, n)`: any pair inside a linked component that `table` lacks;
- `all_scored`: the name of every scored candidate (for the summary's counts and histogram);
- `close(con)`: its temporary tables or files gone.
"""

from __future__ import annotations

from typing import Protocol

import duckdb
import pandas as pd

from linkage.blocking import build_candidates
from linkage.context import LinkageRun
from linkage.features import build_features
from linkage.model import Model, fit_model


class PairEngine(Protocol):
    all_scored: str

    def features(self, con: duckdb.DuckDBPyConnection, source_table: str,
                 extras: list[str], encoded: bool = False) -> int: ...
    def candidates(self, run: LinkageRun) -> dict: ...
    def compare(self, run: LinkageRun) -> None: ...
    def model(self, run: LinkageRun, n_records: int, n_candidates: int) -> Model: ...
    def score(self, run: LinkageRun, decisions: pd.DataFrame | None) -> None: ...
    def complete_components(self, run: LinkageRun, scored_table: str, n_records: int) -> int: ...
    def close(self, con: duckdb.DuckDBPyConnection) -> None: ...


def fit(run: LinkageRun, n_records: int, n_candidates: int) -> Model:
    """The model fitted on this run's candidates (u on random pairs, m and lambda by EM)."""
    return fit_model(run.con, run.settings, run.comparisons, "linkage_gamma", n_records,
                     n_candidates)


class InProcessPairs:
    """Every candidate pair in the run's own DuckDB, which spills to disk past its memory limit:
    the engine for one partnership on one machine."""

    all_scored = "linkage_scored"

    def features(self, con: duckdb.DuckDBPyConnection, source_table: str,
                 extras: list[str], encoded: bool = False) -> int:
        return build_features(con, source_table, extras, encoded)

    def candidates(self, run: LinkageRun) -> dict:
        return build_candidates(run.con, run.settings)

    def compare(self, run: LinkageRun) -> None:
        run.gamma_into("linkage_candidate", "linkage_gamma")

    def model(self, run: LinkageRun, n_records: int, n_candidates: int) -> Model:
        return fit(run, n_records, n_candidates)

    def score(self, run: LinkageRun, decisions: pd.DataFrame | None) -> None:
        run.con.execute("DROP TABLE IF EXISTS linkage_scored")
        run.score_pairs_into("linkage_scored", gamma_table="linkage_gamma")
        run.con.execute("DROP TABLE linkage_gamma")

    def complete_components(self, run: LinkageRun, scored_table: str, n_records: int) -> int:
        return 0                       # every candidate is already in the scored table

    def close(self, con: duckdb.DuckDBPyConnection) -> None:
        return None
