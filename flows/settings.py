"""The partnership's settings (`joinedup.yaml`), read once per run and checked whole before any
work starts.

A misspelt key or a value of the wrong type used to surface only when the step that read it ran
(a blocking key that does not exist failed 33 s into a run, at the link step, as a traceback);
a key nothing read was ignored. Here every key is checked up front against the schema below and,
for the four sections that override a packaged settings file, against that file's own keys and
value types, and then each layer's own loader resolves its section, so a run refuses bad settings
in a second with the file, the key and the allowed values named.

Sections (every key is documented in docs/settings.md; a test keeps the two in step):

- `partnership`, `feeds`, `inbox`, `warehouse`, `analysts`, `engine`, `notify`, `schedules`,
  `keys`: declared here;
- `linkage`, `publication`, `indicators`, `validation`: each overrides the packaged file of the
  same role (linkage/settings.yaml, warehouse/catalogue/publication.yaml,
  warehouse/catalogue/indicators.yaml, expectations/settings.yaml), nested mappings merged, lists
  replaced.
"""

from __future__ import annotations

import copy
import json
import os
import zoneinfo
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from flows.home import Home
from sources.common.yamlfiles import read_yaml, yaml_problem

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# section -> the packaged file it overrides
OVERRIDDEN_FILES = {
    "linkage": PACKAGE_ROOT / "linkage" / "settings.yaml",
    "publication": PACKAGE_ROOT / "warehouse" / "catalogue" / "publication.yaml",
    "indicators": PACKAGE_ROOT / "warehouse" / "catalogue" / "indicators.yaml",
    "validation": PACKAGE_ROOT / "expectations" / "settings.yaml",
}
# Mappings in those files whose keys are names chosen by the partnership (a new feed label, a new
# indicator code, a per-feed value): any key is allowed there; a key that exists in the packaged
# file is still checked against its shape.
OPEN_MAPPINGS = {
    "linkage": set(),
    "publication": {"sex_labels", "feed_labels", "trend.history_start", "completeness_fields"},
    "indicators": {"feed_late_after_days", "datasets", "indicators", "school_terms",
                   "indicators.*.params"},
    "validation": set(),
}
# Keys a section accepts beyond its packaged file's: `extras` names further columns to compare
# (set by `joinedup link --extra`).
EXTRA_KEYS = {"linkage": {"extras": list}}
# Sections whose owning layer checks their keys and types itself (linkage.settings, which
# `joinedup link --settings` uses too, and which also checks the items of its lists): checked
# there, once, not here as well.
CHECKED_BY_THEIR_LAYER = {"linkage"}


class SettingsError(ValueError):
    """Settings that cannot be used as written; the message names the file and the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Partnership(_Section):
    name: str | None = Field(None, description="Shown on every sheet of the return and report.")


class FeedSettings(_Section):
    kind: str | None = Field(None, description="The extract kind of the folder's files "
                                               "(sources/kinds/); default: the folder's name.")
    map: str | None = Field(None, description="Column map to use instead of choosing by header.")


class InboxSettings(_Section):
    settle_seconds: float = Field(120, ge=0, description="A file modified more recently than "
                                  "this is left for the next run (it may still be written).")
    max_uncompressed_mb: float = Field(1024, gt=0, description="A .csv.gz or workbook that "
                                       "expands to more is refused before it is expanded.")
    max_cells: int = Field(20_000_000, ge=1, description="A worksheet whose grid (rows x "
                           "columns) holds more cells is refused before it is read.")

    def rules(self):
        """As sources.archive receives by them."""
        from sources.archive import InboxRules
        from sources.readers import ReadLimits

        return InboxRules(self.settle_seconds, ReadLimits(
            max_bytes=int(self.max_uncompressed_mb * (1 << 20)), max_cells=self.max_cells))


class WarehouseSettings(_Section):
    keep_builds: int = Field(7, ge=1, description="Builds kept for `joinedup rollback`.")


class AnalystsSettings(_Section):
    group: str | None = Field(
        None, description="Operating-system group given read access to the analysts' folder "
        "(and passage through the home to it, nothing else); unset, only the pipeline's user "
        "can open it (docs/access.md).")

    @field_validator("group")
    @classmethod
    def _usable_group(cls, value: str | None) -> str | None:
        """Checked when the settings are read, not when a run reaches its last step: the
        pipeline's user can only give its files to a group it belongs to."""
        if value is None:
            return value
        import grp

        try:
            gid = grp.getgrnam(value).gr_gid
        except KeyError:
            raise ValueError(f"no operating-system group named {value!r}: create it "
                             f"(groupadd {value}) or correct the name") from None
        if os.geteuid() != 0 and gid not in {os.getegid(), *os.getgroups()}:
            raise ValueError(f"the pipeline's user is not in the group {value!r}, so it cannot "
                             f"give the analysts' files to it: add it (usermod -aG {value} "
                             "USER) and start a new session") from None
        return value


