"""Linkage settings: the packaged YAML plus a caller's overrides.

Thresholds, blocking rules, comparison levels and vetoes are data so that a partnership can tune
them (and review them) without touching code. Overrides merge into nested dicts and replace
lists, so a test can change one threshold without restating every comparison.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

SETTINGS_PATH = Path(__file__).parent / "settings.yaml"
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def check_identifier(name: str, what: str) -> str:
    """Names from settings end up in SQL as identifiers, so they must be plain identifiers."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise ValueError(f"linkage settings: {what} must be a lower-case identifier")
    return name


def extra_comparisons(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """One comparison per `extras` column, from the `extra_comparison` template; each also joins
    the training sessions' estimates, since nothing about it is known beforehand."""
    out = []
    for column in settings.get("extras") or []:
        check_identifier(column, "extra column")
        out.append({"name": column, "column": column,
                    **copy.deepcopy(settings["extra_comparison"])})
    return out


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    settings = yaml.safe_load(SETTINGS_PATH.read_text())
    if overrides:
        settings = _merge(settings, overrides)
    extras = extra_comparisons(settings)
    if extras:
        known = {c["name"] for c in settings["comparisons"]}
        settings["comparisons"] += [c for c in extras if c["name"] not in known]
        for session in settings["model"].get("training") or []:
            session["estimate"] = list(dict.fromkeys(
                [*session["estimate"], *(c["name"] for c in extras)]))
    for comparison in settings["comparisons"]:
        check_identifier(comparison["name"], "comparison name")
        n_levels = len(comparison["levels"]) + 1
        if len(comparison["default_m"]) != n_levels:
            raise ValueError(
                f"linkage settings: comparison {comparison['name']} needs {n_levels} default_m "
                "values (its levels then 'else')"
            )
    for rule in settings["blocking"]["rules"]:
        check_identifier(rule["name"], "blocking rule name")
    for id_column in settings["strong_ids"]:
        check_identifier(id_column, "strong id")
    return settings
