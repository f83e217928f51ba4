"""Linkage settings: the packaged YAML plus a caller's overrides, checked before any work.

Thresholds, blocking rules, comparison levels and vetoes are data so that a partnership can tune
them (and review them) without touching code. Overrides merge into nested dicts and replace
lists, so a test can change one threshold without restating every comparison.

A setting that cannot work used to fail only when the stage reading it ran (a blocking key that
does not exist failed 33 s into a run, at the link step, as a traceback). `validate_overrides`
checks the keys and value types of the overrides against the packaged file and what the merged
settings refer to (feature columns, comparisons, levels, predicates) without reading any data,
so a run refuses bad settings at once, naming the dotted key.

Settings are never edited in place: `resolve_for_data` derives the settings one run uses (rules
added for identifier-like extra columns, vetoes dropped where the data has no households) as a
new dict.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

from sources.common.mappings import deep_merge
from sources.common.yamlfiles import read_yaml

SETTINGS_PATH = Path(__file__).parent / "settings.yaml"
ENCODED_PATH = Path(__file__).parent / "encoded.yaml"
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Keys accepted beyond the packaged file's, with their type: top level, and in list items.
EXTRA_KEYS = {"extras": list}
EXTRA_ITEM_KEYS = {"comparisons": {"column": str}, "vetoes": {"unless": dict}}


class LinkageSettingsError(ValueError):
    """Linkage settings that cannot be used. The message starts with the dotted key
    (`linkage.blocking.rules[2].keys[0]: ...`); the caller prefixes the file it came from."""


def check_identifier(name: str, what: str) -> str:
    """Names from settings end up in SQL as identifiers, so they must be plain identifiers."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise LinkageSettingsError(f"linkage settings: {what} must be a lower-case identifier")
    return name


@cache
def _packaged() -> dict[str, Any]:
    return read_yaml(SETTINGS_PATH)


def packaged_settings(encoded: bool = False) -> dict[str, Any]:
    """linkage/settings.yaml as packaged (a copy of its own); for encoded records, with
    linkage/encoded.yaml laid over it."""
    if not encoded:
        return copy.deepcopy(_packaged())
    return deep_merge(_packaged(), _encoded_profile())


@cache
def _encoded_profile() -> dict[str, Any]:
    return read_yaml(ENCODED_PATH)


def extra_comparisons(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """One comparison per `extras` column, from the `extra_comparison` template; each also joins
    the training sessions' estimates, since nothing about it is known beforehand."""
    out = []
    for column in settings.get("extras") or []:
        check_identifier(column, "extra column")
        out.append({"name": column, "column": column,
                    **copy.deepcopy(settings["extra_comparison"])})
    return out


def load_settings(overrides: dict[str, Any] | None = None,
                  encoded: bool = False) -> dict[str, Any]:
    """The packaged settings (for `encoded` records, their profile) with `overrides` laid over
    them, checked (validate_overrides) and with a comparison per extra column; a new dict,
    `overrides` is not changed."""
    _check_overrides_shape(overrides)
    settings = _merged(overrides, encoded)
    _check_references(settings)
    return settings


def _merged(overrides: dict[str, Any] | None, encoded: bool = False) -> dict[str, Any]:
    settings = packaged_settings(encoded)
    if overrides:
        settings = deep_merge(settings, overrides)
    extras = extra_comparisons(settings)
    if extras:
        known = {c["name"] for c in settings["comparisons"]}
        settings["comparisons"] += [c for c in extras if c["name"] not in known]
        for session in settings["model"].get("training") or []:
            session["estimate"] = list(dict.fromkeys(
                [*session["estimate"], *(c["name"] for c in extras)]))
    return settings


def resolve_for_data(settings: dict[str, Any], identifier_columns: list[str],
                     vetoes_apply: bool) -> dict[str, Any]:
    """The settings of one run, given what its data showed: each identifier-like extra column
    (linkage.pipeline.identifier_like_extras) is also a blocking rule and, since twins never
    share a case or account number, agreeing on it lifts every veto; vetoes that do not apply
    to the data (linkage/households.py) are dropped. A new dict; `settings` is not changed."""
    out = copy.deepcopy(settings)
    out["blocking"]["rules"] = [*out["blocking"]["rules"],
                                *({"name": c, "keys": [c]} for c in identifier_columns)]
    if not vetoes_apply:
        out["vetoes"] = []
    for veto in out.get("vetoes") or []:
        veto["unless"] = {**(veto.get("unless") or {}),
                          **{c: ["exact"] for c in identifier_columns}}
    return out


# ---------------------------------------------------------------------------- validation

def validate_overrides(overrides: dict[str, Any] | None, encoded: bool = False) -> None:
    """Raise LinkageSettingsError unless `overrides` can be used: every key is one of the
    packaged file's (or `extras`), every value has the packaged default's type (an int where a
    float is expected is fine), and the merged settings refer only to linkage feature columns,
    comparisons, levels and predicates that exist. Reads no data; takes milliseconds."""
    _check_overrides_shape(overrides)
    _check_references(_merged(overrides, encoded))


def _check_overrides_shape(overrides: Any) -> None:
    if overrides is None:
        return
    if not isinstance(overrides, dict):
        raise LinkageSettingsError(f"linkage: expected a mapping of settings, not "
                                   f"{_type_name(overrides)}")
    _check_shape(overrides, _packaged(), "linkage", EXTRA_KEYS)


_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "text", int: "a whole number",
               float: "a number", bool: "true or false", type(None): "empty"}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _same_type(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, dict):
        return isinstance(value, dict)
    if isinstance(default, list):
        return isinstance(value, list)
    return type(value) is type(default)


