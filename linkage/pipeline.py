"""run_linkage: person records in, linkage.person / pair / model / review out.

Stages: features -> candidate pairs (blocking) -> comparison vectors -> model (u counted on
random pairs, m and lambda by EM) -> scores (then reviewers' decisions override them) -> guarded
clusters -> stable ids -> review queue and, when asked for, the model report.
Heavy work is SQL in DuckDB over integer record ids; Python holds only the EM sample, the edges
above the threshold and the cluster labels. Logs and the returned summary carry counts only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from linkage.clustering import build_clusters
from linkage.comparisons import parse_comparisons
from linkage.context import LinkageRun, StageHook, StageTimer
from linkage.encoded import is_encoded
from linkage.engine import InProcessPairs, PairEngine
from linkage.features import quoted_table
from linkage.households import household_vetoes_apply
from linkage.ids import assign_person_ids
from linkage.model_report import pattern_waterfalls, weight_histogram, write_model_report
from linkage.review import apply_decisions, build_review, write_decision_table
from linkage.rules import (
    CHECK_RULE_NO,
    CONFLICT_RULE,
    DETERMINISTIC_PREFIX,
    REVIEW_RULE_NO,
    blocking_rule_sql,
)
from linkage.settings import load_settings, resolve_for_data

log = logging.getLogger("linkage")

PERSON_DDL = ("CREATE OR REPLACE TABLE linkage.person (record_key VARCHAR PRIMARY KEY, "
              "person_id VARCHAR NOT NULL, cluster_size INTEGER NOT NULL)")
TEMP_TABLES = ["linkage_candidate", "linkage_gamma", "linkage_scored", "linkage_nickname",
               "linkage_phonetic"]
# The stages in the order run_linkage reports them to its on_stage hook.
STAGES = ("features", "blocking", "comparisons", "model", "scoring", "clustering", "person_ids",
          "write")


def identifier_like_extras(con: duckdb.DuckDBPyConnection, cfg: dict) -> list[str]:
    """The extra columns whose values mostly tell records apart (an account or case number, say):
    agreeing on one is worth a comparison even when every name is wrong (a blocking key), and
    lifts the twin and sibling vetoes."""
    found = []
    rule = cfg["extra_identifier"]
    for column in cfg.get("extras") or []:
        distinct, present, repeats = con.execute(
            f"SELECT count(DISTINCT {column}), count({column}), coalesce(max(n), 0) FROM "
            f"linkage.feature LEFT JOIN (SELECT {column} AS v, count(*) AS n FROM "
            f"linkage.feature GROUP BY 1) ON v = {column}").fetchall()[0]
        if (present and distinct / present >= float(rule["min_distinct"])
                and repeats <= int(rule["max_repeats"])):
            found.append(column)
    return found


def _write_pairs(run: LinkageRun) -> None:
    """linkage.pair: the pairs that can matter to a reader, a reviewer or an evaluation - those
    the model or the rules give at least `pairs.keep_min_probability` (vetoed pairs by their
    model probability). At a million records blocking proposes tens of millions of pairs, nearly
    all plainly different children; keeping them would make the table the warehouse's largest
    and its writing the run's slowest step. A pair not kept scored below that probability."""
    settings = run.settings
    gamma_cols = ", ".join(f"s.{c.gamma}" for c in run.comparisons)
    tf_cols = "".join(f", s.{c.tf}" for c in run.comparisons if c.tf_column)
    tf_cols += "".join(f", s.{c.weight}" for c in run.comparisons)
    run.con.execute(
        "CREATE OR REPLACE TABLE linkage.pair AS SELECT fl.record_key AS record_key_l, "
        "fr.record_key AS record_key_r, s.match_weight, s.match_probability, s.match_rule, "
        f"{blocking_rule_sql('s.rule_no', 'rules')} AS blocking_rule, "
        f"s.model_probability, {gamma_cols}{tf_cols} "
        "FROM linkage_scored s JOIN linkage.feature fl ON fl.rid = s.rid_l "
        "JOIN linkage.feature fr ON fr.rid = s.rid_r "
        "WHERE greatest(s.match_probability, coalesce(s.model_probability, 0)) >= $keep "
        "ORDER BY s.rid_l, s.rid_r",
        {"rules": [rule["name"] for rule in settings["blocking"]["rules"]],
         "keep": float(settings["pairs"]["keep_min_probability"])},
    )


