"""Shared test fixtures (the builders they use live in tests/builders/). All data here is
invented."""

from __future__ import annotations

import os
import tempfile
import threading
import time
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


# a file that will hold the URL of the Prefect server the xdist controller starts for its workers
SHARED_SERVER_ENV = "JOINEDUP_TEST_PREFECT_URL_FILE"


def _starts_shared_server(config) -> bool:
    """Under xdist the controller starts one temporary Prefect server for both workers (each
    would otherwise start its own: some 8 s of migrations and a second set of server services
    on the same two cores), unless the run deselects the tests that need one."""
    controller = not hasattr(config, "workerinput") and getattr(config.option, "numprocesses",
                                                                 None)
    return bool(controller) and "not slow" not in (config.option.markexpr or "")


class SharedServer:
    """The controller's Prefect test server, started in a thread so the workers start and collect
    meanwhile; its URL is written to a file the workers wait for."""

    def __init__(self, url_file: Path) -> None:
        self.url_file = url_file
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        try:
            with prefect_test_harness(server_startup_timeout=90):
                self._publish(PREFECT_API_URL.value())
                self.stop.wait()
        except Exception as exc:  # noqa: BLE001 - the workers report it and fail their tests
            self._publish(f"error: {exc!r}")

    def _publish(self, text: str) -> None:
        part = self.url_file.with_suffix(".part")
        part.write_text(text)
        os.replace(part, self.url_file)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def pytest_configure(config):
    if _starts_shared_server(config):
        url_file = Path(tempfile.mkdtemp(prefix="joinedup-prefect-")) / "url"
        os.environ[SHARED_SERVER_ENV] = str(url_file)             # inherited by the workers
        config._joinedup_prefect = SharedServer(url_file)


def pytest_unconfigure(config):
    server = getattr(config, "_joinedup_prefect", None)
    if server is not None:
        server.close()


def _shared_server_url(url_file: Path) -> str:
    deadline = time.monotonic() + 120
    while not url_file.exists():
        assert time.monotonic() < deadline, "the shared Prefect test server never started"
        time.sleep(0.2)
    url = url_file.read_text()
    assert url.startswith("http"), f"the shared Prefect test server did not start: {url}"
    return url


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server and database for the whole session, shared by every test file
    that runs real flows: the controller's under xdist, else one started here (~10-20 s).
    Request it; it is not autouse."""
    shared = os.environ.get(SHARED_SERVER_ENV)
    if shared:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: _shared_server_url(Path(shared))}):
            yield
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def police_map_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "maps"
    write_map(folder)
    return folder
