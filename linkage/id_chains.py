"""Identifier chains: one child's UPNs over time count as one identifier.

A child's UPN changes (a temporary UPN replaced by a permanent one, a new school's allocation),
and the returns record the change: the CIN census and the school census carry the former UPN
beside the current one, the SSD an ended UPN. A CIN record holding only the new UPN and a
school census record of last year holding only the old one are the same child; compared as two
values of the strong id `upn` they would be a conflict, and the guard would keep them apart.
So before blocking, every record's UPN is replaced by its chain's canonical UPN (the smallest
UPN of the connected chain), and a record holding only a former UPN takes its chain's too: UPN
agreement, conflicts and the clustering guard then all see one value per child. LA child ids
are upper-cased, as the DfE's validators compare them (a 903 set is upper-cased, a case system's
CIN export may not be).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from sources.common.sqlfiles import SqlFiles

SQL = SqlFiles.beside(__file__)


def resolve_id_chains(con: duckdb.DuckDBPyConnection) -> int:
    """Rewrite linkage.feature's upn and la_child_id in place; returns the UPNs that were
    replaced by another of their chain."""
    fragments = SQL.fragments("id_chains.sql")
    links = con.execute(fragments["upn_links"]).df()
    values = pd.unique(pd.concat([links["upn"], links["former_upn"]], ignore_index=True))
    index = {v: i for i, v in enumerate(values)}
    n = len(values)
    left = links["upn"].map(index).to_numpy(dtype=np.int64)
    right = links["former_upn"].map(index).to_numpy(dtype=np.int64)
    labels = connected_components(
        coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n)),
        directed=False)[1] if n else np.array([], dtype=np.int64)
    chain = pd.DataFrame({"upn": values, "label": labels})
    chain["canonical"] = chain.groupby("label")["upn"].transform("min")
    con.register("linkage_upn_chain_df", chain[["upn", "canonical"]])
    con.execute("CREATE OR REPLACE TEMP TABLE linkage_upn_chain AS "
                "SELECT upn::VARCHAR AS upn, canonical::VARCHAR AS canonical "
                "FROM linkage_upn_chain_df")
    con.unregister("linkage_upn_chain_df")
    con.execute(fragments["resolve"])
    con.execute("DROP TABLE linkage_upn_chain")
    return int((chain["upn"] != chain["canonical"]).sum())
