-- One row per extract file used by this build (the archive copy is lake/raw/.../<sha256>.<ext>).
CREATE TABLE meta.extract (
    extract_id     VARCHAR PRIMARY KEY,   -- sha256 of the file's bytes
    source         VARCHAR NOT NULL,      -- feed folder name in the inbox (defaults to the kind)
    kind           VARCHAR NOT NULL,      -- canonical extract kind
    map_name       VARCHAR NOT NULL,      -- column map used
    file_name      VARCHAR NOT NULL,      -- name as received
    archive_path   VARCHAR NOT NULL,
    received_at    TIMESTAMP NOT NULL,
    rows_in        INTEGER NOT NULL,
    rows_loaded    INTEGER NOT NULL,
    rows_quarantined INTEGER NOT NULL
);

-- One row for this build.
CREATE TABLE meta.run (
    run_id         VARCHAR PRIMARY KEY,
    code_version   VARCHAR NOT NULL,
    started_at     TIMESTAMP NOT NULL,
    finished_at    TIMESTAMP,
    as_of          DATE NOT NULL,         -- reporting date: the period ends here
    period_start   DATE NOT NULL,
    period_end     DATE NOT NULL,
    settings_json  VARCHAR NOT NULL       -- thresholds and options in force (no personal data)
);
