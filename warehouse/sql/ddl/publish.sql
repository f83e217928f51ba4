-- Published aggregate tables. Every count is text after disclosure control: a number, or the
-- suppression symbol ('c'); ':' marks an indicator whose feed was not available. The integers
-- behind them stay in mart.publication_cell, which is never exported.

CREATE TABLE IF NOT EXISTS publish.table8_datasets (
    period_start          DATE NOT NULL,
    period_end            DATE NOT NULL,
    k                     INTEGER NOT NULL,
    k_label               VARCHAR NOT NULL,  -- '1' .. 'top+' (the inquiry's "(5+)")
    children_at_least_k   VARCHAR NOT NULL,
    children_exactly_k    VARCHAR NOT NULL,
    pct_at_least_k        VARCHAR NOT NULL,  -- of the denominator, 1 decimal place
    denominator           VARCHAR NOT NULL,  -- children presenting in at least one data set
    datasets_present      VARCHAR NOT NULL,  -- data sets whose feed was delivered
    datasets_not_available VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS publish.table9_indicators (
    period_start          DATE NOT NULL,
    period_end            DATE NOT NULL,
    k                     INTEGER NOT NULL,
    k_label               VARCHAR NOT NULL,
    children_at_least_k   VARCHAR NOT NULL,
    children_exactly_k    VARCHAR NOT NULL,
    pct_at_least_k        VARCHAR NOT NULL,
    denominator           VARCHAR NOT NULL,
    indicators_present    VARCHAR NOT NULL,
    indicators_not_available VARCHAR NOT NULL
);

-- Which indicators Table 9's rows are made of: for each indicator, the children presenting with
-- it and with at least k / exactly k indicators in all (k up to table9_drivers.top_k, the last
-- row open, "3+"), and their share of Table 9's children with at least k.
CREATE TABLE IF NOT EXISTS publish.indicator_drivers (
    period_start          DATE NOT NULL,
    period_end            DATE NOT NULL,
    indicator             VARCHAR NOT NULL,
    indicator_label       VARCHAR NOT NULL,
    dataset               VARCHAR NOT NULL,
    k                     INTEGER NOT NULL,
    k_label               VARCHAR NOT NULL,
    children_at_least_k   VARCHAR NOT NULL,
    children_exactly_k    VARCHAR NOT NULL,
    pct_of_children_at_least_k VARCHAR NOT NULL   -- of Table 9's children with at least k
);

CREATE TABLE IF NOT EXISTS publish.indicator_breakdown (
    period_start          DATE NOT NULL,
    period_end            DATE NOT NULL,
    indicator             VARCHAR NOT NULL,  -- catalogue code, or ANY = at least one indicator
    indicator_label       VARCHAR NOT NULL,
    dataset               VARCHAR NOT NULL,
    age_band              VARCHAR NOT NULL,  -- a band, Unknown, or All
    sex                   VARCHAR NOT NULL,  -- Male / Female / Not known / All
    ethnicity_group       VARCHAR NOT NULL,  -- ONS group, Refused or not known, Not recorded, All
    children              VARCHAR NOT NULL,
    indicator_status      VARCHAR NOT NULL,  -- supplied / zero / not_available
    rate_per_10000        VARCHAR NOT NULL,  -- of the published count; ':' without a population
    population            VARCHAR NOT NULL   -- the estimate the rate is per (age band x sex)
);
-- Warehouses built before rates were published gain the columns (a quarterly return works on a
-- copy of the published file).
ALTER TABLE publish.indicator_breakdown ADD COLUMN IF NOT EXISTS rate_per_10000 VARCHAR;
ALTER TABLE publish.indicator_breakdown ADD COLUMN IF NOT EXISTS population VARCHAR;

CREATE TABLE IF NOT EXISTS publish.indicator_status (
    period_start          DATE NOT NULL,
    period_end            DATE NOT NULL,
    feed                  VARCHAR NOT NULL,
    indicator             VARCHAR NOT NULL,
    inquiry_number        VARCHAR NOT NULL,
    indicator_label       VARCHAR NOT NULL,
    dataset               VARCHAR NOT NULL,
    status                VARCHAR NOT NULL,
    note                  VARCHAR
);

-- Working table (not published, never exported): the integer behind every published cell and
-- why it is suppressed.
CREATE TABLE IF NOT EXISTS mart.publication_cell (
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    cell_id       VARCHAR NOT NULL,
    value         INTEGER NOT NULL,
    level         INTEGER NOT NULL,      -- 0 interior, >0 a total / margin
    suppressed    BOOLEAN NOT NULL,
    reason        VARCHAR,               -- primary / secondary / history (publication_history)
                                         -- / unprinted
    printed       BOOLEAN NOT NULL DEFAULT true  -- false: in the equations only, never printed
);

-- Missing episodes (warehouse.publication_tables): one row per feed and measure. `unit` is
-- episodes or children; `denominator` is the count the percentage is of; rates are per 10,000
-- children aged rate_ages in the population file (':' without one).
CREATE TABLE IF NOT EXISTS publish.missing_episodes (
    period_start      DATE NOT NULL,
    period_end        DATE NOT NULL,
    feed              VARCHAR NOT NULL,
    feed_label        VARCHAR NOT NULL,
    measure           VARCHAR NOT NULL,
    measure_label     VARCHAR NOT NULL,
    unit              VARCHAR NOT NULL,
    value             VARCHAR NOT NULL,
    denominator_label VARCHAR NOT NULL,
    denominator       VARCHAR NOT NULL,
    pct_of_denominator VARCHAR NOT NULL,
    rate_per_10000    VARCHAR NOT NULL,
    population        VARCHAR NOT NULL
);

-- Children by the combination of feeds they appear in (any record held in the build).
CREATE TABLE IF NOT EXISTS publish.feed_overlap (
    period_start      DATE NOT NULL,
    period_end        DATE NOT NULL,
    row_type          VARCHAR NOT NULL,   -- combination / feed_total / all
    feeds             VARCHAR NOT NULL,   -- e.g. 'LA + POL'; 'All'
    feed_count        INTEGER NOT NULL,
    children          VARCHAR NOT NULL,
    pct_of_children   VARCHAR NOT NULL,
    denominator       VARCHAR NOT NULL    -- all children in any feed
);

-- Per feed: records, how linkage grouped them into children, and overlap with other feeds.
CREATE TABLE IF NOT EXISTS publish.linkage_summary (
    period_start      DATE NOT NULL,
    period_end        DATE NOT NULL,
    feed              VARCHAR NOT NULL,
    feed_label        VARCHAR NOT NULL,
    records           VARCHAR NOT NULL,
    records_linked    VARCHAR NOT NULL,   -- placed in a child by linkage
    records_not_linked VARCHAR NOT NULL,
    children          VARCHAR NOT NULL,
    records_merged_within_feed VARCHAR NOT NULL,  -- records - children
    children_only_this_feed VARCHAR NOT NULL,
    children_also_other_feeds VARCHAR NOT NULL,
    pct_children_also_other_feeds VARCHAR NOT NULL
);

-- Per feed and field: records with the field not recorded.
CREATE TABLE IF NOT EXISTS publish.data_completeness (
    period_start      DATE NOT NULL,
    period_end        DATE NOT NULL,
    feed              VARCHAR NOT NULL,
    feed_label        VARCHAR NOT NULL,
    field             VARCHAR NOT NULL,
    field_label       VARCHAR NOT NULL,
    records           VARCHAR NOT NULL,
    recorded          VARCHAR NOT NULL,
    not_recorded      VARCHAR NOT NULL,
    pct_not_recorded  VARCHAR NOT NULL
);

-- The published history (warehouse.publication_history): every count each publication printed,
-- NULL where it printed the suppression symbol, carried from build to build so that a new
-- publication is chosen and checked against all those already made. Printed figures only.
CREATE TABLE IF NOT EXISTS meta.published_cell (
    publication   INTEGER NOT NULL,      -- 1, 2, ... in the order publications were made
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    published_at  TIMESTAMP NOT NULL,
    cell_id       VARCHAR NOT NULL,
    printed       INTEGER,               -- NULL: suppressed
    origin        VARCHAR NOT NULL       -- 'build', or the file a quarterly return wrote
);
