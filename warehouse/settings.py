"""The indicator catalogue and publication settings, loaded from `warehouse/catalogue/*.yaml`.

Thresholds change with policy (persistent absence 20% -> 15% -> 10%) and partnerships choose
their own disclosure threshold and age bands, so all of it is data. A run may override any part
with a nested dict, which is deep-merged over the files; the merged document is what a run
records in meta.run.settings_json, so every published table can be traced to its rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sources.codes import load_table
from sources.common.mappings import deep_merge
from sources.common.periods import reporting_period
from sources.common.yamlfiles import read_yaml
from sources.kinds import load_kinds
from warehouse.disclosure import ROUNDING_BASES

CATALOGUE_DIR = Path(__file__).parent / "catalogue"
SQL_DIR = Path(__file__).parent / "sql"

AGE_RULES = ("exclude_adult", "child_victim")


class SettingsError(ValueError):
    """A catalogue or settings document that cannot be used as written."""


@dataclass(frozen=True)
class Dataset:
    code: str
    label: str
    feed: str
    inquiry_matched: bool


@dataclass(frozen=True)
class Indicator:
    code: str
    inquiry: str
    label: str
    definition: str
    dataset: str
    feed: str
    sql: str
    inquiry_level: str
    age_rule: str = "exclude_adult"
    requires: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def sql_path(self) -> Path:
        return SQL_DIR / "indicators" / self.sql


@dataclass(frozen=True)
class AgeBand:
    label: str
    min: int
    max: int | None

    def contains(self, age: int) -> bool:
        return age >= self.min and (self.max is None or age <= self.max)


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one run: the catalogue plus publication rules."""

    document: dict[str, Any]
    datasets: dict[str, Dataset]
    indicators: dict[str, Indicator]
    age_bands: tuple[AgeBand, ...]

    @property
    def publication(self) -> dict[str, Any]:
        return self.document["publication"]

    @property
    def disclosure_threshold(self) -> int:
        return int(self.publication["disclosure"]["threshold"])

    @property
    def protection_width(self) -> int:
        """How wide the range of every suppressed count must stay (default: the threshold)."""
        width = self.publication["disclosure"].get("protection_width")
        return self.disclosure_threshold if width is None else int(width)

    @property
    def suppression_costs(self) -> dict[str, Any]:
        return dict(self.publication["disclosure"].get("costs") or {})

    @property
    def rounding(self) -> str:
        """none / nearest_5 (see warehouse.disclosure)."""
        return str(self.publication["disclosure"].get("rounding") or "none")

    @property
    def symbol(self) -> str:
        return str(self.publication["disclosure"]["symbol"])

    @property
    def school_terms(self) -> dict[str, dict[str, int]]:
        return self.document["school_terms"]

    def late_after_days(self, feed: str) -> int:
        per_feed = self.document.get("feed_late_after_days") or {}
        return int(per_feed.get(feed, self.document.get("late_after_days", 35)))

    def kind_of_feed(self, feed: str) -> str:
        for kind in load_kinds().values():
            if kind.feed == feed:
                return kind.name
        raise SettingsError(f"no extract kind delivers feed {feed!r}")

    def to_json(self) -> str:
        """The merged document, for meta.run.settings_json (no personal data in it)."""
        return json.dumps(self.document, sort_keys=True, default=str)


def default_document() -> dict[str, Any]:
    doc = read_yaml(CATALOGUE_DIR / "indicators.yaml")
    doc["publication"] = read_yaml(CATALOGUE_DIR / "publication.yaml")
    return doc


def _resolve_param(name: str, value: Any) -> Any:
    """Expand {code_table: T, where: {...}} into the list of codes of T with those attributes."""
    if isinstance(value, Mapping) and "code_table" in value:
        table = load_table(str(value["code_table"]))
        where = dict(value.get("where") or {})
        return sorted(
            code
            for code in table.codes
            if all(table.attribute(code, k, False) == v for k, v in where.items())
        )
    if isinstance(value, Mapping):
        raise SettingsError(f"param {name!r}: a mapping must be a code_table reference")
    return value