class EngineSettings(_Section):
    """Where linkage's pair stages run (flows.dask_engine, docs/scale.md)."""

    kind: str = Field("duckdb", description="duckdb: every pair in the run's own DuckDB; dask: "
                      "blocking, comparison and scoring in partitions on a Dask cluster.")
    scheduler: str | None = Field(None, description="The Dask scheduler's address "
                                  "(tcp://HOST:8786); unset, a local cluster is started.")
    workers: int = Field(2, ge=1, description="The local cluster's worker processes.")
    threads_per_worker: int = Field(1, ge=1, description="Tasks each local worker runs at once.")
    memory_limit: str = Field("4GB", description="Each local worker's memory limit; its tasks' "
                              "DuckDB spill to disk before it.")
    partitions: int | None = Field(None, ge=1, description="Partitions of the pairs; default "
                                   "four per worker thread.")
    incremental: bool = Field(True, description="Nightly runs compare only new and changed "
                              "records and carry the rest (linkage.incremental).")
    full_relink_days: int = Field(7, ge=1, description="A full relink (the model refitted) "
                                  "runs when the last is this many days old, and whenever the "
                                  "linkage settings change.")
    work_dir: str | None = Field(None, description="Folder for the partitions' files, one path "
                                 "every worker can read and write (shared storage for workers "
                                 "on other machines); default the home's private scratch.")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in ("duckdb", "dask"):
            raise ValueError(f"engine.kind must be duckdb or dask, not {value!r}")
        return value

    @field_validator("memory_limit")
    @classmethod
    def _bytes(cls, value: str) -> str:
        from dask.utils import parse_bytes

        try:
            parse_bytes(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a size such as 4GB") from None
        return value


class NotifySettings(_Section):
    webhook_url: str | None = Field(None, description="POSTed a JSON notice when a run fails.")


class ScheduleSettings(_Section):
    timezone: str = Field("Europe/London", description="Time zone of both cron schedules.")
    nightly: str = Field("0 2 * * *", description="Cron schedule of the nightly run.")
    quarterly: str = Field("0 6 1 1,4,7,10 *", description="Cron schedule of the return.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name such as Europe/London") from None
        return value

    @field_validator("nightly", "quarterly")
    @classmethod
    def _cron(cls, value: str) -> str:
        from datetime import datetime

        from cronsim import CronSim, CronSimError

        try:
            CronSim(value, datetime(2026, 1, 1))
        except CronSimError as exc:
            raise ValueError(f"{value!r} is not a cron expression ({exc})") from None
        return value


class KeySettings(_Section):
    pseudonym_secret_block: str | None = Field(
        None, description="Prefect Secret block holding the pseudonymisation key.")


class HomeSettings(_Section):
    """Everything a run is configured by. `linkage`, `publication`, `indicators` and `validation`
    hold the partnership's overrides as written (checked by `load_home_settings`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    partnership: Partnership = Partnership()
    feeds: dict[str, FeedSettings] = Field(
        default_factory=dict, description="Inbox folder -> the kind (and map) of its files.")
    linkage: dict[str, Any] = Field(default_factory=dict)
    publication: dict[str, Any] = Field(default_factory=dict)
    indicators: dict[str, Any] = Field(default_factory=dict)
    validation: dict[str, Any] = Field(default_factory=dict)
    inbox: InboxSettings = InboxSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    analysts: AnalystsSettings = AnalystsSettings()
    engine: EngineSettings = EngineSettings()
    notify: NotifySettings = NotifySettings()
    schedules: ScheduleSettings = ScheduleSettings()
    # `keys` in the file; not the attribute's name, since dict(model) would take it for
    # Mapping.keys (Prefect reads task inputs that way)
    key_settings: KeySettings = Field(KeySettings(), alias="keys")
    # the home's own population estimate, used when `publication.population_file` is not set
    _population: Path | None = PrivateAttr(None)

    @cached_property
    def catalogue(self):
        """The indicator catalogue and publication rules of this partnership, resolved once and
        handed to every step that derives, publishes or returns (warehouse.settings.Settings)."""
        from warehouse.settings import load_settings

        return load_settings(self.catalogue_overrides())

    def catalogue_overrides(self) -> dict[str, Any]:
        publication = copy.deepcopy(self.publication)
        if not publication.get("population_file") and self._population is not None:
            publication["population_file"] = str(self._population)
        return {**copy.deepcopy(self.indicators), "publication": publication}

    @property
    def partnership_name(self) -> str:
        return self.partnership.name or ("Partnership name not set (add `partnership: {name: "
                                          "...}` to joinedup.yaml)")

    def linkage_overrides(self) -> dict[str, Any]:
        return copy.deepcopy(self.linkage)

    def validation_overrides(self) -> dict[str, Any]:
        return copy.deepcopy(self.validation)

    def feed_table(self):
        """The inbox folders' kinds and maps as sources reads them (sources.feeds.FeedTable)."""
        from sources.feeds import FeedTable

        return FeedTable.from_settings(
            {folder: feed.model_dump(exclude_none=True) for folder, feed in self.feeds.items()})

    def record(self) -> dict[str, Any]:
        """As recorded with the run (meta.run and the run ledger): defaults filled in."""
        return json.loads(self.model_dump_json(by_alias=True))


DEFAULT_SETTINGS = HomeSettings()


def read_settings_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = read_yaml(path)
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}{yaml_problem(exc)}; fix the file and run again") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror}); it must be a file the "
                            "pipeline's user can read") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of settings sections such as "
                            f"{', '.join(_field_names(HomeSettings))}")
    return data


