-- One row per person known to a source system: all rows of an extract that share person_ref are
-- one record. Event rows live in staging.<kind> tables created from sources/kinds/*.yaml.
-- Standardised values sit beside their raw text (<column>_raw).
CREATE TABLE staging.person_record (
    record_key        VARCHAR PRIMARY KEY,   -- '<source>:<person_ref>'
    source            VARCHAR NOT NULL,
    kind              VARCHAR NOT NULL,
    person_ref        VARCHAR NOT NULL,
    extract_id        VARCHAR NOT NULL,      -- extract the identifying values were taken from
    event_rows        INTEGER NOT NULL,      -- extract rows carrying this person_ref
    first_name        VARCHAR,
    middle_names      VARCHAR,
    last_name         VARCHAR,
    preferred_name    VARCHAR,
    former_last_name  VARCHAR,
    alias_first_names VARCHAR[],             -- other first names seen on rows for this person_ref
    alias_last_names  VARCHAR[],             -- other surnames seen on rows for this person_ref
    dob               DATE,
    sex               VARCHAR,               -- M / F / U
    ethnicity         VARCHAR,               -- DfE main code, REFU, NOBT; NULL = not recorded
    ethnicity_observed VARCHAR,              -- police IC code, never merged with ethnicity
    postcode          VARCHAR,               -- 'AB1 2CD'; NULL when not a valid UK postcode
    address           VARCHAR,
    nhs_number        VARCHAR,               -- only when the check digit is valid
    upn               VARCHAR,               -- only when the check letter is valid
    la_child_id       VARCHAR,
    disability        VARCHAR,
    first_name_raw    VARCHAR,
    last_name_raw     VARCHAR,
    dob_raw           VARCHAR,
    sex_raw           VARCHAR,
    ethnicity_raw     VARCHAR,
    postcode_raw      VARCHAR,
    nhs_number_raw    VARCHAR,
    upn_raw           VARCHAR
);
