"""The generator's data files (sources/synth/data/*.yaml), loaded once per process.

Rates, code mixes, name lists and place names are data so they can be tuned without touching
the generating code.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

from sources.common.yamlfiles import read_yaml

DATA_DIR = Path(__file__).parent / "data"


@cache
def load(name: str) -> dict:
    return read_yaml(DATA_DIR / f"{name}.yaml")


STANDARD = "standard"


def profiles() -> list[str]:
    return [STANDARD, *load("profiles")]


@cache
def agencies(profile: str = STANDARD) -> dict:
    """agencies.yaml with a profile's recording-error rates laid over it (profiles.yaml)."""
    base = load("agencies")
    if profile == STANDARD:
        return base
    overlays = load("profiles")
    if profile not in overlays:
        raise ValueError(f"no generator profile {profile!r}; use one of {', '.join(profiles())}")
    merged = copy.deepcopy(base)
    for source, rates in (overlays[profile].get("identity") or {}).items():
        unknown = set(rates) - set(merged["identity"][source])
        if unknown:
            raise ValueError(f"profiles.yaml: {profile}.identity.{source}: unknown rates "
                             f"{', '.join(sorted(unknown))}")
        merged["identity"][source].update(rates)
    return merged
