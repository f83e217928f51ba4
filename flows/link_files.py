"""The linkage engine on files outside any home directory: what `joinedup link` does once its
options are read.

The records go into a DuckDB file in a private temporary folder rather than memory, so that a
million records fit a small machine (DuckDB evicts to the file beyond its memory limit). They
hold names and dates of birth, so the folder is the owner's alone and is removed afterwards.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sources.common.yamlfiles import read_yaml
from sources.errors import ExtractError

RECORDS_TABLE = "link_records"
NAME_ROLES = ("first_name", "middle_names", "last_name", "full_name")
CLUSTERS_SQL = f"""
SELECT r.source, r.record_id, p.person_id
FROM {RECORDS_TABLE} r JOIN linkage.person p USING (record_key)
ORDER BY r.source, r.record_id
"""
PAIRS_SQL = f"""
SELECT l.source AS source_l, l.record_id AS record_id_l, r.source AS source_r,
       r.record_id AS record_id_r, round(p.match_probability, 6) AS match_probability,
       p.match_rule, round(p.match_weight, 3) AS match_weight,
       round((SELECT match_weight FROM linkage.model WHERE comparison = '_prior'
              AND label = 'lambda'), 3) AS weight_prior,
       round(COLUMNS('^weight_'), 3)
FROM linkage.pair p
JOIN {RECORDS_TABLE} l ON l.record_key = p.record_key_l
JOIN {RECORDS_TABLE} r ON r.record_key = p.record_key_r
WHERE p.blocking_rule <> 'cluster_check'
ORDER BY source_l, record_id_l, source_r, record_id_r
"""
MODEL_SQL = "SELECT * FROM linkage.model"


class LinkFilesError(ValueError):
    """The files or settings cannot be linked as given; the message says why."""


@dataclass(frozen=True)
class LinkOutputs:
    """The files a link writes: the clusters, with the model's parameters and report beside
    them, and the scored pairs if asked for (with each comparison's part of the match weight,
    weight_<comparison>, beside the prior's: why the pair scored as it did)."""

    clusters: Path
    pairs: Path | None = None

    @property
    def model(self) -> Path:
        return self.clusters.with_name(self.clusters.stem + ".model.csv")

    @property
    def model_report(self) -> Path:
        return self.clusters.with_name(self.clusters.stem + ".model.html")


@dataclass(frozen=True)
class FilesRead:
    records: int
    unparsed_dates: int              # dates of birth in no known form, compared as text
    extras: list[str]                # the extra columns compared
    partial_dates: int = 0           # dates of birth with only a year, or a year and month
    encoded_files: int = 0           # files of encodings (sources/encoding/)
    encoded_here: int = 0            # clear files encoded in memory to be linked with them


@contextmanager
def link_database(memory_limit: str) -> Iterator:
    """A connection to a DuckDB file in a private temporary folder, both gone on exit."""
    from warehouse.db import connect

    with (tempfile.TemporaryDirectory(prefix="joinedup-link-") as work,
          closing(connect(Path(work) / "link.duckdb", memory_limit=memory_limit)) as con):
        yield con


def load_files(con, files: list[Path], id_column: str, roles: dict[str, str],
               extras: list[str], secret: bytes | None = None) -> FilesRead:
    """Read the files as person records into the link database; the frame is dropped once
    DuckDB holds its copy. The name columns are read as text and split into their parts by
    linkage.names (titles, ordinals, particles, a full name's middle names) before they are
    standardised. Encoded files (and clear files beside them) are read by `_load_encoded`."""
    from sources.encoding.records import is_encoded_file
    from sources.link_input import DOB_TEXT, extra_name, link_input

    encoded = [path for path in files if is_encoded_file(path)]
    if encoded:
        return _load_encoded(con, files, encoded, id_column, roles, extras, secret)

    names = {role: column for role, column in roles.items() if role in NAME_ROLES}
    carried = [c for c in dict.fromkeys(names.values()) if c not in extras]
    others = {role: column for role, column in roles.items() if role not in NAME_ROLES}
    try:
        prepared = link_input(files, id_column, others, [*extras, *carried])
    except (ExtractError, ValueError) as exc:
        raise LinkFilesError(str(exc)) from None
    records = _with_names(prepared.records, {r: extra_name(c) for r, c in names.items()})
    dropped = {extra_name(c) for c in carried}
    records, partial = _with_partial_dates(records.drop(columns=sorted(dropped)),
                                           extra_name(DOB_TEXT))
    if extra_name(DOB_TEXT) not in records:
        dropped.add(extra_name(DOB_TEXT))
    compared = [e for e in prepared.extras if e not in dropped]
    con.register("link_records_df", records)
    con.execute(f"CREATE TABLE {RECORDS_TABLE} AS SELECT * FROM link_records_df")
    con.unregister("link_records_df")
    return FilesRead(len(records), prepared.unparsed_dates - partial, compared, partial)


def _load_encoded(con, files: list[Path], encoded: list[Path], id_column: str,
                  roles: dict[str, str], extras: list[str], secret: bytes | None) -> FilesRead:
    """Encoded files, checked to share one schema and secret, and the clear files beside them
    encoded in memory with that schema (which needs the secret): the link database holds
    encodings only. An encoded file's id column is the one its schema names."""
    import pandas as pd

    from sources.encoding.records import encode_clear, encoded_records, same_encoding
    from sources.encoding.schema import EncodingError
    from sources.link_input import ROLES

    clear = [path for path in files if path not in encoded]
    if extras:
        raise LinkFilesError("--extra cannot be compared on encoded files: their other columns "
                             "are not identifiers; link without --extra")
    if clear and secret is None:
        names = ", ".join(p.name for p in clear)
        raise LinkFilesError(
            f"{names} in the clear and {', '.join(p.name for p in encoded)} "
            "encoded: give the partnership's encoding secret (--secret-file) to encode the clear "
            "files in memory with the same schema, or encode them with `joinedup encode`")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise LinkFilesError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
    if len({p.stem for p in files}) != len(files):
        raise LinkFilesError("each file must have its own name (the file name is the source)")
    try:
        schemas = same_encoding(encoded, secret)
        frames = [encoded_records(path, schema) for path, schema in zip(encoded, schemas,
                                                                         strict=True)]
        frames += [encode_clear(path, id_column, roles, schemas[0], secret) for path in clear]
    except (EncodingError, ExtractError) as exc:
        raise LinkFilesError(str(exc)) from None
    records = pd.concat(frames, ignore_index=True)
    con.register("link_records_df", records)
    con.execute(f"CREATE TABLE {RECORDS_TABLE} AS SELECT * FROM link_records_df")
    con.unregister("link_records_df")
    return FilesRead(len(records), 0, [], encoded_files=len(encoded), encoded_here=len(clear))


def _with_partial_dates(records, text_column: str):
    """Dates of birth that no full-date form read but that hold a year (and a month) become
    partial dates (linkage.dates); the rest stay text. (records, partial dates found)."""
    if text_column not in records:
        return records, 0
    from linkage.dates import partial_dates

    parsed = partial_dates(records[text_column])
    found = parsed["dob"].notna()
    out = records.copy()
    out["dob"] = out["dob"].where(~found, parsed["dob"])
    out["dob_precision"] = parsed["dob_precision"]
    out[text_column] = out[text_column].where(~found, None)
    if out[text_column].isna().all():
        out = out.drop(columns=[text_column])
    return out, int(found.sum())


def _with_names(records, columns: dict[str, str]):
    """The records with their standardised name parts and the aliases a full name implies."""
    from linkage.names import person_names
    from sources import standardise

    def given(role: str):
        return records[columns[role]] if role in columns else None

    parts = person_names(given("first_name"), given("middle_names"), given("last_name"),
                         given("full_name"), records.index)
    out = records.copy()
    for role in ("first_name", "middle_names", "last_name"):
        if role in columns or "full_name" in columns:
            out[role] = standardise.name(parts[role].astype("string"))
    for alias in ("alias_first_names", "alias_last_names"):
        flat = parts[alias].explode()
        clean = standardise.name(flat.astype("string")).dropna()
        out[alias] = clean.groupby(level=0).agg(list).reindex(out.index)
    return out


def link_settings(settings_file: Path | None, extras: list[str],
                  threshold: float | None) -> dict:
    """Overrides of linkage/settings.yaml: the user's file, the extra columns read, and the
    threshold if given."""
    settings: dict = {}
    if settings_file is not None:
        loaded = read_yaml(settings_file) or {}
        if not isinstance(loaded, dict):
            raise LinkFilesError(f"{settings_file}: expected a mapping of settings")
        settings.update(loaded)
    settings["extras"] = list(extras)
    if threshold is not None:
        if not 0.0 < threshold < 1.0:
            raise LinkFilesError("--threshold must lie between 0 and 1")
        settings["clustering"] = {"threshold": threshold}
    return settings


def link_loaded(con, settings: dict, outputs: LinkOutputs, decisions=None,
                on_stage: Callable[[str, bool], None] | None = None, engine=None) -> dict:
    """Run the engine on the loaded records (writing the model report); its summary. engine:
    where the pair stages run (linkage.engine), this process by default."""
    from linkage import run_linkage

    return run_linkage(con, source_table=RECORDS_TABLE, settings=settings, decisions=decisions,
                       model_report=outputs.model_report, on_stage=on_stage, engine=engine)


def write_outputs(con, outputs: LinkOutputs) -> int:
    """Write the clusters, the model's parameters and (if asked for) the pairs; the number of
    records in the clusters file."""
    written = _copy(con, CLUSTERS_SQL, outputs.clusters)
    _copy(con, MODEL_SQL, outputs.model)
    if outputs.pairs is not None:
        _copy(con, PAIRS_SQL, outputs.pairs)
    return written


def _copy(con, sql: str, path: Path) -> int:
    """One query to a CSV for people, defused against formula injection like every other
    output (record ids and source names come from the input files as they were); numbers are
    written as numbers, a negative weight being no formula."""
    from warehouse.exports import guard_cell

    result = con.execute(sql)
    columns = [d[0] for d in result.description]
    rows = result.fetchall()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([guard_cell(c) for c in columns])
        writer.writerows([guard_cell(v) if isinstance(v, str) else v for v in row]
                         for row in rows)
    return len(rows)
