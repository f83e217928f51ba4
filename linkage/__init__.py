"""Joined Up linkage: which person records belong to the same child.

Canonical person records (staging.person_record, or any table of that shape) are linked by
deterministic rules on strong identifiers and a Fellegi-Sunter model estimated without labels;
clusters are guarded against chaining and twins, and person ids are kept stable across runs.
The package does not know which agency a record came from.

Public API:
    run_linkage(con, *, source_table="staging.person_record", previous_ids=None, settings=None)
    evaluate_pairs(predicted, truth)
"""

from linkage.evaluate import evaluate_pairs
from linkage.pipeline import run_linkage

__all__ = ["evaluate_pairs", "run_linkage"]
