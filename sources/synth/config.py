"""The generator's data files (sources/synth/data/*.yaml), loaded once per process.

Rates, code mixes, name lists and place names are data so they can be tuned without touching
the generating code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sources.common.yamlfiles import read_yaml

DATA_DIR = Path(__file__).parent / "data"


@cache
def load(name: str) -> dict:
    return read_yaml(DATA_DIR / f"{name}.yaml")
