-- Lookup tables the mart SQL joins to, rebuilt from settings on each build.
CREATE OR REPLACE TEMP TABLE mart_catalogue (
    indicator VARCHAR PRIMARY KEY, dataset VARCHAR NOT NULL, feed VARCHAR NOT NULL
);
CREATE OR REPLACE TEMP TABLE mart_kind (
    kind VARCHAR PRIMARY KEY, feed VARCHAR NOT NULL, ethnicity_rank INTEGER NOT NULL
);
CREATE OR REPLACE TEMP TABLE mart_age_band (
    label VARCHAR PRIMARY KEY, min_age INTEGER NOT NULL, max_age INTEGER
);
CREATE OR REPLACE TEMP TABLE mart_ethnicity (
    code VARCHAR PRIMARY KEY, ethnic_group VARCHAR NOT NULL
);
