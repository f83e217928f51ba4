"""Shared test fixtures (the builders they use live in tests/builders/). All data here is
invented."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tests.builders.police_map import write_map

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test that needs the Prefect server is `slow` (marked here, before `-m` selects), and
    the files holding slow tests run first: under `-n 2 --dist loadfile --no-loadscope-reorder`
    the long end-to-end and crash files start at once on the two workers instead of last."""
    for item in items:
        if "prefect_harness" in item.fixturenames:
            item.add_marker(pytest.mark.slow)
    slow = Counter(item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.nodeid.split("::")[0]])     # stable within a file


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server and database for the whole session (~10-20 s to start), shared
    by every test file that runs real flows: request it, it is not autouse."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def police_map_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "maps"
    write_map(folder)
    return folder
