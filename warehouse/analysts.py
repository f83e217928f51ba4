"""The analysts' zone: a publication folder per run, holding a DuckDB file with no identifying
data and the CSV exports made from it, published by swapping one symbolic link.

The build is the linkage zone's warehouse: names, dates of birth, postcodes, linkage's person
ids and the true counts behind suppressed cells sit in it beside the published tables, so
letting analysts open it would make the `analyst` schema a naming convention rather than a
control. Analysts get a second file instead, made from the build by copying what
analysts.yaml lists and checked before it is published: no column named like an identifying
person column (sources/kinds/_person.yaml) or one of linkage's ids, and no schema beyond those
copied. What they can open is then decided by what the file contains and by file modes (the
folder is the analysts' group's to read, nothing else in the home is), not by a convention.

`current` is a symbolic link to one publication folder; replacing it is one atomic rename, so
the file analysts open and the CSVs beside it always belong to the same publication, and a
reader holding the old file open (read-only or not) keeps it, never stopping a run, which only
ever writes a new folder.
"""

from __future__ import annotations

import grp
import hashlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from sources.common.checkpoints import reached
from sources.common.yamlfiles import read_yaml
from sources.kinds import load_person_columns
from warehouse.db import connect
from warehouse.exports import export_csv
from warehouse.swap import fsync_dir

log = logging.getLogger("joinedup")

SPEC_FILE = Path(__file__).with_name("analysts.yaml")
FILE_NAME = "joinedup.duckdb"
EXPORTS = "exports"
MANIFEST = "publication.json"
RUN_ID = re.compile(r"^\d{8}T\d{6}\d*Z$")
FILE_MODE, DIR_MODE = 0o640, 0o750

COLUMNS_OF = """
SELECT table_schema, table_name, column_name FROM information_schema.columns
WHERE table_catalog = current_database() ORDER BY ALL
"""
VIEWS_OF = """
SELECT view_name, comment FROM duckdb_views()
WHERE database_name = 'build' AND schema_name = ? AND NOT internal ORDER BY view_name
"""
TABLES_OF = """
SELECT table_name, comment FROM duckdb_tables()
WHERE database_name = 'build' AND schema_name = ? ORDER BY table_name
"""


class AnalystsZoneError(RuntimeError):
    """The analysts' publication cannot be made or shown; the message says what to do."""


class IdentifyingDataError(AnalystsZoneError):
    """The analysts' file would hold an identifying column; nothing is published."""


def forbidden_columns() -> set[str]:
    """Column names that must never reach the analysts' file."""
    spec = read_yaml(SPEC_FILE)
    names = set(spec["forbidden_columns"])
    for column in load_person_columns().values():
        if column.pii or column.key:
            names |= {column.name, f"{column.name}_raw"}
            if column.aliases:
                names.add(column.aliases)
    return names


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_for_analysts(build: Path, target: Path) -> dict[str, int]:
    """A new DuckDB file at `target` holding only what analysts.yaml lists, copied from the
    build; returns rows per table. Raises IdentifyingDataError (and removes the file) if the
    result has a column it must not have."""
    spec = read_yaml(SPEC_FILE)
    con = connect(target)
    try:
        con.execute(f"ATTACH {_quote(build)} AS build (READ_ONLY)")
        copies: list[tuple[str, str, str, str | None]] = []
        for schema in spec["views"]:
            copies += [(schema, v, f"SELECT * FROM build.{schema}.{_ident(v)}", c)
                       for v, c in con.execute(VIEWS_OF, [schema]).fetchall()]
        for schema in spec["tables"]:
            copies += [(schema, t, f"SELECT * FROM build.{schema}.{_ident(t)}", c)
                       for t, c in con.execute(TABLES_OF, [schema]).fetchall()]
        for table, columns in spec["meta"].items():
            copies.append(("meta", table, f"SELECT {', '.join(map(_ident, columns))} "
                                          f"FROM build.meta.{_ident(table)}", None))
        rows = {}
        for schema, name, select, comment in copies:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
            con.execute(f"CREATE TABLE {_ident(schema)}.{_ident(name)} AS {select}")
            if comment:     # the build's own comments, written by our DDL
                con.execute(f"COMMENT ON TABLE {_ident(schema)}.{_ident(name)} IS "
                            f"{_quote(comment)}")
            rows[f"{schema}.{name}"] = con.execute(
                f"SELECT count(*) FROM {_ident(schema)}.{_ident(name)}").fetchall()[0][0]
        con.execute("DETACH build")
        check_no_identifiers(con)
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        target.unlink(missing_ok=True)
        raise
    con.close()
    return rows


