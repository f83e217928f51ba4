-- Rows that failed validation, one row per (row, rule). Nothing is dropped silently: for every
-- extract, rows_in = rows_loaded + distinct quarantined rows (meta.extract).
CREATE TABLE quarantine.row_failure (
    extract_id   VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    file_name    VARCHAR NOT NULL,
    row_number   INTEGER NOT NULL,     -- line / sheet row in the file as received (header = its own row)
    column_name  VARCHAR,              -- canonical column (supplier column in supplier_column)
    supplier_column VARCHAR,
    rule         VARCHAR NOT NULL,     -- expectation type and its parameters, e.g. 'dob plausible for a child'
    value        VARCHAR               -- offending raw value (linkage zone only; never logged)
);

-- The full raw rows that were quarantined, as text, so they can be corrected and re-sent.
CREATE TABLE quarantine.row_data (
    extract_id   VARCHAR NOT NULL,
    row_number   INTEGER NOT NULL,
    row_json     VARCHAR NOT NULL,
    PRIMARY KEY (extract_id, row_number)
);