def _prototype(items: list) -> Any:
    """One item standing for every item of a packaged list of mappings, merged key by key
    (nested lists concatenated); None for a list of plain values."""
    dicts = [i for i in items if isinstance(i, dict)]
    if not dicts:
        return None
    merged: dict[str, Any] = {}
    for item in dicts:
        for key, value in item.items():
            if key not in merged:
                merged[key] = copy.deepcopy(value)
            elif isinstance(merged[key], list) and isinstance(value, list):
                merged[key] = merged[key] + copy.deepcopy(value)
            elif isinstance(merged[key], dict) and isinstance(value, dict):
                merged[key] = {**value, **merged[key]}
            elif isinstance(value, float) and not isinstance(merged[key], bool | float):
                merged[key] = value         # 1 in one item, 0.92 in another: a number
    return merged


# Mappings whose keys are names, not settings: comparison names (vetoes, training `where`).
_NAMED_KEYS = {"when", "unless", "where"}


def _check_shape(value: Any, default: Any, path: str, extra: dict[str, type] | None = None
                 ) -> None:
    extra = extra or {}
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise LinkageSettingsError(f"{path}: expected {_type_name(default)}, not "
                                       f"{_type_name(value)}")
        if path.rsplit(".", 1)[-1] in _NAMED_KEYS:
            for key, labels in value.items():
                if not isinstance(labels, list):
                    raise LinkageSettingsError(f"{path}.{key}: expected a list of level labels, "
                                               f"not {_type_name(labels)}")
            return
        allowed = {**default, **{k: t() for k, t in extra.items()}}
        for key, item in value.items():
            if key not in allowed:
                raise LinkageSettingsError(
                    f"{path}.{key}: unknown setting; allowed here: {', '.join(sorted(allowed))}")
            child_extra = EXTRA_ITEM_KEYS.get(key) if path == "linkage" else None
            _check_shape(item, allowed[key], f"{path}.{key}", child_extra)
        return
    if isinstance(default, list):
        if not isinstance(value, list):
            raise LinkageSettingsError(f"{path}: expected a list, not {_type_name(value)}")
        proto = _prototype(default)
        item_types = {type(i) for i in default}
        for i, item in enumerate(value):
            where = f"{path}[{i}]"
            if proto is not None:
                _check_shape(item, proto, where, extra)
            elif default and not any(_same_type(item, t()) for t in item_types):
                names = " or ".join(sorted(_TYPE_NAMES.get(t, t.__name__) for t in item_types))
                raise LinkageSettingsError(f"{where}: expected {names}, not {_type_name(item)}")
        return
    if not _same_type(value, default):
        raise LinkageSettingsError(f"{path}: expected {_type_name(default)} (as in "
                                   f"{SETTINGS_PATH.name}), not {_type_name(value)} "
                                   f"{value!r}")


def _one_of(names) -> str:
    return ", ".join(sorted(names))


