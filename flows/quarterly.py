"""The `quarterly-return` flow: the quarter's published tables as a fixed-layout workbook, CSV
files and an HTML report in the home's returns folder (warehouse.returns does the work; this
module hands it the home's paths and settings, and gives it a Prefect flow for scheduling and
run history)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger

import flows  # noqa: F401  (offline-friendly environment defaults before Prefect loads)
from flows.home import Home
from flows.prefect_logging import product_logs_to_prefect
from flows.steps import write_return


def _run_name() -> str:
    """A timestamp, not Prefect's random words (which can read like a child's name)."""
    return f"quarterly-return-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


@flow(name="quarterly-return", log_prints=False, flow_run_name=_run_name)
def quarterly_return(home: str, quarter: str | None = None) -> dict:
    """Write the quarterly return for `quarter` (e.g. '2026Q3'); None = the last complete
    calendar quarter. Returns the paths written."""
    with product_logs_to_prefect():
        result = write_return(Home(Path(home)), quarter)
    get_run_logger().info("quarterly return %s: %s", result.quarter, result.workbook)
    return {
        "quarter": result.quarter,
        "period_start": result.period_start.isoformat(),
        "period_end": result.period_end.isoformat(),
        "workbook": str(result.workbook),
        "csv": [str(p) for p in result.csv_files],
        "report": str(result.report) if result.report else None,
    }
