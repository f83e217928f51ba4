-- The feeds each child appears in (any record, whatever its dates): linked children by
-- linkage.person, a record linkage has not placed as a child of its own. Also the records per
-- feed, for the linkage summary.
SELECT coalesce(any_value(lp.person_id), 'R:' || pr.record_key) AS child_key,
       pr.kind,
       pr.record_key,
       any_value(lp.person_id) IS NOT NULL AS linked
FROM staging.person_record pr
LEFT JOIN linkage.person lp ON lp.record_key = pr.record_key
GROUP BY pr.record_key, pr.kind
ORDER BY child_key, pr.record_key
