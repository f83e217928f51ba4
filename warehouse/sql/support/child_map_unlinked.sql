-- Before linkage has run each person record is its own child.
INSERT INTO ind_child_map
SELECT record_key, 'R:' || record_key FROM staging.person_record;