def _check_references(settings: dict[str, Any]) -> None:
    """What the merged settings name must exist: feature columns (linkage.feature and the
    extras), comparisons and their level labels, and predicates."""
    from linkage.comparisons import predicate_names
    from linkage.features import feature_column_names

    extras = settings.get("extras") or []
    for i, column in enumerate(extras):
        if not isinstance(column, str) or not IDENTIFIER.match(column):
            raise LinkageSettingsError(f"linkage.extras[{i}]: {column!r} must be a lower-case "
                                       "identifier")
    features = set(feature_column_names()) | set(extras)

    def feature(column: Any, where: str) -> None:
        if not isinstance(column, str) or column not in features:
            raise LinkageSettingsError(f"{where}: {column!r} is not a linkage feature; use one "
                                       f"of {_one_of(features)}")

    for i, rule in enumerate(settings["blocking"]["rules"]):
        check_name(rule.get("name"), f"linkage.blocking.rules[{i}].name")
        if not rule.get("keys"):
            raise LinkageSettingsError(f"linkage.blocking.rules[{i}].keys: give at least one "
                                       "feature column")
        for j, key in enumerate(rule["keys"]):
            for k, column in enumerate(key if isinstance(key, list) else [key]):
                feature(column, f"linkage.blocking.rules[{i}].keys[{j}]"
                                + (f"[{k}]" if isinstance(key, list) else ""))
    for i, column in enumerate(settings["strong_ids"]):
        feature(column, f"linkage.strong_ids[{i}]")

    predicates = predicate_names()
    labels: dict[str, list[str]] = {}
    for i, comp in enumerate(settings["comparisons"]):
        where = f"linkage.comparisons[{i}]"
        for key in ("name", "levels", "null_when", "default_m"):
            if key not in comp:
                raise LinkageSettingsError(f"{where}: needs `{key}`")
        check_name(comp["name"], f"{where}.name")
        if "column" in comp:
            feature(comp["column"], f"{where}.column")
        for j, predicate in enumerate(comp["null_when"]):
            if predicate not in predicates:
                raise LinkageSettingsError(f"{where}.null_when[{j}]: no predicate named "
                                           f"{predicate!r}; use one of {_one_of(predicates)}")
        for j, level in enumerate(comp["levels"]):
            if level.get("when") not in predicates:
                raise LinkageSettingsError(f"{where}.levels[{j}].when: no predicate named "
                                           f"{level.get('when')!r}; use one of "
                                           f"{_one_of(predicates)}")
            if level.get("tf"):
                feature(level["tf"], f"{where}.levels[{j}].tf")
        n_levels = len(comp["levels"]) + 1
        if len(comp["default_m"]) != n_levels:
            raise LinkageSettingsError(f"{where}.default_m: needs {n_levels} values (one per "
                                       "level, then one for 'else')")
        labels[comp["name"]] = [level.get("label") for level in comp["levels"]] + ["else"]

    def levels(mapping: dict, where: str) -> None:
        for name, wanted in (mapping or {}).items():
            if name not in labels:
                raise LinkageSettingsError(f"{where}.{name}: no comparison named {name!r}; use "
                                           f"one of {_one_of(labels)}")
            for k, label in enumerate(wanted):
                if label not in labels[name]:
                    raise LinkageSettingsError(
                        f"{where}.{name}[{k}]: comparison {name} has no level {label!r}; use "
                        f"one of {', '.join(map(str, labels[name]))}")

    patterns = [("linkage.vetoes", settings.get("vetoes")),
                ("linkage.review.flag", settings["review"].get("flag"))]
    for where, items in patterns:
        for i, pattern in enumerate(items or []):
            check_name(pattern.get("name"), f"{where}[{i}].name")
            for clause in ("when", "unless"):
                levels(pattern.get(clause), f"{where}[{i}].{clause}")
    for i, session in enumerate(settings["model"].get("training") or []):
        where = f"linkage.model.training[{i}]"
        levels(session.get("where"), f"{where}.where")
        for j, name in enumerate(session.get("estimate") or []):
            if name not in labels:
                raise LinkageSettingsError(f"{where}.estimate[{j}]: no comparison named "
                                           f"{name!r}; use one of {_one_of(labels)}")
        for j, column in enumerate(session.get("block") or []):
            feature(column, f"{where}.block[{j}]")


def check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise LinkageSettingsError(f"{where}: {name!r} must be a lower-case identifier "
                                   "(letters, digits and _)")
