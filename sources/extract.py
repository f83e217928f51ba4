"""One extract file, read as its kind: open it, choose the column map that fits, read it, map it.

The nightly run checks each delivery at receipt (`check_extract`: the file opens and some map of
its kind fits its first rows) and ingests it later (`read_extract`); `joinedup sources check`
previews a supplier's file with the same `read_extract`, so the preview cannot drift from what
the run does. Every failure is an ExtractError naming the file and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sources.column_maps import ColumnMap, choose_map
from sources.mapping import MappedExtract, apply_map
from sources.readers import DEFAULT_LIMITS, RawExtract, ReadLimits, open_source


@dataclass(frozen=True)
class ChosenMap:
    """The map a file fits and the row its header is on."""

    cmap: ColumnMap
    header_row: int


@dataclass
class ReadExtract:
    """A file as received (text, by row number) and as mapped to its kind's canonical columns."""

    raw: RawExtract
    cmap: ColumnMap
    mapped: MappedExtract

    @property
    def rows_in(self) -> int:
        return self.mapped.rows_in

    @property
    def blank_rows(self) -> int:
        return self.mapped.blank_rows


def _open(path: Path, maps: dict[str, ColumnMap], map_name: str | None, limits: ReadLimits):
    """The reader, with the named map's file hints (encoding, delimiter, sheet) if any."""
    hints = maps[map_name].file if map_name and map_name in maps else {}
    return open_source(path, hints, limits)


def check_extract(path: Path, kind: str, maps: dict[str, ColumnMap], file_name: str,
                  map_name: str | None = None, limits: ReadLimits = DEFAULT_LIMITS) -> ChosenMap:
    """The map that fits the file's first rows, without reading the whole file."""
    cmap, header_row = choose_map(_open(path, maps, map_name, limits).peek(), kind, maps,
                                  file_name, map_name)
    return ChosenMap(cmap, header_row)


def read_extract(path: Path, kind: str, maps: dict[str, ColumnMap], file_name: str,
                 map_name: str | None = None,
                 limits: ReadLimits = DEFAULT_LIMITS) -> ReadExtract:
    """The whole file read and mapped with the map that fits it (`file_name` is the name as
    delivered, which messages quote; `path` may be its archive copy)."""
    source = _open(path, maps, map_name, limits)
    cmap, header_row = choose_map(source.peek(), kind, maps, file_name, map_name)
    raw = source.read(header_row)
    return ReadExtract(raw=raw, cmap=cmap, mapped=apply_map(raw, cmap, file_name))
