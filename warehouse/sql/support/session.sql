-- Lookup tables the indicator SQL joins to, rebuilt from settings for each derivation run.
CREATE OR REPLACE TEMP TABLE ind_school_term (
    term        VARCHAR PRIMARY KEY,
    month       INTEGER NOT NULL,
    day         INTEGER NOT NULL,
    year_offset INTEGER NOT NULL
);
CREATE OR REPLACE TEMP TABLE ind_child_map (
    person_key  VARCHAR PRIMARY KEY,
    child_key   VARCHAR NOT NULL
);
