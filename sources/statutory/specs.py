"""The statutory formats' specifications (specs/*.yaml), read once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sources.common.yamlfiles import read_yaml

SPECS = Path(__file__).parent / "specs"


@cache
def spec(name: str) -> dict:
    return read_yaml(SPECS / f"{name}.yaml")
