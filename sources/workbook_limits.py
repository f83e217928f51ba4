"""A workbook's cost bounded before it is expanded.

An XLSX file is a zip of XML parts, and the reader builds the whole grid of a sheet in memory,
so a few kilobytes can ask for gigabytes: parts that decompress a thousandfold, or one cell at
XFD1048576 making a grid of seventeen billion. `check_workbook` streams each part through the
decompressor without keeping it, stops as soon as the bytes or the sheet's grid pass the limits,
and so refuses a hostile file in the time it takes to read the limit, not the bomb.
"""

from __future__ import annotations

import copy
import re
import zipfile
import zlib
from pathlib import Path

from sources.errors import ExtractError
from sources.readers import ReadLimits, too_big

CHUNK = 1 << 20
# a cell or row reference in worksheet XML: <c r="AB12" ...> or <row r="12" ...>
CELL_REF = re.compile(rb'<c\b[^>]*?\br="([A-Z]{1,3})([0-9]{1,7})"')
ROW_REF = re.compile(rb'<row\b[^>]*?\br="([0-9]{1,7})"')
TAIL = 256           # bytes kept between chunks, so a tag cut by a chunk boundary is still seen


def check_workbook(path: Path, limits: ReadLimits) -> None:
    """Refuse (ExtractError) a workbook whose parts expand to more than `limits.max_bytes` or
    whose sheet grid holds more than `limits.max_cells`; a file that is not a zip is left for
    the reader to report."""
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return
    with book:
        infos = book.infolist()
        if sum(i.file_size for i in infos) > limits.max_bytes:
            raise too_big(path.name, "the workbook declares", limits)
        total = 0
        for info in infos:
            total = _expand(book, info, total, path.name, limits)


def _expand(book: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, name: str,
            limits: ReadLimits) -> int:
    """Stream one part, trusting none of its declared sizes; the running total of bytes."""
    sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
    rows = columns = expanded = 0
    tail = b""
    probe = copy.copy(info)
    probe.file_size = 1 << 62        # read to the end of the stream, not to the declared size
    try:
        with book.open(probe) as part:
            while block := part.read(CHUNK):
                total += len(block)
                expanded += len(block)
                if total > limits.max_bytes:
                    raise too_big(name, "the workbook expands to", limits)
                if sheet:
                    text = tail + block
                    rows, columns = _extent(text, rows, columns)
                    if rows * columns > limits.max_cells:
                        raise _too_many_cells(name, rows, columns, limits)
                    tail = text[-TAIL:]
        if expanded != info.file_size:
            raise zipfile.BadZipFile("the part's declared size is wrong")
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        raise ExtractError(
            name, f"the workbook cannot be opened (part {info.filename!r} is damaged)",
            "Open it in Excel to check it is not damaged or password-protected, then re-save.",
        ) from None
    return total


def _extent(text: bytes, rows: int, columns: int) -> tuple[int, int]:
    for letters, number in CELL_REF.findall(text):
        rows = max(rows, int(number))
        columns = max(columns, _column_number(letters))
    for number in ROW_REF.findall(text):
        rows = max(rows, int(number))
    return rows, max(columns, 1 if rows else 0)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _too_many_cells(name: str, rows: int, columns: int, limits: ReadLimits) -> ExtractError:
    return ExtractError(
        name, f"a sheet reaches row {rows:,} and column {columns:,}, more than "
              f"{limits.max_cells:,} cells (inbox.max_cells), so it was refused before being "
              "expanded",
        "Ask the supplier to clear unused rows and columns and re-save, or raise "
        "inbox.max_cells in joinedup.yaml if the file is genuine.")
