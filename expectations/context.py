"""The one way Joined Up makes a Great Expectations context, for validating extracts and for
writing Data Docs alike.

Ephemeral: suites are built from the kinds and column maps on every run, so there is no GX
project folder to keep in step; analytics off (no data about a partnership's runs leaves the
machine); progress bars off (they fill the nightly run's log with nothing a reader needs).
"""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
import great_expectations as gx  # noqa: E402


def ephemeral_context():
    """A new in-memory context: validation keeps one per process, Data Docs one per site."""
    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except ImportError:  # progress bars are cosmetic
        pass
    return context