def _write_person(con: duckdb.DuckDBPyConnection, person: pd.DataFrame) -> None:
    con.execute(PERSON_DDL)
    con.register("linkage_person_df", person)
    con.execute("INSERT INTO linkage.person SELECT record_key, person_id, cluster_size "
                "FROM linkage_person_df ORDER BY record_key")
    con.unregister("linkage_person_df")


def _write_model(con: duckdb.DuckDBPyConnection, table: pd.DataFrame) -> None:
    table = table.astype({"level": "Int32", "em_iterations": "Int32"})
    con.register("linkage_model_df", table)
    con.execute("CREATE OR REPLACE TABLE linkage.model AS SELECT * FROM linkage_model_df")
    con.unregister("linkage_model_df")


def run_linkage(con: duckdb.DuckDBPyConnection, *, source_table: str = "staging.person_record",
                previous_ids: pd.DataFrame | None = None,
                settings: dict | None = None,
                decisions: pd.DataFrame | None = None,
                model_report: Path | None = None,
                on_stage: StageHook | None = None,
                engine: PairEngine | None = None) -> dict:
    """Link the person records of `source_table` into people; see the package docstring.

    decisions: reviewers' decisions (record_key_l, record_key_r, decision: match | non_match)
    that override the model for their pairs. model_report: where to write the HTML model report.
    on_stage: called with (stage, False) as each of STAGES starts and (stage, True) as it ends.
    engine: where the pair stages run (linkage.engine; default this process's DuckDB).
    """
    engine = engine or InProcessPairs()
    try:
        return _run(con, source_table, previous_ids, settings, decisions, model_report,
                    on_stage, engine)
    finally:
        engine.close(con)


