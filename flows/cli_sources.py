"""`joinedup sources ...`: look at a supplier's file before it is delivered.

`joinedup sources check FILE --kind K [--map M]` reads the file exactly as the nightly run would
(same reader, same map choice, same mapping and validation suite) and prints how it maps and what
would be quarantined, without archiving or loading anything. It prints column names, counts and
row numbers only, never a value from the file, so it is safe to paste into an email to a supplier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from flows.cli_options import ExtractDateOption, MapsHomeOption, checked_settings, option_date
from flows.home import resolve_home
from sources.column_maps import load_maps, normalise_header
from sources.common.names import shown_name
from sources.errors import ExtractError
from sources.kinds import get_kind, load_kinds

sources_app = typer.Typer(add_completion=False, no_args_is_help=True,
                          help="Check supplier extracts and column maps before delivery.")

FIRST_ROWS = 5


@dataclass
class RuleCount:
    column: str | None
    supplier_column: str | None
    rule: str
    rows: int
    first_rows: list[int]


@dataclass
class CheckReport:
    """How one file maps and what validation would do with it; no values from the file."""

    file_name: str
    kind: str
    problem: str = ""                   # the ExtractError message when the file would be rejected
    file_type: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    map_name: str = ""
    supplier: str = ""
    header_row: int = 0
    columns: list[tuple[str, str, bool]] = field(default_factory=list)  # canonical, source, found
    missing: list[str] = field(default_factory=list)         # mapped supplier columns not in file
    extra: list[str] = field(default_factory=list)           # file columns the map ignores
    rows_in: int = 0
    blank_rows: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    quarantine: list[RuleCount] = field(default_factory=list)
    warnings: list[RuleCount] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return bool(self.problem)


def _counts(frame: pd.DataFrame | None, supplier: dict[str, str]) -> list[RuleCount]:
    if frame is None or frame.empty:
        return []
    out = []
    for (column, rule), group in frame.groupby(["column_name", "rule"], dropna=False, sort=True):
        rows = sorted(set(int(r) for r in group["row_number"]))
        column = None if pd.isna(column) else column
        out.append(RuleCount(column=column, supplier_column=supplier.get(column or ""),
                             rule=rule, rows=len(rows), first_rows=rows[:FIRST_ROWS]))
    return out


def check_file(path: Path, kind: str, maps: dict | None = None, map_name: str | None = None,
               as_of: date | None = None, settings: dict | None = None) -> CheckReport:
    """Read, map and validate one file as the nightly run would, loading nothing."""
    from expectations.validate import validate_extract
    from sources.extract import read_extract
    from sources.readers import file_type

    name = shown_name(path.name)              # one printable line whatever its bytes
    report = CheckReport(file_name=name, kind=kind)
    if kind not in load_kinds():
        report.problem = (f"{name}: '{kind}' is not an extract kind. "
                          f"Use one of {', '.join(sorted(load_kinds()))}.")
        return report
    maps = maps if maps is not None else load_maps()
    as_of = as_of or datetime.now(UTC).date()
    try:
        report.file_type = file_type(path)
        extract = read_extract(path, kind, maps, name, map_name)
    except ExtractError as exc:
        report.problem = str(exc.naming(name))
        return report
    raw, cmap, mapped = extract.raw, extract.cmap, extract.mapped
    report.encoding, report.delimiter, report.sheet = raw.encoding, raw.delimiter, raw.sheet
    report.map_name, report.supplier, report.header_row = cmap.name, cmap.supplier, raw.header_row
    present = {normalise_header(h) for h in raw.frame.columns}
    for name, rule in cmap.columns.items():
        if rule.value is not None:
            report.columns.append((name, f"constant '{rule.value}'", True))
            continue
        for supplier_col in rule.supplier_columns:
            found = normalise_header(supplier_col) in present
            report.columns.append((name, supplier_col, found))
            if not found:
                report.missing.append(supplier_col)
    report.extra = mapped.extra_columns
    report.rows_in, report.blank_rows = mapped.rows_in, mapped.blank_rows
    result = validate_extract(mapped, as_of, f"{get_kind(kind).name}.{cmap.name}", settings)
    report.rows_quarantined = len(result.quarantined_rows)
    report.rows_loaded = report.rows_in - report.rows_quarantined
    supplier = {name: rule.column for name, rule in cmap.columns.items() if rule.column}
    report.quarantine = _counts(result.failures, supplier)
    report.warnings = _counts(result.warned, supplier)
    return report


def _rule_lines(counts: list[RuleCount]) -> list[str]:
    lines = []
    for c in counts:
        where = c.column or "(row)"
        if c.supplier_column:
            where += f" ['{c.supplier_column}']"
        more = ", ..." if c.rows > len(c.first_rows) else ""
        rows = ", ".join(str(r) for r in c.first_rows)
        lines.append(f"  {c.rows:>7,}  {where}: {c.rule} (rows {rows}{more})")
    return lines


def render(report: CheckReport) -> list[str]:
    """The report as lines of text: names, counts and row numbers only."""
    if report.rejected:
        return [f"REJECTED {report.problem}"]
    how = [report.file_type]
    if report.encoding:
        how.append(f"encoding {report.encoding}")
    if report.delimiter:
        how.append("delimiter " + ("TAB" if report.delimiter == "\t" else repr(report.delimiter)))
    if report.sheet:
        how.append(f"sheet '{report.sheet}'")
    lines = [
        f"file:    {report.file_name} ({', '.join(how)})",
        f"kind:    {report.kind}",
        f"map:     {report.map_name} ({report.supplier})" if report.supplier
        else f"map:     {report.map_name}",
        f"header:  row {report.header_row}",
        "columns (canonical <- supplier):",
    ]
    for canonical, supplier, found in report.columns:
        mark = "" if found else "   NOT IN FILE (treated as absent)"
        lines.append(f"  {canonical:<32} <- {supplier}{mark}")
    if report.missing:
        lines.append(f"columns missing: {', '.join(repr(c) for c in report.missing)}")
    if report.extra:
        lines.append(f"columns ignored (not in the map): "
                     f"{', '.join(repr(c) for c in report.extra)}")
    lines.append(f"rows:    {report.rows_in:,} data rows, {report.blank_rows:,} blank rows "
                 "(counted, not loaded)")
    lines.append(f"would load {report.rows_loaded:,} rows and quarantine "
                 f"{report.rows_quarantined:,}")
    if report.quarantine:
        lines.append("quarantine (rows, column, rule, first rows):")
        lines += _rule_lines(report.quarantine)
    if report.warnings:
        lines.append("warnings (value set to empty, row still loaded):")
        lines += _rule_lines(report.warnings)
    return lines


@sources_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="The extract to check (CSV, XLSX or Parquet).",
                                         exists=True, dir_okay=False)],
    kind: Annotated[str, typer.Option("--kind", help="Extract kind: social_care, police, "
                                                     "school or yot.")],
    map_name: Annotated[str | None, typer.Option(
        "--map", help="Column map to use (default: the one that fits).")] = None,
    home: MapsHomeOption = None,
    as_of: ExtractDateOption = None,
) -> None:
    """Preview how a file maps and what would be quarantined, without loading anything."""
    as_of_date = option_date(as_of)
    target = resolve_home(home)
    settings = checked_settings(target)           # a broken map is a message, too
    report = check_file(file, kind, load_maps([target.maps]), map_name, as_of_date,
                        settings.validation_overrides())
    for line in render(report):
        typer.echo(line)
    if report.rejected:
        raise typer.Exit(code=1)
