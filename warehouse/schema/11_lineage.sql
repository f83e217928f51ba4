-- Lineage of every published table: the run that built it and the extracts it came from
-- (sha256 checksums of the archived files). Written just before the build is published.
CREATE TABLE meta.lineage (
    table_schema   VARCHAR NOT NULL,
    table_name     VARCHAR NOT NULL,
    run_id         VARCHAR NOT NULL,
    row_count      BIGINT NOT NULL,
    extract_ids    VARCHAR[] NOT NULL,    -- sha256 of each extract loaded into this build
    recorded_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (table_schema, table_name)
);
