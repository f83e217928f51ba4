"""The product's own log lines in the Prefect run they belong to.

Steps log through the `joinedup` logger (file names, counts and ids only, never a value from an
extract), which Prefect does not send to its API unless told. An operator reading a failed run in
the Prefect UI needs those lines ("loaded police.csv: 412 rows in, 3 quarantined"), so each flow
attaches Prefect's API handler to that logger for the length of its run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

PRODUCT_LOGGER = "joinedup"


@contextmanager
def product_logs_to_prefect() -> Iterator[None]:
    from prefect.logging.handlers import APILogHandler

    logger = logging.getLogger(PRODUCT_LOGGER)
    if any(isinstance(h, APILogHandler) for h in logger.handlers):   # PREFECT_LOGGING_EXTRA_LOGGERS
        yield
        return
    handler = APILogHandler(level=logging.INFO)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
