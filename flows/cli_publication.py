"""`joinedup return`, `joinedup report` and `joinedup sql`: the quarterly return (workbook, CSVs
and report), the HTML report alone, and read-only SQL on the published warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from flows.cli_options import (
    HomeOption,
    QuarterOption,
    checked_settings,
    console,
    setup_logging,
    stderr_console,
)
from flows.home import resolve_home
from flows.progress import showing, stage


def _build(home: Path | None, quarter: str | None, report_only: bool):
    from flows.steps import write_return
    from warehouse.disclosure import DisclosureError
    from warehouse.returns import ReturnError

    setup_logging()
    target = resolve_home(home)
    if not checked_settings(target).partnership.name:
        stderr_console.print("[yellow]joinedup.yaml sets no partnership name: every sheet and "
                             "the report say 'Partnership name not set'. Add `partnership: "
                             "{name: ...}` before sending the return.[/yellow]")
    command = "report" if report_only else "return"
    try:
        with showing(command, stderr_console):
            return write_return(target, quarter, tables=not report_only,
                                on_stage=stage)
    except (ReturnError, DisclosureError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


def return_command(home: HomeOption = None, quarter: QuarterOption = None) -> None:
    """Write the quarterly return (XLSX workbook, CSV files and HTML report) for a quarter."""
    result = _build(home, quarter, report_only=False)
    console.print(f"quarterly return {result.quarter} ({result.period_start} to "
                  f"{result.period_end})")
    console.print(f"  workbook: {result.workbook}")
    console.print(f"  CSV:      {result.csv_dir} ({len(result.csv_files)} files)")
    console.print(f"  report:   {result.report}")


def report_command(home: HomeOption = None, quarter: QuarterOption = None) -> None:
    """Write only the HTML report for a quarter (`return` writes it with the workbook)."""
    result = _build(home, quarter, report_only=True)
    console.print(f"report {result.quarter}: {result.report}")


def _print(con, query: str) -> None:
    result = con.execute(query)
    if result.description is None:
        console.print("ok")
        return
    columns = [d[0] for d in result.description]
    rows = result.fetchall()
    table = Table(*columns, show_lines=False)
    for row in rows[:1000]:
        table.add_row(*["" if v is None else str(v) for v in row])
    console.print(table)
    more = f" (first 1000 of {len(rows)} shown)" if len(rows) > 1000 else ""
    console.print(f"{len(rows)} rows{more}")


def sql_command(
    home: HomeOption = None,
    query: Annotated[str | None, typer.Argument(
        help="SQL to run; without it an interactive prompt opens (.quit to leave).")] = None,
) -> None:
    """Query the analysts' warehouse read-only (start with the analyst schema). It holds no
    identifying data, and the session can open no other file."""
    import duckdb

    from warehouse.db import connect_sealed

    target = resolve_home(home)
    if not target.analysts_file.exists():
        console.print(f"[red]{target.analysts_file} not found: run `joinedup run` first[/red]")
        raise typer.Exit(1)
    con = connect_sealed(target.analysts_file)
    try:
        if query is not None:
            try:
                _print(con, query)
            except duckdb.Error as exc:
                console.print(f"[red]{exc}[/red]")
                raise typer.Exit(1) from None
            return
        console.print(f"{target.analysts_file} (read-only). Try: SELECT * FROM "
                      "analyst.published_table8; end a query with ';', leave with .quit")
        buffer: list[str] = []
        while True:
            try:
                line = input("joinedup> " if not buffer else "      ...> ")
            except EOFError:
                break
            if not buffer and line.strip() in (".quit", ".exit", "quit", "exit"):
                break
            buffer.append(line)
            if line.rstrip().endswith(";"):
                try:
                    _print(con, "\n".join(buffer))
                except duckdb.Error as exc:
                    console.print(f"[red]{exc}[/red]")
                buffer = []
    finally:
        con.close()
