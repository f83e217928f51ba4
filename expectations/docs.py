"""Data Docs: the static HTML pages Great Expectations renders from suites and validation results.

Each run writes one site into the home directory, `<home>/data-docs/<run id>/index.html`, listing
every extract validated in that run (its suite and how many rows broke each rule). Only counts and
percentages are kept in the results rendered there: the unexpected values GX would otherwise show
(names, dates of birth, postcodes...) are stripped first, because the pages are meant to be opened
in a browser and passed around. The quarantine tables in the warehouse hold the values.

Offline, the pages render unstyled (GX links its CSS and scripts from CDNs); all the content is
there.
"""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

SITE = "joinedup"
DOCS_FOLDER = "data-docs"
# result keys that hold counts only; everything else (unexpected values, index lists, queries)
# is dropped before rendering
COUNT_KEYS = {"element_count", "missing_count", "missing_percent", "unexpected_count",
              "unexpected_percent", "unexpected_percent_total", "unexpected_percent_nonmissing"}


def docs_dir(home_root: Path, run_id: str) -> Path:
    return home_root / DOCS_FOLDER / run_id


@cache
def _docs_context(base_directory: str):
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except ImportError:  # progress bars are cosmetic
        pass
    context.add_data_docs_site(site_name=SITE, site_config={
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
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


def write_data_docs(folder: Path, suite: gx.ExpectationSuite, result, batch_label: str) -> Path:
    """Add one extract's validation to the run's Data Docs site and rebuild its index.

    `batch_label` names the extract on the pages (a file name and checksum, never data).
    """
    folder.mkdir(parents=True, exist_ok=True)
    context = _docs_context(str(folder.resolve()))
    context.suites.add_or_update(gx.ExpectationSuite(
        name=suite.name, expectations=[copy.copy(e) for e in suite.expectations], meta=suite.meta))
    run_id = result.meta.get("run_id")
    if not isinstance(run_id, RunIdentifier):
        run_id = RunIdentifier(run_name=suite.name)
    suite_id = ExpectationSuiteIdentifier(name=suite.name)
    key = ValidationResultIdentifier(expectation_suite_identifier=suite_id, run_id=run_id,
                                     batch_identifier=batch_label)
    context.validation_results_store.set(key, without_values(result))
    context.build_data_docs(site_names=[SITE])
    os.chmod(folder, 0o700)
    return folder / "index.html"
