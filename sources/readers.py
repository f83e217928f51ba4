"""Reading extracts as text tables: CSV in any common encoding (also gzipped), XLSX, Parquet.

Everything is read as text so that no value is reinterpreted before the column map says how to
parse it (a UPN or NHS number must not become a float, a date must not be guessed). Each data row
keeps its row number in the file as received, which is what quarantine reports quote.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd

from sources.errors import ExtractError

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
GZIP_CSV_SUFFIXES = {f"{s}.gz" for s in CSV_SUFFIXES}
XLSX_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
XML_SUFFIXES = {".xml"}      # statutory returns (sources.statutory)
JSON_SUFFIXES = {".json"}    # the DfE CSC API payload (sources.statutory.csc_api)
PEEK_ROWS = 30
MAX_FIELD = 64 << 20   # bytes in one CSV cell
# Bytes that Windows-1252 leaves undefined: a file holding them is not cp1252.
CP1252_UNDEFINED = {0x81, 0x8D, 0x8F, 0x90, 0x9D}


@dataclass
class RawExtract:
    """A file's data rows as text, indexed by row number in the file."""

    frame: pd.DataFrame
    header: list[str]
    header_row: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    @property
    def is_spreadsheet(self) -> bool:
        return self.sheet is not None


@dataclass(frozen=True)
class ReadLimits:
    """What one file may expand to before it is refused (settings `inbox.*`): a workbook is a
    zip and a .csv.gz a gzip stream, and either can hold gigabytes in a few kilobytes (an XLSX
    zip bomb took 224 s and 2.9 GB before it was rejected)."""

    max_bytes: int = 1024 << 20          # uncompressed bytes of a .csv.gz or a workbook
    max_cells: int = 20_000_000          # cells of a worksheet's grid (rows x columns)

    @property
    def max_mb(self) -> str:
        return f"{self.max_bytes / (1 << 20):g} MB"


DEFAULT_LIMITS = ReadLimits()


def file_suffix(name: str) -> str:
    """The suffix that says how to read a file: `.csv.gz` is one suffix, not `.gz`."""
    lower = name.lower()
    for suffix in GZIP_CSV_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    return Path(lower).suffix


def file_type(path: Path) -> str:
    if path.is_dir():
        return "set"        # a delivery of several files (an SSDA903 return)
    suffix = file_suffix(path.name)
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in GZIP_CSV_SUFFIXES:
        return "csv.gz"
    if suffix in XLSX_SUFFIXES:
        return "xlsx"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in XML_SUFFIXES:
        return "xml"
    if suffix in JSON_SUFFIXES:
        return "json"
    raise ExtractError(
        path.name,
        f"files of type '{suffix or 'none'}' cannot be read",
        "Send the extract as CSV, XLSX or Parquet.",
    )


def too_big(name: str, what: str, limits: ReadLimits) -> ExtractError:
    return ExtractError(
        name, f"{what} more than {limits.max_mb} uncompressed (inbox.max_uncompressed_mb), so "
              "it was refused before being expanded",
        "Ask the supplier for a smaller extract, or raise inbox.max_uncompressed_mb in "
        "joinedup.yaml if the file is genuine.")


