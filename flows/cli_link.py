"""`joinedup link`: the linkage engine on any files, without a home directory or Prefect.

The nightly run links the person records of its extracts; this command gives data teams (and the
benchmarks) the same engine for files it has never seen, with columns named by role. A run on a
million records takes minutes, so the stages are shown as they pass, as for every long command
(flows.progress: a bar on a terminal, a log line per stage otherwise). The files are read and
linked by `flows.link_files`; this module reads the options and shows the progress.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler

from flows.cli_options import parse_roles
from flows.cli_options import stderr_console as console
from flows.progress import showing, stage


def _on_stage(name: str, finished: bool) -> None:
    """run_linkage's stage hook, told to the command's stage display (flows.progress)."""
    if not finished:
        stage(f"linkage: {name.replace('_', ' ')}")


def _engine_settings(kind: str, scheduler: str | None, workers: int, memory: str,
                     work_dir: Path | None):
    from pydantic import ValidationError

    from flows.settings import EngineSettings

    try:
        return EngineSettings(kind=kind, scheduler=scheduler, workers=workers,
                              memory_limit=memory, work_dir=str(work_dir) if work_dir else None)
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"].removeprefix("Value error, ")
                                           for e in exc.errors())) from None


def _decisions(path: Path | None):
    if path is None:
        return None
    from linkage.decisions import DecisionError, read_decisions_csv

    try:
        return read_decisions_csv(path)
    except DecisionError as exc:
        raise typer.BadParameter(str(exc)) from None


def _link_secret(secret_file: Path | None, secret_block: str | None) -> bytes | None:
    """The encoding secret if one was given (flows.cli_encode reads it as `encode` does)."""
    if secret_file is None and secret_block is None:
        return None
    from flows.cli_encode import read_secret
    from sources.encoding.schema import EncodingError

    try:
        return read_secret(secret_file, secret_block)[0]
    except EncodingError as exc:
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
                        "model gives at least pairs.keep_min_probability (0.001), with the "
                        "prior's and each comparison's part of the match weight "
                        "(weight_<comparison>).")] = None,
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
    engine: Annotated[str, typer.Option(
        "--engine", help="duckdb: every pair in this process; dask: the pair stages in "
                         "partitions on a Dask cluster, through Prefect (docs/scale.md).")
    ] = "duckdb",
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="With --engine dask: the scheduler's address (tcp://HOST:8786); "
                            "without it a local cluster is started.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", help="With --engine dask and no --scheduler: the local cluster's "
                          "workers.")] = 2,
    worker_memory: Annotated[str, typer.Option(
        "--worker-memory", help="With --engine dask and no --scheduler: each worker's memory "
                                "limit (it spills to disk past it).")] = "4GB",
    work_dir: Annotated[Path | None, typer.Option(
        "--work-dir", help="With --engine dask: where the partitions' files go, a folder every "
                           "worker can read and write (default: a private temporary folder); "
                           "removed afterwards.")] = None,
    secret_file: Annotated[Path | None, typer.Option(
        "--secret-file", help="The partnership's encoding secret: clear files linked with "
                              "encoded ones (`joinedup encode`) are encoded with it in memory, "
                              "and every encoded file's key check must match it.")] = None,
    secret_block: Annotated[str | None, typer.Option(
        "--secret-block", help="Prefect Secret block holding the secret instead.")] = None,
) -> None:
    """Deduplicate one file, or link and deduplicate several, by Fellegi-Sunter (EM, no labels).
    Encoded files (`joinedup encode`, recognised by the schema beside them) are linked on their
    encodings, alone or with clear files encoded in memory (docs/privacy.md)."""
    from flows.dask_engine import pair_engine
    from flows.link_files import (
        LinkFilesError,
        LinkOutputs,
        link_database,
        link_loaded,
        link_settings,
        load_files,
        write_outputs,
    )
    from linkage.pipeline import STAGES

    decisions = _decisions(decisions_file)
    engine_settings = _engine_settings(engine, scheduler, workers, worker_memory, work_dir)
    secret = _link_secret(secret_file, secret_block)
    outputs = LinkOutputs(out, pairs)
    log = logging.getLogger("linkage")
    handler = RichHandler(console=console, show_path=False, show_time=False)
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False          # libraries may have configured the root logger too
    # the Dask engine's partitions are Prefect task runs: their lines belong in Prefect's UI,
    # not between this command's stages
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.task_runner.dask"):
        logging.getLogger(name).setLevel(logging.WARNING)
    start = time.perf_counter()
    display = (contextlib.nullcontext() if quiet
               else showing("link", console, total=len(STAGES) + 2))
    try:
        with display, link_database(memory_limit) as con:
            stage("reading files")
            try:
                read = load_files(con, list(files), id_column, parse_roles(roles), list(extra),
                                  secret)
                console.print(f"read {read.records:,} records from {len(files)} file(s)"
                              + (f"; {read.encoded_files} encoded" if read.encoded_files
                                 else "")
                              + (f", {read.encoded_here} clear file(s) encoded in memory"
                                 if read.encoded_here else "")
                              + (f"; {read.partial_dates:,} dates of birth give only a year or "
                                 "a month (compared as partial dates)" if read.partial_dates
                                 else "")
                              + (f"; {read.unparsed_dates:,} dates of birth in no known form "
                                 "are compared as text" if read.unparsed_dates else ""))
                settings = link_settings(settings_file, read.extras, threshold)
            except LinkFilesError as exc:
                raise typer.BadParameter(str(exc)) from None
            with pair_engine(engine_settings) as pairs_on:
                summary = link_loaded(con, settings, outputs, decisions, on_stage=_on_stage,
                                      engine=pairs_on)
            stage("writing files")
            written = write_outputs(con, outputs)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    console.print(f"{written:,} records in {summary['clusters']:,} people "
                  f"({summary['multi_record_clusters']:,} with more than one record) from "
                  f"{summary['candidate_pairs']:,} candidate pairs; "
                  f"{time.perf_counter() - start:.1f} s")
    if summary.get("m_source") == "default":
        console.print(f"[yellow]EM could not run ({summary['candidate_pairs']:,} candidate pairs, "
                      f"fewer than model.em_min_pairs): the comparisons' default m values were "
                      "used; the match probabilities are a rough guide only[/yellow]")
    applied = summary.get("review_decisions") or {}
    if decisions is not None:
        console.print(f"{applied.get('applied', 0):,} of {len(decisions):,} review decisions "
                      f"applied ({applied.get('records_not_found', 0):,} name records not in "
                      f"these files, {applied.get('not_honoured', 0):,} could not be honoured)")
    console.print(f"wrote {out}" + (f", {pairs}" if pairs else "")
                  + f", {outputs.model} and the model report {outputs.model_report}")
