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
import threading
import warnings

from pydantic import ValidationError

from flows.home import Home
from flows.settings import ScheduleSettings, SettingsError

QUARTERLY_FLOW = "quarterly-return"
SHUTDOWN_SECONDS = 5.0      # `serve` is gone this soon after SIGTERM, its schedules paused or not

log = logging.getLogger("joinedup")


def schedule_settings(configured: ScheduleSettings, nightly_cron: str | None = None,
                      quarterly_cron: str | None = None, timezone: str | None = None) -> dict:
    """The home's schedules with the command line's overrides, checked like the settings file
    (a mistyped cron or time zone is refused before anything is registered)."""
    try:
        return ScheduleSettings(
            nightly=nightly_cron or configured.nightly,
            quarterly=quarterly_cron or configured.quarterly,
            timezone=timezone or configured.timezone).model_dump()
    except ValidationError as exc:
        raise SettingsError("; ".join(f"--{'cron' if e['loc'][0] == 'nightly' else e['loc'][0]}: "
                                      f"{e['msg']}" for e in exc.errors())) from None


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

    served = deployments(home, schedules)
    # Prefect 3.8's SIGTERM handler calls the runner's async stop without awaiting it; the
    # warning says nothing an operator can act on
    warnings.filterwarnings("ignore", message="coroutine 'Runner.astop' was never awaited",
                            category=RuntimeWarning)
    try:
        serve(*served, pause_on_shutdown=False)
    finally:
        pause_schedules(served, SHUTDOWN_SECONDS)


def pause_schedules(served: list, seconds: float) -> bool:
    """Pause the served deployments' schedules, giving up after `seconds`.

    Prefect's own pause on shutdown retries a busy or stopped server: `serve` hung for over 50 s
    after SIGTERM. A service manager stopping the process must see it go at once, so the pause is
    bounded and, if the server does not answer in time, left to the operator (the message says
    how); the runs of an unpaused schedule simply wait, late, for the next `serve`."""
    done = threading.Event()

    def pause() -> None:
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                for deployment in served:
                    found = client.read_deployment_by_name(
                        f"{deployment.flow_name}/{deployment.name}")
                    client.pause_deployment(found.id)
            done.set()
        except Exception as exc:  # noqa: BLE001 - reported below as not paused
            log.debug("pausing the schedules failed: %r", exc)

    worker = threading.Thread(target=pause, name="pause-schedules", daemon=True)
    worker.start()
    worker.join(seconds)
    if done.is_set():
        log.info("paused the schedules of %d deployments", len(served))
    else:
        log.warning("the schedules could not be paused (the Prefect server did not answer "
                    "within %g s): pause them with `prefect deployment pause` or in the Prefect "
                    "UI", seconds)
    return done.is_set()
