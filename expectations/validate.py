"""Running a suite on a mapped extract and splitting its rows into loaded and quarantined.

GX validates pandas DataFrames (it cannot validate DuckDB tables through SQLAlchemy as shipped),
so extracts are validated after mapping and before loading: a row that breaks a critical
expectation never reaches the warehouse, and the quarantine says which rule, column and value.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from expectations import dfe_rules
from expectations.context import ephemeral_context
from expectations.suites import add_helper_columns, build_suite
from sources.mapping import MappedExtract

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx  # noqa: E402
from great_expectations.expectations.expectation_configuration import (  # noqa: E402
    ExpectationConfiguration,
)

ROW = "_row"
COUNTS = {"result_format": "BASIC"}
ROWS = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW]}
log = logging.getLogger(__name__)


@dataclass
class Validation:
    """Outcome of validating one extract; failures hold raw values and stay in the linkage zone."""

    good: pd.DataFrame
    failures: pd.DataFrame          # row_number, column_name, rule, value, severity
    quarantined_rows: list[int]
    warnings: dict[str, int] = field(default_factory=dict)   # rule -> rows (not quarantined)
    warned: pd.DataFrame | None = None   # row_number, column_name, rule of warnings (no values)
    expectations: int = 0
    success: bool = True
    data_docs: Path | None = None   # index.html of the run's Data Docs site, when written


def _batch_definition(context, asset_name: str):
    source = context.data_sources.add_pandas(name="extracts")
    return source.add_dataframe_asset(name=asset_name).add_batch_definition_whole_dataframe(
        "whole")


def _run(context, batch_definition, suite, frame: pd.DataFrame, result_format: dict):
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite))
    return definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)


def _unbound(config: ExpectationConfiguration):
    """The expectation a result was for, free of the suite it ran in."""
    return ExpectationConfiguration(type=config.type, kwargs=config.kwargs, meta=config.meta,
                                    severity=config.severity).to_domain_obj()


def suite_columns(suite: gx.ExpectationSuite) -> set[str]:
    """The columns some expectation of the suite reads."""
    return {e.configuration.kwargs[key] for e in suite.expectations
            for key in ("column", "column_A", "column_B") if key in e.configuration.kwargs}


def _as_object(values: pd.Series) -> np.ndarray:
    """A column as GX handles it: nullable text, flags and integers as objects with None for
    a missing value; an object column as it is."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype | pd.BooleanDtype) or str(dtype) == "Int64":
        return values.to_numpy(dtype=object, na_value=None)
    return values.to_numpy()


def validation_frame(mapped: MappedExtract, reads: set[str] | None = None) -> pd.DataFrame:
    """A consolidated copy with plain dtypes GX handles, the file row number as a column, and
    the helper columns the suite reads; with `reads`, only those columns (GX copies the frame
    for each metric it computes, so columns no rule reads cost memory and time many times).

    The object columns are written straight into one block (copying and consolidating forty
    single-column blocks for each metric was a fifth of validation time), one column at a
    time: converting them all and then consolidating held three copies of a 750,000-row
    return's text at once, most of its validation memory. A text column with no value in any
    row is an empty categorical instead (every check on it sees nulls, as before), since GX
    copies the whole frame for each pair check."""
    frame = mapped.frame.copy(deep=False)      # helper columns are added to this copy only
    add_helper_columns(frame, mapped.kind, mapped.code_lists)
    dfe_rules.add_helper_columns(frame, mapped.source, dfe_rules.rules_for(mapped.map_name))
    # the columns are picked, never the frame subset (which copies every one of them)
    names = [c for c in frame.columns if reads is None or c in reads]
    typed = [c for c in names if frame[c].dtype.kind in "bifmM"
             and not isinstance(frame[c].dtype, pd.BooleanDtype) and str(frame[c].dtype)
             != "Int64"]
    empty = [c for c in names if c not in typed and frame[c].isna().all()]
    texts = [c for c in names if c not in typed and c not in empty]
    block = np.empty((len(frame), len(texts)), dtype=object)
    for i, col in enumerate(texts):
        block[:, i] = _as_object(frame[col])
    out = pd.DataFrame(block, columns=texts, copy=False)
    for col in typed:
        out[col] = frame[col].to_numpy()
    for col in empty:      # a column no row fills (most helper columns) costs a byte a row
        out[col] = pd.Categorical(np.full(len(frame), None, dtype=object))
    out[ROW] = frame.index.astype(int)
    return out


