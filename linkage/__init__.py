"""Joined Up linkage: which person records belong to the same child.

Canonical person records (staging.person_record, or any table of that shape) are linked by
deterministic rules on strong identifiers and a Fellegi-Sunter model estimated without labels;
clusters are guarded against chaining and twins, and person ids are kept stable across runs.
The package does not know which agency a record came from.

Public API:
    run_linkage(con, *, source_table="staging.person_record", previous_ids=None, settings=None)
    evaluate_pairs(predicted, truth)
    linkage.settings.validate_overrides(overrides)   raises LinkageSettingsError before any work
"""


__all__ = ["evaluate_pairs", "run_linkage"]


def __getattr__(name: str):
    """Imported on first use: the engine pulls in recordlinkage and scikit-learn (two seconds),
    which checking a settings file or listing runs never needs."""
    if name == "run_linkage":
        from linkage.pipeline import run_linkage

        return run_linkage
    if name == "evaluate_pairs":
        from linkage.evaluate import evaluate_pairs

        return evaluate_pairs
    raise AttributeError(name)
