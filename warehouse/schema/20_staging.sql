-- One row per person known to a source system: all rows of an extract that share person_ref are
-- one record. Event rows live in staging.<kind> tables created from sources/kinds/*.yaml.
-- The columns after the key are generated from sources/kinds/_person.yaml (warehouse/schema.py):
-- each person column (its comment there), the lists of other names seen on rows for the same
-- person_ref (alias_first_names, alias_last_names), then the raw text (<column>_raw) kept beside
-- the standardised values.
CREATE TABLE staging.person_record (
    record_key        VARCHAR PRIMARY KEY,   -- '<source>:<person_ref>'
    source            VARCHAR NOT NULL,
    kind              VARCHAR NOT NULL,
    person_ref        VARCHAR NOT NULL,
    extract_id        VARCHAR NOT NULL,      -- extract the identifying values were taken from
    event_rows        INTEGER NOT NULL,      -- extract rows carrying this person_ref
    {{person_record_columns}}
);
