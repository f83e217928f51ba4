"""What a run prints for people: counts and paths only, never a personal value."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def run_table(summary: dict) -> Table:
    table = Table(title=f"Joined Up run {summary['run_id']} (period ending {summary['as_of']})")
    for col in ("source", "file", "map", "status", "rows in", "loaded", "quarantined"):
        table.add_column(col, justify="right" if col in ("rows in", "loaded", "quarantined")
                         else "left")
    for e in summary["extracts"]:
        table.add_row(e["source"], e["file_name"], e["map_name"], e["status"], str(e["rows_in"]),
                      str(e["rows_loaded"]), str(e["rows_quarantined"]))
    return table


def print_summary(summary: dict, console: Console | None = None) -> None:
    console = console or Console()
    console.print(run_table(summary))
    extracts = summary["extracts"]
    linked = summary["linkage"]
    publication = summary["tables"].get("publication", {})
    totals = Table(show_header=False, box=None)
    totals.add_column("what")
    totals.add_column("value", justify="right")
    totals.add_row("extracts loaded", f"{sum(e['status'] == 'loaded' for e in extracts)}"
                   f" of {len(extracts)}")
    totals.add_row("rows in", f"{sum(e['rows_in'] for e in extracts):,}")
    totals.add_row("rows quarantined", f"{sum(e['rows_quarantined'] for e in extracts):,}")
    totals.add_row("files rejected", str(summary["files_rejected"]))
    for key in ("refused", "waiting", "ignored"):
        totals.add_row(f"inbox files {key}", str(summary.get(f"files_{key}", 0)))
    totals.add_row("person records", f"{summary['person_records']:,}")
    totals.add_row("children linked", f"{linked.get('clusters', 0):,}")
    totals.add_row("tables published", str(len(publication.get("rows", {}))))
    totals.add_row("CSV exports", str(len(summary["exports"])))
    if summary.get("analysts"):
        totals.add_row("analysts' warehouse (joinedup sql)", summary["analysts"])
    totals.add_row("linkage zone (pipeline only)", summary["warehouse"])
    docs = next((e["data_docs"] for e in extracts if e.get("data_docs")), "")
    if docs:
        totals.add_row("validation report (Data Docs)", docs)
    console.print(totals)
