"""`joinedup link`: the linkage engine on any files, without a home directory or Prefect.

The nightly run links the person records of its extracts; this command gives data teams (and the
benchmarks) the same engine for files it has never seen, with columns named by role.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.logging import RichHandler

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
        "--pairs", help="PAIRS.csv of scored candidate pairs.")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Match probability at which pairs join a cluster "
                            "(default from linkage/settings.yaml).")] = None,
    settings_file: Annotated[Path | None, typer.Option(
        "--settings", help="YAML overriding linkage/settings.yaml (nested keys merge, lists "
                           "replace), e.g. `vetoes: []` for data without households.")] = None,
) -> None:
    """Deduplicate one file, or link and deduplicate several, by Fellegi-Sunter (EM, no labels)."""
    from linkage import run_linkage
    from sources.generic import link_input
    from warehouse.db import connect

    log = logging.getLogger("linkage")
    handler = RichHandler(console=console, show_path=False, show_time=False)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False          # libraries may have configured the root logger too
    start = time.perf_counter()
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
        con = connect()
        con.register("link_records_df", prepared.records)
        con.execute("CREATE TABLE link_records AS SELECT * FROM link_records_df")
        con.unregister("link_records_df")
        summary = run_linkage(con, source_table="link_records", settings=settings)
        written = _copy(con, CLUSTERS_SQL, out)
        model_path = out.with_name(out.stem + ".model.csv")
        _copy(con, "SELECT * FROM linkage.model", model_path)
        if pairs is not None:
            _copy(con, PAIRS_SQL, pairs)
        con.close()
    finally:
        log.removeHandler(handler)
        log.propagate = True
    console.print(f"{written:,} records in {summary['clusters']:,} people "
                  f"({summary['multi_record_clusters']:,} with more than one record) from "
                  f"{summary['candidate_pairs']:,} candidate pairs; "
                  f"{time.perf_counter() - start:.1f} s")
    console.print(f"wrote {out}" + (f", {pairs}" if pairs else "") + f" and {model_path}")
