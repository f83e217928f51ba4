"""The home directory of one partnership: where extracts arrive, are archived, built and published.

```
<home>/inbox/<source>/        extracts as delivered (removed once archived)
<home>/lake/raw/...           immutable archive; lake/ledger.jsonl records every receipt
<home>/warehouse/joinedup.duckdb        the published warehouse analysts open read-only
<home>/warehouse/builds/<run>.duckdb    builds (the published file is one of them)
<home>/exports/<period>/      CSV tables for people
<home>/maps/                  the partnership's own column maps (optional)
<home>/joinedup.yaml          the partnership's settings (optional)
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_HOME = Path("joinedup-home")
SETTINGS_FILE = "joinedup.yaml"


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def live(self) -> Path:
        return self.warehouse_dir / "joinedup.duckdb"

    @property
    def builds(self) -> Path:
        return self.warehouse_dir / "builds"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def maps(self) -> Path:
        return self.root / "maps"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    def ensure(self) -> Home:
        """Create the layout; personal data lives here, so only the owner may enter."""
        for path in (self.root, self.inbox, self.lake, self.warehouse_dir, self.builds,
                     self.exports):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        return self

    def settings(self) -> dict:
        """The partnership's overrides: sections `feeds`, `linkage`, `publication`,
        `indicators`, `validation`."""
        path = self.root / SETTINGS_FILE
        if not path.exists():
            return {}
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of settings sections")
        return data

    def feed_kind(self, source: str) -> tuple[str, str | None]:
        """(kind, map name or None) for an inbox folder; by default the folder is the kind."""
        feed = (self.settings().get("feeds") or {}).get(source) or {}
        return feed.get("kind", source), feed.get("map")


def resolve_home(path: Path | str | None) -> Home:
    if path is None:
        path = os.environ.get("JOINEDUP_HOME") or DEFAULT_HOME
    return Home(Path(path).expanduser().resolve())