def _indicator(code: str, raw: Mapping, datasets: Mapping[str, Dataset]) -> Indicator:
    missing = [k for k in ("label", "dataset", "feed", "sql") if not raw.get(k)]
    if missing:
        raise SettingsError(f"indicator {code}: missing {', '.join(missing)}")
    if raw["dataset"] not in datasets:
        raise SettingsError(f"indicator {code}: unknown dataset {raw['dataset']!r}")
    age_rule = raw.get("age_rule", "exclude_adult")
    if age_rule not in AGE_RULES:
        raise SettingsError(f"indicator {code}: age_rule must be one of {AGE_RULES}")
    ind = Indicator(
        code=code,
        inquiry=str(raw.get("inquiry", "")),
        label=str(raw["label"]),
        definition=str(raw.get("definition", raw["label"])),
        dataset=str(raw["dataset"]),
        feed=str(raw["feed"]),
        sql=str(raw["sql"]),
        inquiry_level=str(raw.get("inquiry_level", "?")),
        age_rule=age_rule,
        requires=tuple(raw.get("requires") or ()),
        params={k: _resolve_param(k, v) for k, v in (raw.get("params") or {}).items()},
    )
    if not ind.sql_path.exists():
        raise SettingsError(f"indicator {code}: no SQL file {ind.sql}")
    kind = next((k for k in load_kinds().values() if k.feed == ind.feed), None)
    if kind is None:
        raise SettingsError(f"indicator {code}: no extract kind delivers feed {ind.feed!r}")
    unknown = [c for c in ind.requires if c not in kind.event_columns]
    if unknown:
        raise SettingsError(f"indicator {code}: requires unknown {kind.name} columns {unknown}")
    return ind


def _age_bands(raw: list[Mapping]) -> tuple[AgeBand, ...]:
    bands = tuple(
        AgeBand(str(b["label"]), int(b["min"]), None if b.get("max") is None else int(b["max"]))
        for b in raw
    )
    for age in range(0, 120):
        hits = [b.label for b in bands if b.contains(age)]
        if len(hits) > 1:
            raise SettingsError(f"age bands overlap at age {age}: {hits}")
    return bands


def as_document(overrides: Mapping, doc: Mapping | None = None) -> Mapping:
    """A partnership's joinedup.yaml naturally writes `publication: {disclosure: {...}}`; an
    override whose keys are all publication settings (none of them a top-level key of the
    document) is that section, so it is merged under `publication` rather than ignored."""
    doc = doc if doc is not None else default_document()
    keys = set(overrides)
    if keys and keys <= set(doc["publication"]) and not keys & set(doc):
        return {"publication": dict(overrides)}
    return overrides


def load_settings(overrides: Mapping | Settings | None = None) -> Settings:
    """Defaults from the YAML files, with `overrides` deep-merged over them."""
    if isinstance(overrides, Settings):
        return overrides
    doc = default_document()
    if overrides:
        doc = deep_merge(doc, as_document(overrides, doc))
    datasets = {
        code: Dataset(code, str(d["label"]), str(d["feed"]), bool(d.get("inquiry_matched")))
        for code, d in doc["datasets"].items()
    }
    indicators = {
        code: _indicator(code, raw, datasets) for code, raw in doc["indicators"].items()
    }
    threshold = doc["publication"]["disclosure"]["threshold"]
    if not isinstance(threshold, int) or threshold < 1:
        raise SettingsError("publication.disclosure.threshold must be a positive integer")
    _check_protection(doc["publication"]["disclosure"])
    rounding = str(doc["publication"]["disclosure"].get("rounding") or "none")
    if rounding not in ROUNDING_BASES:
        raise SettingsError(f"publication.disclosure.rounding must be one of "
                            f"{', '.join(ROUNDING_BASES)} (it is {rounding!r})")
    base = ROUNDING_BASES[rounding]
    if base is not None and threshold <= base // 2:
        # a published count of 1..base/2 would round to 0 and read as a true zero
        raise SettingsError(f"publication.disclosure.rounding {rounding} needs a threshold of at "
                            f"least {base // 2 + 1}, so that no published count rounds to 0")
    return Settings(
        document=doc,
        datasets=datasets,
        indicators=indicators,
        age_bands=_age_bands(doc["publication"]["age_bands"]),
    )


def _check_protection(disclosure: Mapping) -> None:
    width = disclosure.get("protection_width")
    if width is not None and (not isinstance(width, int) or isinstance(width, bool) or width < 1):
        raise SettingsError("publication.disclosure.protection_width must be a positive integer "
                            "(or null for the threshold)")
    costs = disclosure.get("costs") or {}
    unknown = set(costs) - {"level_weights", "headline_weight"}
    if unknown:
        raise SettingsError(f"publication.disclosure.costs: unknown setting {sorted(unknown)[0]}; "
                            "allowed here: headline_weight, level_weights")
    weights = list(costs.get("level_weights") or [1])
    weights.append(costs.get("headline_weight", 1))
    if not all(isinstance(w, int | float) and not isinstance(w, bool) and w > 0
               for w in weights):
        raise SettingsError("publication.disclosure.costs: weights must be positive numbers")


def default_period(as_of: date) -> tuple[date, date]:
    """The 12 months ending on as_of: (as_of - 1 year + 1 day, as_of)."""
    return reporting_period(as_of)


def resolve_period(
    as_of: date | None, period_start: date | None, period_end: date | None
) -> tuple[date, date]:
    if period_start is None or period_end is None:
        if as_of is None:
            raise SettingsError("give as_of or both period_start and period_end")
        start, end = default_period(as_of)
        period_start = period_start or start
        period_end = period_end or end
    if period_start > period_end:
        raise SettingsError("period_start is after period_end")
    return period_start, period_end
