"""Settings documents are nested mappings; an override replaces only the keys it names."""

from __future__ import annotations

import copy
from collections.abc import Mapping


def deep_merge(base: Mapping, override: Mapping) -> dict:
    """`base` with `override` laid over it, nested mappings merged key by key (lists and other
    values replaced whole); neither argument is changed."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
