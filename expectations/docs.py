"""Data Docs: the static HTML pages Great Expectations renders from suites and validation results.

Each run writes one site, a folder named for the run inside the home's Data Docs folder, whose
index page lists every extract validated in that run (its suite and how many rows broke each
rule); the Data Docs folder's own index page lists the runs, newest first: that is the page to
open. Only counts and percentages are kept in the results rendered there: the unexpected values
GX would otherwise show (names, dates of birth, postcodes...) are stripped first, because the
pages are meant to be opened in a browser and passed around. The quarantine tables in the
warehouse hold the values.

GX 1.x pages load Bootstrap, jQuery, bootstrap-table, Font Awesome, Vega and its logo from CDNs
and S3, and its index page builds its tables with those scripts, so offline (where a council's
analysts often are) the GX index shows no results at all. Joined Up therefore removes every
remote script, stylesheet and image from the pages GX writes, links Joined Up's one stylesheet
(copied into each site), and writes its own script-free index pages from the templates beside
this module; the test suite checks that every link resolves to a local file.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import threading
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)
from great_expectations.exceptions import DataContextError  # noqa: E402
from great_expectations.render.view import DefaultJinjaPageView  # noqa: E402
from jinja2 import BytecodeCache  # noqa: E402

from expectations.context import ephemeral_context  # noqa: E402
from sources.common.html import STYLESHEET, Pages  # noqa: E402

SITE = "joinedup"
MANIFEST = "joinedup-validations.json"      # per run: one entry per extract, counts only
PAGES = Pages(Path(__file__).parent / "templates")
LOGO = "static/images/logo-long.png"        # shipped by GX into every site's static folder
SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>", re.S | re.I)
REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>", re.I)
REMOTE_IMG = re.compile(r"(<img\b[^>]*\bsrc=)[\"']https?://[^\"']*[\"']", re.I)
REMOTE_CSS_URL = re.compile(r"url\(\s*['\"]?https?://[^)'\"]*['\"]?\s*\)", re.I)
# GX 1.24 writes the favicon link of validation pages one folder too shallow; every relative link
# into the site's static folder is re-rooted at the page's real depth
LOCAL_STATIC = re.compile(r"(\b(?:href|src)=[\"'])(?:\.\./)*static/", re.I)
_lock = threading.Lock()
# result keys that hold counts only; everything else (unexpected values, index lists, queries)
# is dropped before rendering
COUNT_KEYS = {"element_count", "missing_count", "missing_percent", "unexpected_count",
              "unexpected_percent", "unexpected_percent_total", "unexpected_percent_nonmissing"}


class CompiledTemplates(BytecodeCache):
    """GX makes a new Jinja environment for every page it writes, recompiling each of its
    templates (most of the time a page took); their compiled code is kept for the process."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if (code := self._code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


COMPILED = CompiledTemplates()


