"""Pairwise precision, recall and F1 of a clustering against labelled clusters.

Counted from cluster sizes and intersections (sum of n*(n-1)/2 over groups), never by listing
pairs, so a million labelled records cost one group-by. Only records present in both frames are
counted. With no predicted (or no true) pairs, precision (or recall) is 1: nothing was wrong.
"""

from __future__ import annotations

import pandas as pd


def _pairs(sizes: pd.Series) -> int:
    values = sizes.astype("int64")
    return int((values * (values - 1) // 2).sum())


def evaluate_pairs(predicted: pd.DataFrame, truth: pd.DataFrame) -> dict:
    both = predicted[["record_key", "person_id"]].merge(
        truth[["record_key", "cluster"]], on="record_key", how="inner")
    predicted_pairs = _pairs(both.groupby("person_id").size())
    true_pairs = _pairs(both.groupby("cluster").size())
    tp = _pairs(both.groupby(["person_id", "cluster"]).size())
    fp, fn = predicted_pairs - tp, true_pairs - tp
    precision = tp / predicted_pairs if predicted_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
            "records": len(both)}
