-- Working table: the identifying columns of every loaded row, before they are folded into one
-- staging.person_record per (source, person_ref). Dropped once person records are built.
-- The placeholder is filled with the person values and raw text of sources/kinds/_person.yaml
-- (warehouse/load.py).
CREATE OR REPLACE TABLE staging.person_row (
    source VARCHAR, kind VARCHAR, person_ref VARCHAR, record_key VARCHAR, extract_id VARCHAR,
    ord BIGINT,
    {{person_row_columns}}
);
