"""Which extract kind (and column map) each inbox folder delivers, as data handed down by flows.

An inbox folder is a feed. By default its name is the kind (`inbox/police/` delivers police
extracts); a partnership with two police systems declares both under `feeds:` in its settings,
each naming its kind and, optionally, the map its files must fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sources.kinds import get_kind, load_kinds


@dataclass(frozen=True)
class Feed:
    source: str                 # the inbox folder
    kind: str
    map_name: str | None = None

    @property
    def refresh(self) -> str:
        """`full` (each delivery replaces the last) or `incremental`, from the kind."""
        return get_kind(self.kind).refresh


@dataclass(frozen=True)
class FeedTable:
    declared: Mapping[str, Feed] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, section: Mapping | None) -> FeedTable:
        """From the `feeds:` settings section: {folder: {kind: K, map: M}}, both optional."""
        feeds = {}
        for source, spec in (section or {}).items():
            spec = spec or {}
            feeds[source] = Feed(source=source, kind=spec.get("kind", source),
                                 map_name=spec.get("map"))
        return cls(feeds)

    def feed(self, source: str) -> Feed:
        return self.declared.get(source) or Feed(source=source, kind=source)

    @property
    def known_kinds(self) -> list[str]:
        return sorted(load_kinds())

    def takes_sets(self, source: str) -> bool:
        """Whether a folder inside this feed's folder is one delivery (an SSDA903 set)."""
        kind = load_kinds().get(self.feed(source).kind)
        return kind is not None and kind.sets

    def kind_problem(self, source: str) -> str:
        """Why files in this folder cannot be read as any kind ("" when they can)."""
        if self.feed(source).kind in load_kinds():
            return ""
        return (f"inbox folder '{source}' is not a known extract kind; use one of "
                f"{', '.join(self.known_kinds)} or declare it under `feeds:` in joinedup.yaml")