def validate_extract(mapped: MappedExtract, as_of: date, suite_name: str,
                     settings: dict | None = None, docs_dir: Path | None = None,
                     batch_label: str = "") -> Validation:
    """Validate, and with `docs_dir` add the result (counts only) to that Data Docs site."""
    # a new context each time (about 10 ms): replacing a suite in a kept one compares every
    # expectation with its predecessor, ten times slower than adding it afresh
    context = ephemeral_context()
    suite = context.suites.add(
        build_suite(mapped.kind, mapped.columns, as_of, suite_name, settings,
                    code_lists=mapped.code_lists, dfe=dfe_rules.rules_for(mapped.map_name)))
    batch_definition = _batch_definition(context, suite_name)
    frame = validation_frame(mapped, suite_columns(suite))
    # every rule counted first; only the rules some row broke run again for those rows (listing
    # them doubles GX's cost per rule, and almost every rule passes)
    result = _run(context, batch_definition, suite, frame, COUNTS)
    broken = [res for res in result.results if not res.success]
    for res in broken:
        if res.exception_info and res.exception_info.get("raised_exception"):
            config = res.expectation_config
            rule = (config.meta or {}).get("rule", config.type)
            raise RuntimeError(f"validation rule '{rule}' could not run: "
                               f"{res.exception_info.get('exception_message')}")
    if broken:
        again = context.suites.add(gx.ExpectationSuite(
            name=f"{suite_name}.broken",
            expectations=[_unbound(res.expectation_config) for res in broken]))
        broken = _run(context, batch_definition, again, frame, ROWS).results
    records, warnings, warned = [], {}, []
    for res in broken:
        config = res.expectation_config
        meta = config.meta or {}
        rule, column = meta.get("rule", config.type), meta.get("column")
        rows = [d[ROW] for d in res.result.get("unexpected_index_list") or []]
        if str(config.severity) in ("warning", "FailureSeverity.WARNING", "info"):
            warnings[rule] = len(rows)
            warned += [{"row_number": int(row), "column_name": column, "rule": rule}
                       for row in rows]
            continue
        raw_col = f"{column}_raw" if column and f"{column}_raw" in mapped.frame else None
        for row in rows:
            value = mapped.frame.at[row, raw_col] if raw_col else None
            records.append({"row_number": int(row), "column_name": column, "rule": rule,
                            "value": None if pd.isna(value) else str(value)})
    failures = pd.DataFrame(records, columns=["row_number", "column_name", "rule", "value"])
    bad = sorted(set(failures["row_number"]))
    good = mapped.frame.drop(index=bad) if bad else mapped.frame     # no copy when all pass
    docs = None
    if docs_dir is not None:
        from expectations.docs import write_data_docs

        warned_frame = pd.DataFrame(warned, columns=["row_number", "column_name", "rule"])
        counts = {
            "rows_in": len(mapped.frame), "rows_quarantined": len(bad),
            "rows_warned": int(warned_frame["row_number"].nunique()),
            "rules": {**failures.groupby("rule")["row_number"].nunique().astype(int).to_dict(),
                      **{rule: int(n) for rule, n in warnings.items()}},
        }
        docs = write_data_docs(docs_dir, suite, result, batch_label or suite_name, counts)
    log.info("validated %s: %d rows, %d quarantined, %d expectations", suite_name,
             len(mapped.frame), len(bad), len(result.results))
    return Validation(good=good, failures=failures, quarantined_rows=bad, warnings=warnings,
                      warned=pd.DataFrame(warned, columns=["row_number", "column_name", "rule"]),
                      expectations=len(result.results), success=not bad, data_docs=docs)
