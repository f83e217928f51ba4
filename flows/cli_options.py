"""What every `joinedup` command shares: its options, their date parsing, the consoles and the
logging setup, declared once so that `--home` or `--as-of` means the same in every command.

Command modules import from here and never from `flows.cli`, which imports them all to build the
app: that keeps the imports running one way.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.home import DEFAULT_HOME, HOME_ENV

console = Console()
# tables of run ids and checksums, which must not be cut short to fit a narrow terminal
wide_console = Console(width=200)
# `joinedup link`'s messages and progress bar: its results are files, so stdout stays empty
stderr_console = Console(stderr=True)

HOME_DEFAULT = f"default: ${HOME_ENV} or ./{DEFAULT_HOME}"
HOME_HELP = f"The partnership's working directory ({HOME_DEFAULT})."

HomeOption = Annotated[Path | None, typer.Option("--home", help=HOME_HELP)]
MapsHomeOption = Annotated[Path | None, typer.Option(
    "--home", help=f"Home directory whose own column maps are used as well as the built-in "
                   f"maps ({HOME_DEFAULT}).")]
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Reporting date YYYY-MM-DD: the period is the 12 months ending on it "
                    "(default: the last day of the previous month).")]
RebuildAsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Reporting date YYYY-MM-DD (default: the last published run's).")]
ExtractDateOption = Annotated[str | None, typer.Option(
    "--as-of", help="Extract date YYYY-MM-DD for the 'not in the future' and age rules "
                    "(default: today).")]
QuarterOption = Annotated[str | None, typer.Option(
    "--quarter", help="Calendar quarter such as 2026Q3 (default: the last complete quarter).")]


def option_date(text: str | None) -> date | None:
    """A YYYY-MM-DD option's value, or a usage error naming what was given."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a date in the form YYYY-MM-DD") from None


NOISY_LOGGERS = ("httpx", "recordlinkage", "great_expectations")


def setup_logging() -> None:
    """Counts and stages at INFO; the HTTP chatter between Prefect and its API server and the
    libraries' own progress messages only when something goes wrong."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def checked_settings(home):
    """The home's settings, or the reason they (or the home's column maps) cannot be used and
    exit code 2: checked before a command starts any work (a run refuses a misspelt key or a
    broken map in a second, not at its link step)."""
    from flows.settings import SettingsError, load_home_settings
    from sources.column_maps import MapError, load_maps

    try:
        settings = load_home_settings(home)
        load_maps([home.maps])
        return settings
    except (SettingsError, MapError) as exc:
        stderr_console.print(f"[red]{exc}[/red]", markup=True, highlight=False,
                             soft_wrap=True)      # a path cut in two cannot be copied
        raise typer.Exit(2) from None


def _known_profile(name: str) -> str:
    from sources.synth.config import profiles

    if name not in profiles():
        raise typer.BadParameter(f"no profile {name!r}; use one of {', '.join(profiles())}")
    return name


ProfileOption = Annotated[str, typer.Option(
    callback=_known_profile,
    help="Recording-error rates: standard, or stress (as high as real agency data; "
         "sources/synth/data/profiles.yaml).")]

FORMAT_HELP = ("statutory (social care as a CIN census XML and an SSDA903 set, school as termly "
               "school census sets; police and YOT in their suppliers' layouts), native (every "
               "agency in its supplier's layout) or parquet (the native tables as Parquet)")


def _known_format(name: str) -> str:
    from sources.synth import FORMATS

    if name not in FORMATS:
        raise typer.BadParameter(f"no format {name!r}; use one of {', '.join(FORMATS)}")
    return name


def _known_census_year(year: int | None) -> int | None:
    from sources.statutory.specs import spec

    years = spec("cin_census")["years"]
    if year is not None and not years["first"] <= year <= years["last"]:
        raise typer.BadParameter(f"the CIN census schema years are {years['first']} to "
                                 f"{years['last']}")
    return year


FormatOption = Annotated[str, typer.Option("--format", callback=_known_format, help=FORMAT_HELP)]
CensusYearOption = Annotated[int | None, typer.Option(
    "--census-year", callback=_known_census_year,
    help="Schema year of the statutory returns (default: the extract date's collection, at "
         "most the latest year known). Before 2025 sex is written as GenderCurrent, whose codes "
         "the DfE lists end on 31 March 2024, so later events are quarantined.")]


def parse_roles(pairs: list[str]) -> dict[str, str]:
    """`--map ROLE=COLUMN` options (`joinedup link`, `joinedup encode`) as role -> column."""
    roles = {}
    for item in pairs:
        role, sep, column = item.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise typer.BadParameter(f"--map {item!r}: write ROLE=COLUMN, e.g. dob=DateOfBirth")
        roles[role.strip()] = column.strip()
    return roles
