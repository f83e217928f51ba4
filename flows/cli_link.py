"""`joinedup link`: the linkage engine on any files, without a home directory or Prefect.

The nightly run links the person records of its extracts; this command gives data teams (and the
benchmarks) the same engine for files it has never seen, with columns named by role. A run on a
million records takes minutes, so the stages are shown as they pass (on a terminal; never when
stderr is redirected, where a progress bar would only litter a log file).
"""

from __future__ import annotations

import logging
import tempfile
import time
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from sources.errors import ExtractError

console = Console(stderr=True)

CLUSTERS_SQL = """
SELECT r.source, r.record_id, p.person_id
FROM link_records r JOIN linkage.person p USING (record_key)
ORDER BY r.source, r.record_id
"""
PAIRS_SQL = """
SELECT l.source AS source_l, l.record_id AS record_id_l, r.source AS source_r,
       r.record_id AS record_id_r, round(p.match_probability, 6) AS match_probability
FROM linkage.pair p
JOIN link_records l ON l.record_key = p.record_key_l
JOIN link_records r ON r.record_key = p.record_key_r
WHERE p.blocking_rule <> 'cluster_check'
ORDER BY source_l, record_id_l, source_r, record_id_r
"""


def _roles(pairs: list[str]) -> dict[str, str]:
    roles = {}
    for item in pairs:
        role, sep, column = item.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise typer.BadParameter(f"--map {item!r}: write ROLE=COLUMN, e.g. dob=DateOfBirth")
        roles[role.strip()] = column.strip()
    return roles


def _copy(con, sql: str, path: Path) -> int:
    frame = con.execute(sql).df()
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return len(frame)


