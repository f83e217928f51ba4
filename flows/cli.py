"""The `joinedup` command line."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import flows  # noqa: F401  (sets offline-friendly environment defaults before Prefect loads)
from flows.home import resolve_home

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Joined Up: link children's records across agencies and publish "
                       "suppressed counts of children presenting with CSE indicators.")
console = Console()

HomeOption = Annotated[Path | None, typer.Option(
    "--home", help="The partnership's working directory (default: $JOINEDUP_HOME or "
                   "./joinedup-home).")]
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Reporting date YYYY-MM-DD: the period is the 12 months ending on it "
                    "(default: the last day of the previous month).")]


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a date in the form YYYY-MM-DD") from None


NOISY_LOGGERS = ("httpx", "recordlinkage", "great_expectations")


def _logging() -> None:
    """Counts and stages at INFO; the HTTP chatter between Prefect and its API server and the
    libraries' own progress messages only when something goes wrong."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Directory to create (a ready home directory).")],
    children: Annotated[int, typer.Option(help="Children in the fictional population.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 42,
    as_of: AsOfOption = None,
    file_format: Annotated[str, typer.Option(
        "--format", help="native (each supplier's format) or parquet")] = "native",
) -> None:
    """Generate synthetic agency extracts (and their ground truth) for a fictional council."""
    from flows.steps import default_as_of
    from sources.synth import generate

    as_of_date = _date(as_of) or default_as_of(datetime.now(UTC).date())
    summary = generate(out, children=children, seed=seed, as_of=as_of_date,
                       file_format=file_format)
    console.print(f"wrote synthetic extracts for {children:,} children to {out}/inbox "
                  f"(truth in {out}/truth)")
    for path, rows in (summary.get("rows") or {}).items():
        console.print(f"  {path}: {rows:,} rows")


def _run(home_path: Path | None, as_of: date | None) -> dict:
    from flows.nightly import nightly
    from flows.summary import print_summary

    home = resolve_home(home_path).ensure()
    summary = nightly(home=str(home.root), as_of=as_of)
    print_summary(summary, console)
    return summary


@app.command()
def run(home: HomeOption = None, as_of: AsOfOption = None) -> None:
    """Run the nightly flow on the home directory's inbox and archive."""
    _logging()
    _run(home, _date(as_of))


@app.command()
def demo(
    home: HomeOption = None,
    children: Annotated[int, typer.Option(help="Children in the fictional population.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Generate synthetic extracts into the home's inbox and run the nightly flow on them."""
    from flows.steps import default_as_of
    from sources.synth import generate

    _logging()
    target = resolve_home(home).ensure()
    as_of = default_as_of(datetime.now(UTC).date())
    generate(target.root, children=children, seed=seed, as_of=as_of)
    console.print(f"generated synthetic extracts for {children:,} children in {target.inbox}")
    _run(target.root, as_of)


@app.command()
def evaluate(home: HomeOption = None) -> None:
    """Compare the published linkage with the synthetic generator's truth (pairwise P/R/F1)."""
    import pandas as pd

    from linkage import evaluate_pairs
    from warehouse.db import connect

    target = resolve_home(home)
    truth_file = target.truth / "records.csv"
    if not truth_file.exists():
        raise typer.BadParameter(f"{truth_file} not found: evaluate needs a home made by "
                                 "`joinedup demo` or `joinedup synth`")
    if not target.live.exists():
        raise typer.BadParameter(f"{target.live} not found: run `joinedup run` first")
    truth = pd.read_csv(truth_file, dtype=str)
    truth["record_key"] = truth["source"] + ":" + truth["person_ref"]
    con = connect(target.live, read_only=True)
    try:
        predicted = con.execute("SELECT record_key, person_id FROM linkage.person").df()
    finally:
        con.close()
    truth = truth[truth["record_key"].isin(predicted["record_key"])]
    scores = evaluate_pairs(predicted, truth.rename(columns={"child_id": "cluster"}))
    console.print(f"records={len(predicted):,} true_pairs={scores['tp'] + scores['fn']:,} "
                  f"tp={scores['tp']:,} fp={scores['fp']:,} fn={scores['fn']:,}")
    console.print(f"precision={scores['precision']:.4f} recall={scores['recall']:.4f} "
                  f"F1={scores['f1']:.3f}")


from flows.cli_sources import sources_app  # noqa: E402, I001
app.add_typer(sources_app, name="sources")
from flows.cli_link import link  # noqa: E402, I001
app.command()(link)
from flows.cli_review import review_app  # noqa: E402, I001
app.add_typer(review_app, name="review")

from flows.cli_ops import rebuild, rollback, runs, serve  # noqa: E402, I001
for _command in (runs, rollback, rebuild, serve):
    app.command()(_command)

from flows.cli_publication import return_command, report_command, sql_command  # noqa: E402, I001
app.command("return")(return_command)
app.command("report")(report_command)
app.command("sql")(sql_command)


if __name__ == "__main__":
    app()