def _read_gzip(path: Path, limits: ReadLimits) -> bytes:
    """The decompressed bytes, refused as soon as they pass the limit (never expanded whole)."""
    chunks, total = [], 0
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                total += len(block)
                if total > limits.max_bytes:
                    raise too_big(path.name, "the compressed file expands to", limits)
                chunks.append(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise ExtractError(
            path.name, f"the .gz file cannot be decompressed ({type(exc).__name__})",
            "Check it was fully written and ask for a re-export.") from None
    return b"".join(chunks)


def detect_encoding(data: bytes, file_name: str) -> str:
    """UTF-8 (with or without BOM) when it decodes, else Windows-1252, else Latin-1.

    Council systems export either UTF-8 or a Windows code page; Latin-1 decodes any byte, so
    it is the last resort only when the bytes cannot be Windows-1252.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = data[:4096]
    if b"\x00" in head:
        # UTF-16 without a byte-order mark: text in one byte of each pair, NUL in the other
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
        raise ExtractError(
            file_name,
            "the file holds binary data (NUL bytes), so it is not a text CSV",
            "Check that the right file was exported; send CSV text, XLSX or Parquet.",
        )
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if not CP1252_UNDEFINED.intersection(data):
        return "cp1252"
    return "latin-1"


def sniff_delimiter(text: str) -> str:
    """The candidate that splits the most lines into the same number of fields.

    csv.Sniffer is thrown by title lines above the header; counting per line is not.
    """
    lines = [line for line in text.splitlines()[:PEEK_ROWS] if line.strip()]
    best, best_score = ",", (0, 0)
    for delimiter in (",", ";", "|", "\t"):
        counts = [len(next(csv.reader([line], delimiter=delimiter))) - 1 for line in lines]
        counts = [c for c in counts if c > 0]
        if not counts:
            continue
        modal = max(set(counts), key=lambda c: (counts.count(c), c))
        score = (counts.count(modal), modal)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _cell_text(value) -> str | None:
    """Spreadsheet and Parquet cells as the text a CSV export would have held."""
    if value is None:
        return None
    if isinstance(value, float) and pd.isna(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime | pd.Timestamp):
        if value.time() == time(0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class CsvSource:
    def __init__(self, path: Path, encoding: str = "auto", delimiter: str = "auto",
                 limits: ReadLimits = DEFAULT_LIMITS):
        self.path = path
        data = (_read_gzip(path, limits) if file_type(path) == "csv.gz" else path.read_bytes())
        if not data.strip():
            raise ExtractError(path.name, "the file is empty", "Ask the supplier to re-send it.")
        self.encoding = detect_encoding(data, path.name) if encoding == "auto" else encoding
        try:
            self.text = data.decode(self.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ExtractError(
                path.name,
                f"the file cannot be decoded as {self.encoding} ({type(exc).__name__})",
                "Remove the encoding from the column map to detect it, or ask for a UTF-8 export.",
            ) from None
        self.delimiter = sniff_delimiter(self.text) if delimiter == "auto" else delimiter

    def peek(self) -> list[list[str]]:
        lines = self.text.splitlines()[:PEEK_ROWS]
        csv.field_size_limit(MAX_FIELD)   # a 1 MB free-text cell is data, not a fault
        try:
            return [row for row in csv.reader(lines, delimiter=self.delimiter)]
        except csv.Error as exc:
            raise ExtractError(
                self.path.name, f"the start of the CSV cannot be parsed ({exc})",
                "Check for unbalanced quotes or stray NUL bytes and ask for a re-export.",
            ) from None

    def read(self, header_row: int) -> RawExtract:
        try:
            frame = pd.read_csv(
                io.StringIO(self.text),
                sep=self.delimiter,
                skiprows=header_row - 1,
                header=0,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                engine="c",
            )
        except (pd.errors.ParserError, ValueError) as exc:
            first_line = str(exc).split("\n")[0]
            raise ExtractError(
                self.path.name,
                f"the CSV cannot be parsed ({first_line})",
                "Check for a truncated file or unbalanced quotes and ask for a re-export.",
            ) from None
        frame.index = range(header_row + 1, header_row + 1 + len(frame))
        return RawExtract(
            frame=frame,
            header=[str(c) for c in frame.columns],
            header_row=header_row,
            encoding=self.encoding,
            delimiter=self.delimiter,
        )


class XlsxSource:
    """A workbook sheet through calamine (Rust): formulas give their cached values, merged title
    cells their text, dates stay dates; about five times faster than openpyxl on a 30,000-row
    attendance export."""

    def __init__(self, path: Path, sheet: str | None = None,
                 limits: ReadLimits = DEFAULT_LIMITS):
        from python_calamine import CalamineWorkbook

        from sources.workbook_limits import check_workbook

        self.path = path
        check_workbook(path, limits)
        try:
            self.book = CalamineWorkbook.from_path(str(path))
        except Exception as exc:  # noqa: BLE001 - calamine raises several types for a damaged file
            raise ExtractError(
                path.name,
                f"the workbook cannot be opened ({type(exc).__name__})",
                "Open it in Excel to check it is not damaged or password-protected, then re-save.",
            ) from None
        names = self.book.sheet_names
        if sheet is not None and sheet not in names:
            raise ExtractError(
                path.name,
                f"the workbook has no sheet '{sheet}' (it has: {', '.join(names)})",
                "Correct `file.sheet` in the column map or ask for the right workbook.",
            )
        self.sheet = sheet or names[0]
        self._cells: list[list] | None = None

    def _rows(self) -> list[list[str | None]]:
        if self._cells is None:
            values = self.book.get_sheet_by_name(self.sheet).to_python(skip_empty_area=False)
            self._cells = [[_cell_text(v) if v != "" else None for v in row] for row in values]
        return self._cells

    def peek(self) -> list[list[str]]:
        return [[c or "" for c in row] for row in self._rows()[:PEEK_ROWS]]

    def read(self, header_row: int) -> RawExtract:
        rows = self._rows()
        if len(rows) < header_row:
            raise ExtractError(self.path.name, "the sheet has no header row", "Check the export.")
        header = [c if c is not None else "" for c in rows[header_row - 1]]
        while header and header[-1] == "":
            header.pop()
        width = len(header)
        body = [(r + [None] * width)[:width] for r in rows[header_row:]]
        frame = pd.DataFrame(body, columns=header, dtype=object)
        frame.index = range(header_row + 1, header_row + 1 + len(frame))
        return RawExtract(frame=frame, header=header, header_row=header_row, sheet=self.sheet)


class ParquetSource:
    def __init__(self, path: Path):
        self.path = path
        try:
            self.frame = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError...
            raise ExtractError(
                path.name,
                f"the Parquet file cannot be read ({type(exc).__name__})",
                "Check the file was fully written and ask for a re-export.",
            ) from None

    def peek(self) -> list[list[str]]:
        return [[str(c) for c in self.frame.columns]]

    def read(self, header_row: int) -> RawExtract:
        frame = self.frame
        text = pd.DataFrame(index=frame.index)
        for col in frame.columns:
            series = frame[col]
            if pd.api.types.is_string_dtype(series) or series.dtype == object:
                text[str(col)] = series.map(_cell_text, na_action="ignore")
            else:
                text[str(col)] = series.astype(object).map(_cell_text, na_action="ignore")
        # Parquet has no lines: row numbers count records from 1, after a virtual header row.
        text.index = range(2, 2 + len(text))
        return RawExtract(frame=text, header=list(text.columns), header_row=1)


def open_source(path: Path, hints: dict | None = None, limits: ReadLimits = DEFAULT_LIMITS):
    hints = hints or {}
    kind = file_type(path)
    if kind in ("csv", "csv.gz"):
        return CsvSource(path, hints.get("encoding", "auto"), hints.get("delimiter", "auto"),
                         limits)
    if kind == "xlsx":
        return XlsxSource(path, hints.get("sheet"), limits)
    if kind == "parquet":
        return ParquetSource(path)
    raise ExtractError(path.name, f"a statutory return ({kind}) has no column-map reader",
                       "Read it with sources.extract, which chooses its own reader.")