def _quote(text: Path | str) -> str:
    """A SQL string literal (a path or a comment of our own; DDL takes no parameters)."""
    return "'" + str(text).replace("'", "''") + "'"


def check_no_identifiers(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse any column named like an identifying one, in any schema of the file."""
    forbidden = forbidden_columns()
    found = [f"{s}.{t}.{c}" for s, t, c in con.execute(COLUMNS_OF).fetchall()
             if c.lower() in forbidden]
    if found:
        raise IdentifyingDataError(
            f"the analysts' file would hold identifying columns ({', '.join(found[:5])}); "
            "nothing was published: remove them from the analyst views or publish tables")


@dataclass(frozen=True)
class Places:
    """Where the analysts' zone lives (flows.home.Home spells it)."""

    publications: Path
    current: Path
    group: str | None = None         # the analysts' OS group, given read access

    def folder(self, run_id: str) -> Path:
        return self.publications / run_id


def prepare_publication(build: Path, places: Places, run_id: str) -> Path:
    """The run's publication folder, complete: the analysts' file, its CSV exports and a
    manifest of checksums, written under a temporary name and renamed into place once closed
    (a folder that exists under a run id is whole). Not yet visible to analysts."""
    folder = places.folder(run_id)
    work = places.publications / f".{run_id}.tmp"
    places.publications.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)   # an earlier try at this run's own folder
    work.mkdir()
    rows = copy_for_analysts(build, work / FILE_NAME)
    reached("analysts-write")
    con = connect(work / FILE_NAME, read_only=True)
    try:
        exported = export_csv(con, work / EXPORTS)
    finally:
        con.close()
    files = [work / FILE_NAME, *exported]
    (work / MANIFEST).write_text(json.dumps({
        "run_id": run_id, "tables": rows,
        "files": {str(f.relative_to(work)): _sha256(f) for f in files}}, indent=1))
    _set_access(work, places.group)
    fsync_dir(work)
    os.rename(work, folder)
    fsync_dir(places.publications)
    return folder


def publish(places: Places, run_id: str) -> Path:
    """Point `current` at the run's publication folder with one atomic rename."""
    folder = places.folder(run_id)
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(f"no complete analysts' publication for run {run_id}")
    if places.current.exists() and not places.current.is_symlink():
        raise AnalystsZoneError(f"{places.current} is not the link Joined Up makes to the "
                              "published run's folder: move it out of the way and run again "
                              "(nothing was published to analysts)")
    link = places.current.with_name(f".{places.current.name}.{run_id}.tmp")
    link.unlink(missing_ok=True)
    os.symlink(os.path.relpath(folder, places.current.parent), link)
    reached("analysts-swap")
    os.replace(link, places.current)
    fsync_dir(places.current.parent)
    return places.current


def current_run(places: Places) -> str | None:
    """The run id of the publication analysts see now, if any."""
    try:
        return Path(os.readlink(places.current)).name
    except (FileNotFoundError, OSError):
        return None


def prune(places: Places, keep: set[str]) -> list[Path]:
    """Remove publication folders of runs not in `keep` (never the current one), and folders
    or links half-made by runs that died."""
    removed = []
    current = current_run(places)
    for path in sorted(places.publications.glob("*")) if places.publications.exists() else []:
        if path.name.startswith(".") or (RUN_ID.match(path.name) and path.name not in keep
                                         and path.name != current):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    for link in places.current.parent.glob(f".{places.current.name}.*.tmp"):
        link.unlink(missing_ok=True)
        removed.append(link)
    return removed


def verify(folder: Path) -> list[str]:
    """Problems with a publication folder: a file missing or not matching its manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return [f"{folder.name}/{MANIFEST}: {type(exc).__name__}"]
    return [name for name, digest in manifest["files"].items()
            if not (folder / name).is_file() or _sha256(folder / name) != digest]


def open_zone(analysts: Path, home: Path, group: str | None) -> None:
    """Let the analysts' group through the home to its folder and no further: the home 0710
    and the analysts' folder 0750, both that group's; without a group both stay the owner's."""
    folders = (analysts, analysts / "publications")
    for path in folders:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)
    if group is None:
        return
    gid = _gid(group)
    for path in (home, *folders):
        os.chown(path, -1, gid)
    os.chmod(home, 0o710)


def _gid(group: str) -> int:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"analysts.group: no operating-system group named {group!r}; create "
                         "it or correct joinedup.yaml") from None


def _set_access(folder: Path, group: str | None) -> None:
    gid = None if group is None else _gid(group)
    for path in [folder, *folder.rglob("*")]:
        if gid is not None:
            os.chown(path, -1, gid)
        os.chmod(path, DIR_MODE if path.is_dir() else FILE_MODE)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
