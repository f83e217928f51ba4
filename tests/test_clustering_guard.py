"""The clustering guard's cannot-link from evidence against: only decisive evidence keeps apart
two records that other edges join (linkage/clustering.py, step 3)."""

from __future__ import annotations

import math

import pytest

from linkage.clustering import build_clusters
from linkage.context import LinkageRun, StageTimer
from linkage.model import Model
from linkage.settings import load_settings
from warehouse.db import connect

PRIOR_BITS = -12.0          # lambda = 1 / (1 + 2**12)


def clusters_of_a_chain(weight_0_2: float) -> list[int]:
    """Records 0 - 1 - 2 joined by two sure edges; the pair (0, 2) scored at `weight_0_2`."""
    con = connect()
    con.execute("CREATE SCHEMA linkage")
    con.execute("CREATE TABLE linkage.feature AS SELECT range::INTEGER AS rid, 'a' AS source, "
                "NULL::VARCHAR AS upn, NULL::VARCHAR AS nhs_number, "
                "NULL::VARCHAR AS la_child_id FROM range(3)")
    rows = [(0, 1, 20.0), (1, 2, 20.0), (0, 2, weight_0_2)]
    con.execute("CREATE TEMP TABLE scored (rid_l INTEGER, rid_r INTEGER, match_weight DOUBLE, "
                "match_probability DOUBLE, match_rule VARCHAR)")
    for left, right, weight in rows:
        con.execute("INSERT INTO scored VALUES (?, ?, ?, ?, 'probabilistic')",
                    [left, right, weight, 1.0 / (1.0 + 2.0 ** -weight)])
    lam = 1.0 / (1.0 + 2.0 ** -PRIOR_BITS)
    run = LinkageRun(con, load_settings(), [], StageTimer(),
                     Model(m={}, u={}, u_random={}, lambda_random=lam))
    assert run.model.prior_weight() == pytest.approx(PRIOR_BITS)
    return build_clusters(run, "scored", 3).labels.tolist()


def test_a_little_evidence_against_does_not_split_what_edges_join():
    """(0, 2) scores 3 bits below the prior (Bayes factor 1/8: a mistyped birth year, say),
    far below cannot_link_probability, yet not decisive: the three stay one person."""
    labels = clusters_of_a_chain(PRIOR_BITS - 3.0)
    assert labels[0] == labels[1] == labels[2]


def test_decisive_evidence_against_keeps_two_records_apart():
    """(0, 2) scores further below the prior than cannot_link_bayes_factor allows: a
    cannot-link, so the weaker of the chain's edges is refused."""
    bits = math.log2(load_settings()["clustering"]["cannot_link_bayes_factor"])
    labels = clusters_of_a_chain(PRIOR_BITS + bits - 1.0)
    assert labels[0] != labels[2]
    assert labels[1] in (labels[0], labels[2])