def _run(con: duckdb.DuckDBPyConnection, source_table: str, previous_ids: pd.DataFrame | None,
         settings: dict | None, decisions: pd.DataFrame | None, model_report: Path | None,
         on_stage: StageHook | None, engine: PairEngine) -> dict:
    encoded = is_encoded(con, quoted_table(source_table))
    base = load_settings(settings, encoded)
    timer = StageTimer(on_stage)
    summary: dict = {"encoded": encoded}
    with timer.stage("features"):
        n_records = engine.features(con, source_table, base.get("extras") or [], encoded)
        vetoes_on, summary["vetoes_because"] = household_vetoes_apply(con, base, encoded)
        run = LinkageRun(con, resolve_for_data(base, identifier_like_extras(con, base), vetoes_on),
                         parse_comparisons(base), timer)
    cfg = run.settings
    with timer.stage("blocking"):
        summary.update(engine.candidates(run))
    with timer.stage("comparisons"):
        engine.compare(run)
    with timer.stage("model"):
        run.model = engine.model(run, n_records, summary["candidate_pairs"])
        _write_model(con, run.model.table(run.comparisons))
    with timer.stage("scoring"):
        engine.score(run, decisions)
        decided = apply_decisions(run, decisions, "linkage_scored")
    with timer.stage("clustering"):
        engine.complete_components(run, "linkage_scored", n_records)
        clusters = build_clusters(run, "linkage_scored", n_records)
    with timer.stage("person_ids"):
        keys = con.execute("SELECT record_key FROM linkage.feature ORDER BY rid").fetchnumpy()
        person, id_counts = assign_person_ids(
            pd.DataFrame({"record_key": keys["record_key"], "cluster": clusters.labels}),
            previous_ids, prefix=cfg["person_id"]["prefix"], digits=int(cfg["person_id"]["digits"]))
        _write_person(con, person)
    with timer.stage("write"):
        hist = weight_histogram(con, engine.all_scored, float(cfg["clustering"]["threshold"]),
                                (CHECK_RULE_NO, REVIEW_RULE_NO))
        patterns = (pattern_waterfalls(con, "linkage_scored", run.comparisons,
                                       float(cfg["review"]["low"]),
                                       (CHECK_RULE_NO, REVIEW_RULE_NO))
                    if model_report is not None else None)
        _write_pairs(run)
        decided["not_honoured"] = int(write_decision_table(con))
        review_pairs = build_review(run, clusters.refused)
        rules = dict(con.execute(
            "SELECT CASE WHEN match_rule LIKE $det THEN 'deterministic' ELSE match_rule END, "
            f"count(*) FROM {engine.all_scored} WHERE rule_no NOT IN ($check, $review) "
            "GROUP BY 1",
            {"det": DETERMINISTIC_PREFIX + "%", "check": CHECK_RULE_NO,
             "review": REVIEW_RULE_NO}).fetchall())
        above = con.execute(f"SELECT count(*) FROM {engine.all_scored} "
                            "WHERE match_probability >= $t",
                            {"t": float(cfg["clustering"]["threshold"])}).fetchall()[0][0]
        for table in TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute("DROP VIEW IF EXISTS linkage_input")
        _summarise(summary, cfg, run.model, clusters, person, id_counts, rules, above,
                   review_pairs, decided, n_records, timer)
        if model_report is not None:
            write_model_report(con, model_report, summary, cfg, hist, patterns)
            summary["model_report"] = str(model_report)

    summary["seconds"] = dict(timer.seconds)
    summary["seconds"]["total"] = round(float(np.sum(list(timer.seconds.values()))), 3)
    log.info("linkage: %d records, %d candidate pairs, %d clusters (%d multi-record)",
             summary["records"], summary["candidate_pairs"], summary["clusters"],
             summary["multi_record_clusters"])
    if decided["given"]:
        log.info("linkage: %d review decisions applied (%d match, %d non-match), %d name records "
                 "not in this run, %d not honoured", decided["applied"], decided["match"],
                 decided["non_match"], decided["records_not_found"], decided["not_honoured"])
    return summary


def _summarise(summary: dict, cfg: dict, model, clusters, person: pd.DataFrame, id_counts: dict,
               rules: dict, above: int, review_pairs: int, decided: dict, n_records: int,
               timer: StageTimer) -> None:
    sizes = person.groupby("person_id").size() if len(person) else pd.Series(dtype="int64")
    summary.update({
        "records": int(n_records),
        "deterministic_pairs": int(rules.get("deterministic", 0)),
        "strong_id_conflict_pairs": int(rules.get(CONFLICT_RULE, 0)),
        "vetoed_pairs": {v["name"]: int(rules.get(v["name"], 0)) for v in cfg.get("vetoes", [])},
        "insufficient_evidence_pairs": int(rules.get(
            (cfg.get("insufficient_evidence") or {}).get("name"), 0)),
        "pairs_above_threshold": int(above),
        "cluster_check_pairs": clusters.check_pairs,
        "guarded_components": clusters.guarded_components,
        "merges_refused": len(clusters.refused),
        "clusters": int(len(sizes)),
        "multi_record_clusters": int((sizes >= 2).sum()),
        "largest_cluster": int(sizes.max()) if len(sizes) else 0,
        **id_counts,
        "review_pairs": int(review_pairs),
        "review_decisions": decided,
        "m_source": model.m_source,
        "u_source": model.u_source,
        "em_iterations": model.em_iterations,
        "em_sample_pairs": model.em_pairs,
        "u_sample_pairs": model.u_pairs,
        "lambda_candidates": float(model.lambda_candidates),
        "lambda": float(model.prior),
        "em_sessions": [s["name"] for s in cfg["model"].get("training") or []],
        "threshold": float(cfg["clustering"]["threshold"]),
        "review_band": [float(cfg["review"]["low"]), float(cfg["clustering"]["threshold"])],
        "seconds": dict(timer.seconds),
    })
