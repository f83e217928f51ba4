"""Prefect flows and the `joinedup` command line. Orchestration only: every step is a plain
function in `flows.steps` that tests call without Prefect."""

import os

# Offline council servers: no telemetry calls that would fail and clutter the logs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Without PREFECT_API_URL a run starts Prefect's temporary server, whose first start (database
# migrations) took longer than Prefect's default 20 s on a busy machine: the night's run failed
# because the machine was busy. The wait is raised, not the work; a partnership may set its own.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
