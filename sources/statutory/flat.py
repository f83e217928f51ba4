"""The flat event rows a statutory reader hands to its column map.

A return repeats the same few codes and dates across hundreds of thousands of rows, so rows are
gathered column by column as small integer codes into each column's distinct values, and handed
on as categorical columns: a 200,000-child census costs one code per cell rather than a string
pointer per cell (twice over, while a frame was built from lists of them), which was most of
the reader's memory.
"""

from __future__ import annotations

from array import array

import numpy as np
import pandas as pd

from sources.readers import RawExtract


class _Column:
    """One column's distinct values in order of first sight and each row's code (-1: none)."""

    __slots__ = ("codes", "values", "seen")

    def __init__(self):
        self.codes = array("i")
        self.values: list[str] = []
        self.seen: dict[str, int] = {}

    def series(self) -> pd.Categorical:
        codes = np.frombuffer(self.codes, dtype=np.int32)
        return categorical(codes, self.values)


def categorical(codes: np.ndarray, values) -> pd.Categorical:
    """Codes into `values` (-1 for a missing cell) as a categorical column of text."""
    categories = pd.Index(values, dtype=object)
    return pd.Categorical.from_codes(codes.astype(_code_dtype(len(categories)), copy=False),
                                     dtype=pd.CategoricalDtype(categories))


def _code_dtype(n: int):
    return np.int8 if n < 127 else np.int16 if n < 32_767 else np.int32


def frame_of(columns: dict[str, pd.Categorical | np.ndarray], n: int) -> RawExtract:
    """Row numbers count events from 2 (after a virtual header row), as for Parquet; each
    reader's record id says where in the return the row came from."""
    frame = pd.DataFrame(columns, index=pd.RangeIndex(2, 2 + n), copy=False)
    return RawExtract(frame=frame, header=list(columns), header_row=1)


class FlatRows:
    def __init__(self, columns: list[str]):
        self.columns = columns
        self.data = {c: _Column() for c in columns}

    def add(self, values: dict[str, str | None]) -> None:
        get = values.get
        for column, cells in self.data.items():      # _Column.add, inlined: a call per cell
            value = get(column)                       # was a fifth of a census's read time
            if value is None:
                cells.codes.append(-1)
                continue
            code = cells.seen.get(value)
            if code is None:
                code = cells.seen[value] = len(cells.values)
                cells.values.append(value)
            cells.codes.append(code)

    def add_many(self, shared: dict[str, str | None], rows: list[dict[str, str | None]]
                 ) -> None:
        """Rows that hold the same values in `shared`'s columns (a child's details on each of
        its events): those are coded once, not once a row."""
        n = len(rows)
        if not n:
            return
        for column, cells in self.data.items():
            if column in shared:
                value = shared[column]
                if value is None:
                    code = -1
                else:
                    code = cells.seen.get(value)
                    if code is None:
                        code = cells.seen[value] = len(cells.values)
                        cells.values.append(value)
                cells.codes.extend([code] * n)
                continue
            for values in rows:
                value = values.get(column)
                if value is None:
                    cells.codes.append(-1)
                    continue
                code = cells.seen.get(value)
                if code is None:
                    code = cells.seen[value] = len(cells.values)
                    cells.values.append(value)
                cells.codes.append(code)

    def __len__(self) -> int:
        return len(self.data[self.columns[0]].codes)

    def extract(self) -> RawExtract:
        n = len(self)
        columns = {}
        for name in self.columns:          # each column's codes freed once converted
            columns[name] = self.data.pop(name).series()
        return frame_of(columns, n)
