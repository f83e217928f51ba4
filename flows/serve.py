"""Schedules: the `nightly` and `quarterly-return` deployments, served by `joinedup serve`.

`joinedup serve` is one long-running process (Prefect's `serve`: no work pool, no worker) that
registers both deployments with the Prefect server named by PREFECT_API_URL and runs their
scheduled runs. Stopping it (Ctrl-C / SIGTERM) pauses the schedules. Schedules come from
`schedules:` in joinedup.yaml, e.g.

```yaml
schedules:
  timezone: Europe/London
  nightly: "0 2 * * *"
  quarterly: "0 6 1 1,4,7,10 *"
```
"""

from __future__ import annotations

import importlib
import inspect
import logging

from flows.home import Home

DEFAULT_TIMEZONE = "Europe/London"
DEFAULT_NIGHTLY_CRON = "0 2 * * *"
DEFAULT_QUARTERLY_CRON = "0 6 1 1,4,7,10 *"     # 06:00 on the first day of each quarter
QUARTERLY_FLOW = "quarterly-return"

log = logging.getLogger("joinedup")


def schedule_settings(home: Home, nightly_cron: str | None = None,
                      quarterly_cron: str | None = None, timezone: str | None = None) -> dict:
    conf = home.settings().get("schedules") or {}
    return {"nightly": nightly_cron or conf.get("nightly") or DEFAULT_NIGHTLY_CRON,
            "quarterly": quarterly_cron or conf.get("quarterly") or DEFAULT_QUARTERLY_CRON,
            "timezone": timezone or conf.get("timezone") or DEFAULT_TIMEZONE}


def quarterly_flow():
    """The `quarterly-return` flow from flows.quarterly, or None while that module is absent."""
    from prefect import Flow

    try:
        module = importlib.import_module("flows.quarterly")
    except ImportError:
        return None
    for value in vars(module).values():
        if isinstance(value, Flow) and value.name == QUARTERLY_FLOW:
            return value
    return None


def deployments(home: Home, schedules: dict) -> list:
    """RunnerDeployments for `serve`; parameters carry only the home path (no personal data)."""
    from prefect.client.schemas.schedules import CronSchedule

    from flows.nightly import nightly

    tz = schedules["timezone"]
    out = [nightly.to_deployment(
        name="nightly", parameters={"home": str(home.root)}, tags=["joinedup"],
        schedules=[CronSchedule(cron=schedules["nightly"], timezone=tz)],
        description="Receive, check, link and publish the partnership's warehouse.")]
    quarterly = quarterly_flow()
    if quarterly is None:
        log.warning("flows.quarterly (flow %r) is not available: serving `nightly` only",
                    QUARTERLY_FLOW)
        return out
    params = {}
    if "home" in inspect.signature(quarterly.fn).parameters:
        params["home"] = str(home.root)
    out.append(quarterly.to_deployment(
        name=QUARTERLY_FLOW, parameters=params, tags=["joinedup"],
        schedules=[CronSchedule(cron=schedules["quarterly"], timezone=tz)],
        description="The partnership's quarterly data return."))
    return out


def serve_home(home: Home, schedules: dict) -> None:
    from prefect import serve

    serve(*deployments(home, schedules))
