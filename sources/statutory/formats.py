"""Which statutory reader a delivery needs, from what it is rather than what it is called: a
folder is a termly school census when it holds a census table, a Standard Safeguarding Dataset
extract when it holds an SSD table and an SSDA903 set otherwise, an XML file is told by its root
element, a JSON file is a DfE CSC API payload, a workbook is Annex A when its sheets are named
like the Annex A lists."""

from __future__ import annotations

import html
import re
import zipfile
import zlib
from pathlib import Path

from sources.errors import ExtractError
from sources.readers import DEFAULT_LIMITS, XLSX_SUFFIXES, ReadLimits
from sources.statutory.cin_census import CinCensusSource
from sources.statutory.specs import spec
from sources.statutory.xml_stream import root_name

WORKBOOK_PART = "xl/workbook.xml"
WORKBOOK_PART_MAX = 1 << 20          # bytes: a workbook part lists sheets, a few KB at most
SHEET_NAME = re.compile(r'<(?:\w+:)?sheet\b[^>]*?\bname="([^"]*)"')


def open_statutory(path: Path, file_name: str, limits: ReadLimits = DEFAULT_LIMITS,
                   earlier: list[tuple[Path, str]] | tuple = ()):
    """The reader for a statutory return, or None for a file the column-map readers read.
    `earlier`: the feed's earlier deliveries (path, delivered name), for a format whose
    deliveries are deltas of one another (the CSC API payload)."""
    if path.is_dir():
        from sources.statutory.school_census import SchoolCensusSetSource, is_school_census
        from sources.statutory.ssd import SsdSetSource, is_ssd
        from sources.statutory.ssda903 import Ssda903SetSource

        if is_school_census(path):
            return SchoolCensusSetSource(path, file_name)
        if is_ssd(path):
            return SsdSetSource(path, file_name)
        return Ssda903SetSource(path, file_name)
    if path.suffix.lower() in XLSX_SUFFIXES:
        from sources.statutory.annex_a import AnnexASource, is_annex_a

        names = sheet_names(path)
        return AnnexASource(path, file_name, limits) if is_annex_a(names) else None
    if path.suffix.lower() == ".json":
        from sources.statutory.csc_api import CscApiSource

        return CscApiSource(path, file_name, earlier)
    if path.suffix.lower() != ".xml":
        return None
    root = root_name(path, file_name)
    if root == spec("cin_census")["root"]:
        return CinCensusSource(path, file_name)
    if root == spec("ssda903")["xml"]["root"]:
        from sources.statutory.ssda903 import Ssda903XmlSource

        return Ssda903XmlSource(path, file_name)
    if not root:        # refused with its reason (DOCTYPE, entities) by the reader
        return CinCensusSource(path, file_name)
    raise ExtractError(file_name, f"an XML file whose root element is <{root}>; Joined Up reads "
                       f"XML only as a CIN census (<{spec('cin_census')['root']}>) or an "
                       f"SSDA903 return (<{spec('ssda903')['xml']['root']}>)",
                       "Check that the right file was sent.")


def sheet_names(path: Path) -> list[str]:
    """A workbook's sheet names from its small workbook part alone, read to a bound (no sheet,
    nor the shared strings a hostile file could inflate, is expanded); none for a file that is
    no readable workbook, which the workbook reader then reports."""
    try:
        with zipfile.ZipFile(path) as book, book.open(WORKBOOK_PART) as part:
            text = part.read(WORKBOOK_PART_MAX).decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError, zlib.error, EOFError, RuntimeError,
            NotImplementedError):
        return []
    return [html.unescape(n) for n in SHEET_NAME.findall(text)]
