-- Identifier chains (linkage/id_chains.py). Reads linkage.feature and the temp view
-- linkage_input (the person records, with former_upn).

-- name: upn_links
-- Each record holding a current and a former UPN says the two are one child's.
-- The record's own UPN, not its feature (which an incremental run carries already resolved).
SELECT DISTINCT nullif(trim(i.upn), '') AS upn, nullif(trim(i.former_upn), '') AS former_upn
FROM linkage_input i
WHERE nullif(trim(i.upn), '') IS NOT NULL AND nullif(trim(i.former_upn), '') IS NOT NULL
  AND trim(i.upn) <> trim(i.former_upn)

-- name: resolve
-- Every record's UPN (or, without one, its former UPN) as its chain's canonical UPN, and LA
-- child ids compared as the DfE's tools compare them, case-insensitively.
UPDATE linkage.feature f SET
    upn = coalesce(c.canonical, nullif(trim(i.upn), ''), nullif(trim(i.former_upn), '')),
    la_child_id = upper(f.la_child_id)
FROM linkage_input i LEFT JOIN linkage_upn_chain c
    ON c.upn = coalesce(nullif(trim(i.upn), ''), nullif(trim(i.former_upn), ''))
WHERE i.record_key = f.record_key
