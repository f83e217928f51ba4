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
    indicator_status      VARCHAR NOT NULL   -- supplied / zero / not_available
);

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
    reason        VARCHAR                -- primary / secondary
);
