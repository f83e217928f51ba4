"""Prefect flows and the `joinedup` command line. Orchestration only: every step is a plain
function in `flows.steps` that tests call without Prefect."""

import os

# Offline council servers: no telemetry calls that would fail and clutter the logs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
