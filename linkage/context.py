"""One linkage run's context: what every stage after the features needs, held once.

The stages used to be handed (connection, settings, comparisons, prior weight) one by one, and
each stage that scores pairs late (the clustering guard's check pairs, reviewers' decided pairs)
repeated the recipe for scoring them. The context holds the connection, the settings resolved
for this run's data (never the caller's dict), the parsed comparisons, the fitted model and the
stage timer, and `score_pairs_into` is the one recipe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from linkage.comparisons import Comparison, gamma_table_sql
from linkage.scoring import score_sql
from sources.common.checkpoints import reached

if TYPE_CHECKING:                  # the engine (recordlinkage, scikit-learn) loads only to fit
    from linkage.model import Model

log = logging.getLogger("linkage")

StageHook = Callable[[str, bool], None]   # (stage, finished): called as a stage starts and ends


class StageTimer:
    """Times the stages; the hook lets a command line show progress without the engine knowing
    about terminals (the nightly flow passes none and only logs)."""

    def __init__(self, on_stage: StageHook | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_stage = on_stage

    @contextmanager
    def stage(self, name: str):
        reached(f"link-{name}")            # a checkpoint as each stage starts (crash tests)
        if self.on_stage is not None:
            self.on_stage(name, False)
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 3)
        log.info("linkage stage %s: %.2fs", name, self.seconds[name])
        if self.on_stage is not None:
            self.on_stage(name, True)


@dataclass
class LinkageRun:
    con: duckdb.DuckDBPyConnection
    settings: dict                  # resolved for this run (linkage.settings.resolve_for_data)
    comparisons: list[Comparison]
    timer: StageTimer
    model: Model | None = None      # set once the model stage has fitted it

    def gamma_into(self, pairs_table: str, gamma_table: str) -> None:
        """Comparison vectors of the pairs (rid_l, rid_r, rule_no) of `pairs_table`."""
        self.con.execute(gamma_table_sql(self.settings, pairs_table, gamma_table))

    def score_pairs_into(self, scored_table: str, *, pairs_table: str | None = None,
                         gamma_table: str | None = None) -> None:
        """Score pairs with the fitted model and add them to `scored_table` (created when it
        does not exist yet). Give the pairs (rid_l, rid_r, rule_no) as `pairs_table`, or their
        comparison vectors as `gamma_table` when they are already computed (the candidates'
        are, for the model); vectors computed here are dropped once scored."""
        if self.model is None:
            raise RuntimeError("score_pairs_into needs the fitted model")
        if (pairs_table is None) == (gamma_table is None):
            raise ValueError("give pairs_table or gamma_table")
        own_gamma = gamma_table is None
        if own_gamma:
            gamma_table = f"{scored_table}_gamma_new"
            self.gamma_into(pairs_table, gamma_table)
        exists = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?",
            [scored_table]).fetchall()[0][0]
        target = f"{scored_table}_new" if exists else scored_table
        self.con.execute(score_sql(self.settings, self.comparisons, gamma_table, target,
                                   self.model.prior_weight()))
        if exists:
            self.con.execute(f"INSERT INTO {scored_table} BY NAME SELECT * FROM {target}")
            self.con.execute(f"DROP TABLE {target}")
        if own_gamma:
            self.con.execute(f"DROP TABLE {gamma_table}")
