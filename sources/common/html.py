"""Pages for people: every HTML page Joined Up writes (the quarterly report, the linkage model
report, the Data Docs index pages) is a Jinja2 template extending one layout with one stylesheet.

Each page is read offline, on locked-down machines, and passed around or attached to audit
records, so the layout inlines the stylesheet and pages load nothing from anywhere: no script,
font or link to fetch. Autoescaping is on, so a value from a file (a partnership's name, a
supplier's label) is always text on the page, never markup; a chart drawn in Python is handed
over as `Markup`, built with `svg()` so that its own text is escaped too.

A package keeps its page templates in its own folder and names it here (`Pages(folder)`): this
module knows the layout, not the pages, so no layer reaches into another's package.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = TEMPLATES / "joinedup.css"
# the statistical symbols of published tables: suppressed, not available, not applicable
SYMBOLS = ("c", ":", "z")

__all__ = ["STYLESHEET", "Markup", "Pages", "svg"]


def _blank_none(value: object) -> object:
    """A missing value prints as an empty cell, never as "None"."""
    return "" if value is None else value


def _is_figure(value: object) -> bool:
    """A number or a statistical symbol: right-aligned in tables."""
    if str(value) in SYMBOLS:
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _thousands(value: int | float) -> str:
    return f"{value:,}"


@cache
def _stylesheet() -> Markup:
    return Markup(STYLESHEET.read_text(encoding="utf-8"))


@cache
def _environment(folder: Path) -> Environment:
    loader = ChoiceLoader([FileSystemLoader(folder), FileSystemLoader(TEMPLATES)])
    env = Environment(loader=loader, autoescape=True, undefined=StrictUndefined,
                      finalize=_blank_none, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.globals["stylesheet"] = _stylesheet
    env.filters["thousands"] = _thousands
    env.tests["figure"] = _is_figure
    return env


class Pages:
    """The page templates in one package's folder; they extend `layout.html.j2` and may import
    the shared macros of `tables.html.j2`."""

    def __init__(self, folder: Path):
        self._env = _environment(folder.resolve())

    def render(self, template_name: str, /, **context: object) -> str:
        return self._env.get_template(template_name).render(**context)


def svg(template: str, *args: object, **kwargs: object) -> Markup:
    """A piece of a drawing: `template` is trusted markup, every argument is escaped."""
    return Markup(template).format(*args, **kwargs)
