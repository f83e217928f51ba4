-- Repeat-window and summed indicators count per linked child when linkage has run.
INSERT INTO ind_child_map
SELECT pr.record_key, coalesce('P:' || CAST(any_value(lp.person_id) AS VARCHAR), 'R:' || pr.record_key)
FROM staging.person_record pr
LEFT JOIN linkage.person lp ON lp.record_key = pr.record_key
GROUP BY pr.record_key;