def load_home_settings(home: Home) -> HomeSettings:
    """The home's settings file read and checked whole (no file = the defaults); feeds' maps are
    checked against the home's own column maps too, and the home's population estimate, when
    it has one, gives the rates unless the settings name another file."""
    return check_settings(read_settings_file(home.settings_file), home.settings_file,
                          home.maps, home.population if home.population.exists() else None)


def check_settings(raw: dict[str, Any], origin: Path | str, maps_dir: Path | None = None,
                   population: Path | None = None) -> HomeSettings:
    try:
        settings = HomeSettings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(_pydantic_message(exc, origin)) from None
    settings._population = population
    for section, packaged in OVERRIDDEN_FILES.items():
        if section in CHECKED_BY_THEIR_LAYER:
            continue
        value = getattr(settings, section)
        defaults = read_yaml(packaged)
        problems = list(shape_problems(value, defaults, section, OPEN_MAPPINGS[section],
                                       EXTRA_KEYS.get(section, {})))
        if problems:
            raise SettingsError(f"{origin}: " + "; ".join(problems[:5]))
    _check_layers(settings, origin, maps_dir)
    return settings


def _check_layers(settings: HomeSettings, origin, maps_dir: Path | None) -> None:
    """Each layer resolves its own section, so a value that is of the right type but cannot be
    used (an indicator's unknown dataset, a veto naming no comparison) is refused now too.
    (`validation` has no rules beyond its file's keys and types.)"""
    from linkage.settings import load_settings as load_linkage
    from sources.column_maps import load_maps
    from sources.kinds import load_kinds

    kinds = load_kinds()
    maps = None
    for folder, feed in settings.feeds.items():
        kind = feed.kind or folder
        if kind not in kinds:
            raise SettingsError(f"{origin}: feeds.{folder}.kind: {kind!r} is not an extract "
                                f"kind; use one of {', '.join(sorted(kinds))}")
        if feed.map is not None:
            maps = maps if maps is not None else load_maps([maps_dir] if maps_dir else [])
            found = maps.get(feed.map)
            if found is None:
                raise SettingsError(
                    f"{origin}: feeds.{folder}.map: no column map named {feed.map!r}; use one of "
                    f"{', '.join(sorted(n for n, m in maps.items() if m.kind == kind))}")
            if found.kind != kind:
                raise SettingsError(f"{origin}: feeds.{folder}.map: map {feed.map!r} is for "
                                    f"{found.kind} extracts, not {kind}")
    try:
        load_linkage(settings.linkage_overrides())
    except ValueError as exc:                   # its messages name their `linkage.` key
        raise SettingsError(f"{origin}: {exc}") from None
    try:
        settings.catalogue                      # noqa: B018 (resolving it is the check)
    except (ValueError, KeyError, TypeError) as exc:
        raise SettingsError(f"{origin}: publication/indicators: {exc}") from None