class StageProgress:
    """run_linkage's on_stage hook drawn as a rich progress bar: one step per stage, plus the
    output files written here."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress = progress
        self.task = progress.add_task("reading files", total=total)

    def __call__(self, stage: str, finished: bool) -> None:
        if finished:
            self.progress.advance(self.task)
        else:
            self.progress.update(self.task, description=f"linkage: {stage.replace('_', ' ')}")


def _progress(enabled: bool) -> Progress | None:
    if not enabled or not console.is_terminal:
        return None
    return Progress(SpinnerColumn(), TextColumn("{task.description:<24}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)


def _decisions(path: Path | None):
    if path is None:
        return None
    from linkage.decisions import DecisionError, read_decisions_csv

    try:
        return read_decisions_csv(path)
    except DecisionError as exc:
        raise typer.BadParameter(str(exc)) from None


def link(
    files: Annotated[list[Path], typer.Argument(help="CSV or Parquet files; each is a source "
                                                     "named by its file stem.")],
    id_column: Annotated[str, typer.Option("--id", help="Column holding each row's id.")],
    out: Annotated[Path, typer.Option("--out", help="CLUSTERS.csv to write "
                                                    "(source,record_id,person_id).")],
    roles: Annotated[list[str], typer.Option(
        "--map", help="ROLE=COLUMN; roles: first_name, middle_names, last_name, full_name, dob, "
                      "sex, postcode, address, nhs_number, upn, la_child_id.")] = [],  # noqa: B006
    extra: Annotated[list[str], typer.Option(
        "--extra", help="Another column to compare (exact / similar).")] = [],  # noqa: B006
    pairs: Annotated[Path | None, typer.Option(
        "--pairs", help="PAIRS.csv of the scored candidate pairs that can matter: those the "
                        "model gives at least pairs.keep_min_probability (0.001).")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Match probability at which pairs join a cluster "
                            "(default from linkage/settings.yaml).")] = None,
    settings_file: Annotated[Path | None, typer.Option(
        "--settings", help="YAML overriding linkage/settings.yaml (nested keys merge, lists "
                           "replace), e.g. `vetoes: []` for data without households.")] = None,
    decisions_file: Annotated[Path | None, typer.Option(
        "--decisions", help="CSV of reviewers' decisions that override the model: source_l, "
                            "record_id_l, source_r, record_id_r (as in PAIRS.csv), decision "
                            "(match / non_match).")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", help="No progress display and no per-stage messages.")] = False,
    memory_limit: Annotated[str, typer.Option(
        "--memory-limit", help="DuckDB's memory limit; work beyond it spills to a temporary "
                               "folder (removed afterwards).")] = "2GB",
) -> None:
    """Deduplicate one file, or link and deduplicate several, by Fellegi-Sunter (EM, no labels)."""
    from linkage import run_linkage
    from linkage.pipeline import STAGES
    from sources.generic import link_input
    from warehouse.db import connect

    decisions = _decisions(decisions_file)
    log = logging.getLogger("linkage")
    handler = RichHandler(console=console, show_path=False, show_time=False)
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False          # libraries may have configured the root logger too
    start = time.perf_counter()
    progress = _progress(not quiet)
    hook = StageProgress(progress, len(STAGES) + 1) if progress is not None else None
    if progress is not None:
        progress.start()
    stack = ExitStack()
    try:
        try:
            prepared = link_input(list(files), id_column, _roles(roles), list(extra))
        except (ExtractError, ValueError) as exc:
            raise typer.BadParameter(str(exc)) from None
        console.print(f"read {len(prepared.records):,} records from {len(files)} file(s)"
                      + (f"; {prepared.unparsed_dates:,} dates of birth in no known form are "
                         "compared as text" if prepared.unparsed_dates else ""))
        settings: dict = {}
        if settings_file is not None:
            loaded = yaml.safe_load(settings_file.read_text()) or {}
            if not isinstance(loaded, dict):
                raise typer.BadParameter(f"{settings_file}: expected a mapping of settings")
            settings.update(loaded)
        settings["extras"] = list(prepared.extras)
        if threshold is not None:
            if not 0.0 < threshold < 1.0:
                raise typer.BadParameter("--threshold must lie between 0 and 1")
            settings["clustering"] = {"threshold": threshold}
        # a database file in a private temporary folder rather than memory, so that DuckDB can
        # evict to it (the records hold names and dates of birth: the folder is 0700 and goes)
        work = stack.enter_context(tempfile.TemporaryDirectory(prefix="joinedup-link-"))
        con = stack.enter_context(
            closing(connect(Path(work) / "link.duckdb", memory_limit=memory_limit)))
        con.register("link_records_df", prepared.records)
        con.execute("CREATE TABLE link_records AS SELECT * FROM link_records_df")
        con.unregister("link_records_df")
        prepared = None                       # the frame's copy is in DuckDB now
        report_path = out.with_name(out.stem + ".model.html")
        summary = run_linkage(con, source_table="link_records", settings=settings,
                              decisions=decisions, model_report=report_path, on_stage=hook)
        if hook is not None:
            hook.progress.update(hook.task, description="writing files")
        written = _copy(con, CLUSTERS_SQL, out)
        model_path = out.with_name(out.stem + ".model.csv")
        _copy(con, "SELECT * FROM linkage.model", model_path)
        if pairs is not None:
            _copy(con, PAIRS_SQL, pairs)
        con.close()
        if hook is not None:
            hook.progress.advance(hook.task)
    finally:
        stack.close()
        if progress is not None:
            progress.stop()
        log.removeHandler(handler)
        log.propagate = True
    console.print(f"{written:,} records in {summary['clusters']:,} people "
                  f"({summary['multi_record_clusters']:,} with more than one record) from "
                  f"{summary['candidate_pairs']:,} candidate pairs; "
                  f"{time.perf_counter() - start:.1f} s")
    applied = summary.get("review_decisions") or {}
    if decisions is not None:
        console.print(f"{applied.get('applied', 0):,} of {len(decisions):,} review decisions "
                      f"applied ({applied.get('records_not_found', 0):,} name records not in "
                      f"these files, {applied.get('not_honoured', 0):,} could not be honoured)")
    console.print(f"wrote {out}" + (f", {pairs}" if pairs else "")
                  + f", {model_path} and the model report {report_path}")
