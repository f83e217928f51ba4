"""The flat event rows a statutory reader hands to its column map.

Rows are gathered column by column and each value interned, because a return repeats the same
few codes and dates across hundreds of thousands of rows: a 200,000-child census stays in
bounded memory as text instead of holding a string object per cell.
"""

from __future__ import annotations

import sys

import pandas as pd

from sources.readers import RawExtract


class FlatRows:
    def __init__(self, columns: list[str]):
        self.columns = columns
        self.data: dict[str, list] = {c: [] for c in columns}

    def add(self, values: dict[str, str | None]) -> None:
        for column, cells in self.data.items():
            value = values.get(column)
            cells.append(sys.intern(value) if value is not None else None)

    def __len__(self) -> int:
        return len(self.data[self.columns[0]])

    def extract(self) -> RawExtract:
        """Row numbers count events from 2 (after a virtual header row), as for Parquet; each
        reader's record id says where in the return the row came from."""
        frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in self.data.items()})
        frame.index = range(2, 2 + len(frame))
        return RawExtract(frame=frame, header=list(self.columns), header_row=1)
