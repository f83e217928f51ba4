"""The files of a delivery that is a folder (an SSDA903 set, a termly school census), with the
names they were delivered under: as received, or as archived with the manifest recording those
names (messages quote the delivered name, never the archive copy's)."""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "manifest.json"


def named_files(folder: Path) -> list[tuple[Path, str]]:
    manifest = folder / MANIFEST
    if manifest.exists():
        entries = json.loads(manifest.read_text(encoding="utf-8"))
        return [(folder / e["archive_name"], e["name"]) for e in entries]
    return [(p, p.name) for p in sorted(folder.iterdir()) if p.is_file()]