class PageView(DefaultJinjaPageView):
    """GX's page view, with its templates compiled once per process (named in the site config)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED


@cache
def _docs_context(base_directory: str):
    context = ephemeral_context()
    view = {"module_name": __name__, "class_name": PageView.__name__}
    context.add_data_docs_site(site_name=SITE, site_config={
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "site_section_builders": {"expectations": {"view": view},
                                  "validations": {"view": view}},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": base_directory},
    })
    return context


def without_values(result):
    """A copy of a suite validation result with counts only (no value from the data)."""
    clean = copy.deepcopy(result)
    for res in clean.results:
        res.result = {k: v for k, v in (res.result or {}).items() if k in COUNT_KEYS}
    for key in ("batch_spec", "batch_markers"):
        clean.meta.pop(key, None)
    return clean


def write_data_docs(folder: Path, suite: gx.ExpectationSuite, result, batch_label: str,
                    counts: dict | None = None) -> Path:
    """Add one extract's validation to the run's Data Docs site and rebuild its index.

    `folder` is the run's site, a folder inside the Data Docs folder, whose index (listing every
    run's site in it) is rebuilt too. `batch_label` names the extract on the pages (a file name
    and checksum, never data); `counts` (rows in / quarantined / warned, rows per failed rule)
    goes on the run's index.
    """
    with _lock:
        return _write(folder, suite, result, batch_label, counts or {})


def _write(folder: Path, suite, result, batch_label: str, counts: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    context = _docs_context(str(folder.resolve()))
    with contextlib.suppress(DataContextError):   # replacing in place would compare
        context.suites.delete(suite.name)          # expectation by expectation: far slower
    # from its JSON form: copying the bound suite's expectations copies the validating context
    context.suites.add(gx.ExpectationSuite(**suite.to_json_dict()))
    run_id = result.meta.get("run_id")
    if not isinstance(run_id, RunIdentifier):
        run_id = RunIdentifier(run_name=suite.name)
    suite_id = ExpectationSuiteIdentifier(name=suite.name)
    # the store refuses a key holding a slash or a backslash (an escaped file name has
    # backslashes: sources.common.names)
    page_name = batch_label.replace("\\", "%").replace("/", "%")
    key = ValidationResultIdentifier(expectation_suite_identifier=suite_id, run_id=run_id,
                                     batch_identifier=page_name)
    context.validation_results_store.set(key, without_values(result))
    # only the new pages: the ones written for earlier extracts stay as they are, and the index
    # pages are Joined Up's own (below)
    context.build_data_docs(site_names=[SITE], resource_identifiers=[suite_id, key],
                            build_index=False)
    entries = _manifest(folder)
    listed = {e["page"] for e in entries}
    results = (folder / "validations").joinpath(*suite.name.split("."))
    pages = sorted(p.relative_to(folder).as_posix() for p in results.rglob("*.html")
                   if p.name == f"{page_name}.html")
    stats = result.statistics or {}
    entries.append({
        "suite": suite.name,
        "suite_page": "expectations/" + "/".join(suite.name.split(".")) + ".html",
        "extract": batch_label,
        "page": next((p for p in pages if p not in listed), pages[-1] if pages else ""),
        "success": bool(result.success),
        "expectations": int(stats.get("evaluated_expectations") or 0),
        "expectations_failed": int(stats.get("unsuccessful_expectations") or 0),
        **{k: counts[k] for k in ("rows_in", "rows_quarantined", "rows_warned", "rules")
           if k in counts},
    })
    (folder / MANIFEST).write_text(json.dumps(entries, indent=1))
    make_offline(folder)
    (folder / "index.html").write_text(run_index(folder.name, entries))
    (folder.parent / "index.html").write_text(runs_index(folder.parent))
    os.chmod(folder, 0o700)
    return folder / "index.html"


def _manifest(folder: Path) -> list[dict]:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else []


def make_offline(folder: Path) -> None:
    """Strip remote scripts, stylesheets and images from GX's pages; link the local stylesheet."""
    styles = folder / "static" / "styles"
    styles.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(STYLESHEET, styles / STYLESHEET.name)
    for page in folder.rglob("*.html"):
        if page.parent == folder and page.name == "index.html":
            continue                                  # replaced by run_index below
        text = page.read_text()
        up = "../" * (len(page.relative_to(folder).parts) - 1)
        local = f'<link rel="stylesheet" href="{up}static/styles/{STYLESHEET.name}">'
        done = SCRIPT.sub("", text)
        done = REMOTE_LINK.sub("", done)
        done = REMOTE_IMG.sub(rf'\g<1>"{up}{LOGO}"', done)
        done = REMOTE_CSS_URL.sub(f"url('{up}{LOGO}')", done)
        done = LOCAL_STATIC.sub(rf"\g<1>{up}static/", done)
        if local not in done:
            done = done.replace("</head>", f"  {local}\n</head>", 1)
        if done != text:
            page.write_text(done)


def run_index(run_id: str, entries: list[dict]) -> str:
    """One run's extracts with their counts and failed rules, as plain HTML (no script)."""
    return PAGES.render("run_index.html.j2", run_id=run_id, entries=entries)


def runs_index(root: Path) -> str:
    """The Data Docs folder's index page: every run with Data Docs, newest first."""
    runs = []
    for run in sorted((p for p in root.iterdir() if (p / MANIFEST).exists()),
                      key=lambda p: p.name, reverse=True):
        entries = _manifest(run)
        runs.append({"name": run.name, "extracts": len(entries),
                     "rows_in": sum(e.get("rows_in", 0) for e in entries),
                     "rows_quarantined": sum(e.get("rows_quarantined", 0) for e in entries)})
    return PAGES.render("runs_index.html.j2", runs=runs,
                        written=f"{datetime.now(UTC):%Y-%m-%d %H:%M}")
