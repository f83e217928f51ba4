"""Putting a publication back: rollback to a kept build, and rebuild from the archive alone.

The checks live here rather than in the command line so that they hold however the operation is
started, and so that a test can call them without Typer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flows import run_ledger
from flows.home import Home
from flows.settings import load_home_settings
from flows.steps import reconcile_analysts
from sources.inbox import survey
from warehouse import swap


class RecoveryError(ValueError):
    """The operation cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class Rollback:
    published: str                  # run id of the build now published
    previous: str | None            # run id of the build it replaced, if any


def rollback(home: Home, to: str | None = None) -> Rollback:
    """Publish the kept build of run `to` (default: the build before the published one) again,
    atomically and under the run lock, and record it in the run ledger; the analysts'
    publication follows it."""
    kept = swap.kept_builds(home.builds)
    if not kept:
        raise RecoveryError(f"no kept builds in {home.builds}")
    names = ", ".join(b.stem for b in kept)
    current = swap.live_build(home.builds, home.live)
    if to is None:
        older = [b for b in kept if current is None or b.stem < current.stem]
        if not older:
            raise RecoveryError(f"no kept build older than the published one; kept: {names}")
        chosen = older[-1]
    else:
        chosen = home.build(to)
        if not chosen.exists():
            raise RecoveryError(f"no kept build for run {to}; kept: {names}")
    previous = current.stem if current else None
    with swap.run_lock(home.run_lock):
        swap.restore_build(chosen, home.live)
        run_ledger.record_rollback(home, chosen.stem, previous)
        reconcile_analysts(home, load_home_settings(home))
    return Rollback(chosen.stem, previous)


def rebuild(home: Home, as_of: date | None = None) -> dict:
    """Recreate the warehouse from the lake and its ledger alone, with the reporting date (unless
    given) and run date of the last publication; returns the nightly run's summary."""
    from flows.nightly import nightly

    waiting = [e for e in survey(home.inbox) if e.state == "receive"]
    if waiting:
        raise RecoveryError(f"{len(waiting)} files wait in {home.inbox}: rebuild uses the "
                            "archive alone; receive them with `joinedup run` first")
    if not home.ledger.exists():
        raise RecoveryError(f"{home.ledger} not found: nothing archived")
    last_as_of, run_date = run_ledger.last_published_dates(home)
    return nightly(home=str(home.ensure().root), as_of=as_of or last_as_of, run_date=run_date,
                   kind="rebuild")
