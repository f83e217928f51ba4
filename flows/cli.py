"""The `joinedup` command line: the app, its pipeline commands (`synth`, `run`, `demo`,
`evaluate`) and the registration of every other module's commands, in the order `--help` lists
them.

Command modules take their options from `flows.cli_options` and never import this module, so the
imports run one way: this module is the only one that knows every command.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

import flows  # noqa: F401  (sets offline-friendly environment defaults before Prefect loads)
from flows import cli_encode, cli_link, cli_ops, cli_publication, cli_review, cli_sources
from flows.cli_options import (
    AsOfOption,
    CensusYearOption,
    FormatOption,
    HomeOption,
    ProfileOption,
    checked_settings,
    console,
    option_date,
    setup_logging,
    stderr_console,
)
from flows.home import Home, resolve_home
from flows.progress import RUN_STAGES, START_FLOW, showing, stage

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Joined Up: link children's records across agencies and publish "
                       "suppressed counts of children presenting with CSE indicators.")


DEMO_SETTINGS = Path(__file__).with_name("demo_home.yaml")
# where `synth` writes the returns a partnership sends instead of the inbox's (Annex A)
ALTERNATIVES = "alternative_inbox"



def write_demo_settings(home: Home) -> None:
    """A synthetic home gets the demo's settings (its partnership's name), never over a
    partnership's own file."""
    home.root.mkdir(parents=True, exist_ok=True)
    if not home.settings_file.exists():
        home.settings_file.write_text(DEMO_SETTINGS.read_text(encoding="utf-8"),
                                      encoding="utf-8")


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Directory to create (a ready home directory).")],
    children: Annotated[int, typer.Option(help="Children in the fictional population.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files.")] = 42,
    as_of: AsOfOption = None,
    file_format: FormatOption = "statutory",
    census_year: CensusYearOption = None,
    profile: ProfileOption = "standard",
) -> None:
    """Generate synthetic agency extracts (and their ground truth) for a fictional council."""
    from sources.common.periods import default_as_of
    from sources.synth import generate

    target = Home(out)
    as_of_date = option_date(as_of) or default_as_of(datetime.now(UTC).date())
    setup_logging()
    with showing("synth", stderr_console):
        summary = generate(target.inbox, target.truth_records, target.population,
                           children=children, seed=seed, as_of=as_of_date,
                           file_format=file_format, profile=profile,
                           census_year=census_year, alternatives=target.root / ALTERNATIVES,
                           on_stage=stage)
    write_demo_settings(target)
    console.print(f"wrote synthetic extracts for {children:,} children to {target.inbox} "
                  f"(truth in {target.truth})")
    for path, rows in (summary.get("rows") or {}).items():
        shown = path if path.startswith(ALTERNATIVES) else target.inbox.relative_to(
            target.root) / path
        console.print(f"  {shown}: {rows:,} rows")


def _run(home_path: Path | None, as_of: date | None) -> dict:
    from flows.cli_errors import INTERRUPTED_EXIT, plain_failures, refuse_if_running

    home = resolve_home(home_path).ensure()
    checked_settings(home)            # before Prefect and Great Expectations load (seconds)
    with plain_failures(home.root):
        refuse_if_running(home)
    stage(START_FLOW)
    try:
        from flows.nightly import nightly  # Prefect and Great Expectations: seconds
    except KeyboardInterrupt:
        stderr_console.print("interrupted before the run started: nothing was changed",
                             style="red", highlight=False)
        raise typer.Exit(INTERRUPTED_EXIT) from None
    with plain_failures(home.root):
        return nightly(home=str(home.root), as_of=as_of)


@app.command()
def run(home: HomeOption = None, as_of: AsOfOption = None) -> None:
    """Run the nightly flow on the home directory's inbox and archive."""
    from flows.summary import print_summary

    setup_logging()
    with showing("run", stderr_console, total=len(RUN_STAGES)):
        summary = _run(home, option_date(as_of))
    print_summary(summary, console)


@app.command()
def demo(
    home: HomeOption = None,
    children: Annotated[int, typer.Option(help="Children in the fictional population.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    profile: ProfileOption = "standard",
    file_format: FormatOption = "statutory",
    census_year: CensusYearOption = None,
) -> None:
    """Generate synthetic extracts into the home's inbox and run the nightly flow on them."""
    from flows.summary import print_summary
    from sources.common.periods import default_as_of
    from sources.synth import generate

    setup_logging()
    target = resolve_home(home).ensure()
    write_demo_settings(target)
    as_of = default_as_of(datetime.now(UTC).date())
    with showing("demo", stderr_console) as display:
        generate(target.inbox, target.truth_records, target.population, children=children,
                 seed=seed, as_of=as_of, profile=profile, file_format=file_format,
                 census_year=census_year, alternatives=target.root / ALTERNATIVES,
                 on_stage=lambda name, n: stage(f"synth: {name}", n + len(RUN_STAGES)))
        display.console.print(f"generated synthetic extracts for {children:,} children in "
                              f"{target.inbox}")
        summary = _run(target.root, as_of)
    print_summary(summary, console)


@app.command()
def evaluate(home: HomeOption = None) -> None:
    """Compare the published linkage with the synthetic generator's truth (pairwise P/R/F1)."""
    from linkage.evaluate import evaluate_against_truth
    from warehouse.db import connect

    target = resolve_home(home)
    truth_file = target.truth_records
    if not truth_file.exists():
        raise typer.BadParameter(f"{truth_file} not found: evaluate needs a home made by "
                                 "`joinedup demo` or `joinedup synth`")
    if not target.live.exists():
        raise typer.BadParameter(f"{target.live} not found: run `joinedup run` first")
    con = connect(target.live, read_only=True)
    try:
        scores = evaluate_against_truth(con, truth_file)
    finally:
        con.close()
    console.print(f"records={scores['published_records']:,} true_pairs={scores['true_pairs']:,} "
                  f"tp={scores['tp']:,} fp={scores['fp']:,} fn={scores['fn']:,}")
    console.print(f"precision={scores['precision']:.4f} recall={scores['recall']:.4f} "
                  f"F1={scores['f1']:.3f}")


app.add_typer(cli_sources.sources_app, name="sources")
app.command()(cli_link.link)
app.command()(cli_encode.encode)
app.add_typer(cli_review.review_app, name="review")
for _command in (cli_ops.runs, cli_ops.rollback, cli_ops.rebuild, cli_ops.serve):
    app.command()(_command)
app.command("return")(cli_publication.return_command)
app.command("report")(cli_publication.report_command)
app.command("sql")(cli_publication.sql_command)


if __name__ == "__main__":
    app()
