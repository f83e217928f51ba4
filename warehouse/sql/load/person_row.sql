-- Working table: the identifying columns of every loaded row, before they are folded into one
-- staging.person_record per (source, person_ref). Dropped once person records are built.
CREATE OR REPLACE TABLE staging.person_row (
    source VARCHAR, kind VARCHAR, person_ref VARCHAR, record_key VARCHAR, extract_id VARCHAR,
    ord BIGINT,
    first_name VARCHAR, middle_names VARCHAR, last_name VARCHAR, preferred_name VARCHAR,
    former_last_name VARCHAR, dob DATE, sex VARCHAR, ethnicity VARCHAR,
    ethnicity_observed VARCHAR, postcode VARCHAR, address VARCHAR, nhs_number VARCHAR,
    upn VARCHAR, la_child_id VARCHAR, disability VARCHAR,
    first_name_raw VARCHAR, last_name_raw VARCHAR, dob_raw VARCHAR, sex_raw VARCHAR,
    ethnicity_raw VARCHAR, postcode_raw VARCHAR, nhs_number_raw VARCHAR, upn_raw VARCHAR
);
