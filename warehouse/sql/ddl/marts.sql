-- Pseudonymous child-level marts, filled by warehouse.marts for one period at a time.
-- No names, dates of birth or addresses: age and age band only.

CREATE TABLE IF NOT EXISTS mart.child_indicator (
    period_start      DATE NOT NULL,
    period_end        DATE NOT NULL,
    person_id         VARCHAR NOT NULL,
    indicator         VARCHAR NOT NULL,
    dataset           VARCHAR NOT NULL,
    feed              VARCHAR NOT NULL,
    first_event_date  DATE NOT NULL,
    last_event_date   DATE NOT NULL,
    events            INTEGER NOT NULL,
    sources           VARCHAR[] NOT NULL,
    PRIMARY KEY (period_start, period_end, person_id, indicator)
);

CREATE TABLE IF NOT EXISTS mart.child_profile (
    period_start      DATE NOT NULL,
    period_end        DATE NOT NULL,
    as_of             DATE NOT NULL,
    person_id         VARCHAR NOT NULL,
    age               INTEGER,               -- whole years at as_of; NULL = no usable dob
    age_band          VARCHAR NOT NULL,
    dob_basis         VARCHAR NOT NULL,      -- agreed / most_common / most_recent / not_recorded
    sex               VARCHAR NOT NULL,      -- M / F / U
    sex_basis         VARCHAR NOT NULL,
    ethnicity         VARCHAR,               -- DfE main code, REFU / NOBT, NULL = not recorded
    ethnicity_group   VARCHAR NOT NULL,      -- ONS high-level group, 'Refused or not known', 'Not recorded'
    ethnicity_basis   VARCHAR NOT NULL,
    disability        VARCHAR NOT NULL,      -- Y / N / U
    disability_basis  VARCHAR NOT NULL,
    looked_after      BOOLEAN NOT NULL,      -- presenting with the looked-after indicator in the period
    n_records         INTEGER NOT NULL,
    sources           VARCHAR[] NOT NULL,
    feeds_present     VARCHAR[] NOT NULL,
    n_datasets        INTEGER NOT NULL,
    n_indicators      INTEGER NOT NULL,
    datasets          VARCHAR[] NOT NULL,
    indicators        VARCHAR[] NOT NULL,
    PRIMARY KEY (period_start, period_end, person_id)
);