def _pydantic_message(exc: ValidationError, origin) -> str:
    parts = []
    for error in exc.errors()[:5]:
        loc = ".".join(str(p) for p in error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = _allowed_at(error["loc"][:-1])
            parts.append(f"{loc}: unknown setting; allowed here: {', '.join(allowed)}")
        elif error["type"] == "value_error":
            parts.append(f"{loc}: {error['msg'].removeprefix('Value error, ')}")
        else:
            parts.append(f"{loc}: {error['msg']} (it is {error.get('input')!r})")
    return f"{origin}: " + "; ".join(parts)


def _allowed_at(loc: tuple) -> list[str]:
    model: type[BaseModel] | None = HomeSettings
    in_feeds = False
    for part in loc:
        if in_feeds:                            # a folder name inside `feeds`
            model, in_feeds = FeedSettings, False
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == str(part)),
                     None) if model is not None else None
        if field is None:
            return []
        in_feeds = part == "feeds"
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) and issubclass(
            annotation, BaseModel) else None
    return _field_names(model) if model is not None else []


def _field_names(model: type[BaseModel]) -> list[str]:
    """The keys as written in the file (a field's alias where it has one)."""
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _same_type(value: Any, default: Any) -> bool:
    if default is None or value is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, int | float):       # a packaged 15 may well be set to 9.6
        return isinstance(value, int | float)
    if isinstance(default, str):
        return isinstance(value, str | int | float)   # YAML reads 2024-11-01 or 5 unquoted
    return isinstance(value, type(default))


def shape_problems(value: Any, default: Any, path: str, open_paths: set[str],
                   extra: dict[str, type] | None = None, relative: str = ""):
    """Keys of `value` that `default` (the packaged document) does not have, and values whose
    type differs from the default's; yields one message per problem."""
    if isinstance(default, dict):
        if not isinstance(value, dict):
            yield f"{path}: expected a mapping (it is {_type_name(value)})"
            return
        is_open = relative in open_paths or _wildcard(relative) in open_paths
        for key, item in value.items():
            child_rel = f"{relative}.{key}" if relative else str(key)
            child = f"{path}.{key}"
            if key in default:
                yield from shape_problems(item, default[key], child, open_paths, None, child_rel)
            elif extra and key in extra:
                if not isinstance(item, extra[key]):
                    yield f"{child}: expected {_type_name(extra[key]())}"
            elif not is_open:
                allowed = sorted([*map(str, default), *(extra or {})])
                yield (f"{child}: unknown setting; allowed here: {', '.join(allowed)}")
        return
    if not _same_type(value, default):
        yield f"{path}: expected {_type_name(default)} (it is {value!r})"


def _wildcard(relative: str) -> str:
    parts = relative.split(".")
    return ".".join(parts[:1] + ["*"] + parts[2:]) if len(parts) > 2 else relative


def documented_keys() -> list[str]:
    """Every setting a partnership can write, as the dotted paths docs/settings.md must list:
    the declared sections' fields, and each leaf of the packaged files (lists and open mappings
    as one setting each)."""
    keys = []
    for name, field in HomeSettings.model_fields.items():
        name = field.alias or name
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys += [f"{name}.{sub}" for sub in annotation.model_fields]
        elif name == "feeds":
            keys += [f"feeds.<folder>.{sub}" for sub in FeedSettings.model_fields]
    for section, packaged in OVERRIDDEN_FILES.items():
        document = read_yaml(packaged)
        keys += _leaves(document, section, "", OPEN_MAPPINGS[section])
        keys += [f"{section}.{k}" for k in EXTRA_KEYS.get(section, {})]
    return keys


def _leaves(document: Any, path: str, relative: str, open_paths: set[str]) -> list[str]:
    if not isinstance(document, dict) or relative in open_paths:
        return [path]
    out = []
    for key, value in document.items():
        out += _leaves(value, f"{path}.{key}", f"{relative}.{key}" if relative else str(key),
                       open_paths)
    return out
