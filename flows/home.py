"""The home directory of one partnership: the only place its layout is spelt.

```
<home>/joinedup.yaml                    the partnership's settings (optional; docs/settings.md)
<home>/inbox/<source>/                  extracts as delivered (removed once archived)
<home>/lake/raw/<source>/<date>/        immutable archive of every file received
<home>/lake/ledger.jsonl                every receipt and ingestion outcome
<home>/lake/runs.jsonl                  every run: started, finished, rolled back
<home>/warehouse/joinedup.duckdb        the published build: the linkage zone's warehouse
<home>/warehouse/builds/<run>.duckdb    builds (the published file is a hard link to one)
<home>/warehouse/tmp/                   scratch space of the quarterly return
<home>/analysts/current/                the analysts' publication (a link to one of these):
<home>/analysts/publications/<run>/       joinedup.duckdb (no identifying data) and exports/
<home>/exports/returns/<quarter>/       the quarterly return: workbook, CSVs, report
<home>/model-report/<run>.html          the linkage model report of each run
<home>/data-docs/                       Great Expectations Data Docs, one site per run
<home>/review/decisions.jsonl           clerical reviewers' match / non-match decisions
<home>/secrets/pseudonym.key            the demo's pseudonymisation key (never for real data)
<home>/maps/                            the partnership's own column maps (optional)
<home>/reference/population_estimate.csv  population denominators for rates (optional)
<home>/truth/                           the synthetic generator's ground truth (demo only)
```

Every layer below `flows` is handed the paths it needs from here, so moving a folder is a change
to this file alone.

Two zones (docs/access.md): everything but `analysts/` is the linkage zone, the pipeline user's
alone (folders 0700); `analysts/` is readable by the analysts' group when one is configured,
and the home itself then lets that group pass through (0710) without listing it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path("joinedup-home")
HOME_ENV = "JOINEDUP_HOME"


@dataclass(frozen=True)
class Home:
    root: Path

    # ------------------------------------------------------------------ settings and inputs
    @property
    def settings_file(self) -> Path:
        return self.root / "joinedup.yaml"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def maps(self) -> Path:
        return self.root / "maps"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def population(self) -> Path:
        return self.reference / "population_estimate.csv"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    @property
    def truth_records(self) -> Path:
        return self.truth / "records.csv"

    # ------------------------------------------------------------------ the lake
    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def raw(self) -> Path:
        return self.lake / "raw"

    @property
    def ledger(self) -> Path:
        return self.lake / "ledger.jsonl"

    @property
    def run_ledger(self) -> Path:
        return self.lake / "runs.jsonl"

    # ------------------------------------------------------------------ the warehouse
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
    def work_dir(self) -> Path:
        """Scratch copies of the warehouse (the quarterly return): inside the home, because
        they hold personal data."""
        return self.warehouse_dir / "tmp"

    @property
    def published_returns(self) -> Path:
        """The cells each quarterly return printed (warehouse.publication_history): printed
        figures only, read into every later build and return."""
        return self.warehouse_dir / "published-returns"

    @property
    def run_lock(self) -> Path:
        """Held (flock) by the one run or rollback allowed at a time."""
        return self.warehouse_dir / ".run.lock"

    def build(self, run_id: str) -> Path:
        return self.builds / f"{run_id}.duckdb"

    # ------------------------------------------------------------------ the analysts' zone
    @property
    def analysts(self) -> Path:
        return self.root / "analysts"

    @property
    def publications(self) -> Path:
        return self.analysts / "publications"

    @property
    def analysts_current(self) -> Path:
        """A symbolic link to the published run's folder in `publications`."""
        return self.analysts / "current"

    @property
    def analysts_file(self) -> Path:
        """The file analysts open (`joinedup sql`), through the `current` link."""
        return self.analysts_current / "joinedup.duckdb"

    # ------------------------------------------------------------------ outputs
    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def returns(self) -> Path:
        return self.exports / "returns"

    def return_dir(self, quarter: str) -> Path:
        return self.returns / quarter

    @property
    def model_reports(self) -> Path:
        return self.root / "model-report"

    def model_report(self, run_id: str) -> Path:
        return self.model_reports / f"{run_id}.html"

    @property
    def data_docs(self) -> Path:
        return self.root / "data-docs"

    # ------------------------------------------------------------------ review and secrets
    @property
    def review_dir(self) -> Path:
        return self.root / "review"

    @property
    def decisions(self) -> Path:
        return self.review_dir / "decisions.jsonl"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def demo_key(self) -> Path:
        return self.secrets / "pseudonym.key"

    def private_dirs(self) -> tuple[Path, ...]:
        """The linkage zone's folders at the top of the home: the pipeline user's alone, since
        the home itself may let the analysts' group pass through to `analysts/`."""
        return (self.inbox, self.lake, self.warehouse_dir, self.exports, self.review_dir,
                self.secrets, self.maps, self.reference, self.truth, self.model_reports,
                self.data_docs)

    def ensure(self) -> Home:
        """Create the layout, every folder of the linkage zone the owner's alone. The home is
        0700, or 0710 once the analysts' group has been let through (warehouse.analysts)."""
        self.root.mkdir(parents=True, exist_ok=True)
        opened = self.root.stat().st_mode & 0o777 == 0o710
        os.chmod(self.root, 0o710 if opened else 0o700)
        for path in self.private_dirs():
            path.mkdir(exist_ok=True)
            os.chmod(path, 0o700)
        self.builds.mkdir(exist_ok=True)
        return self



def resolve_home(path: Path | str | None) -> Home:
    if path is None:
        path = os.environ.get(HOME_ENV) or DEFAULT_HOME
    return Home(Path(path).expanduser().resolve())
