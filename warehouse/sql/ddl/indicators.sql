-- Tables filled by warehouse.indicators. Created here rather than in warehouse/schema/ because
-- their shape belongs to the indicator catalogue; IF NOT EXISTS so a rerun for another period
-- adds to them.

-- One row per indicator presentation: the source event that shows a child presenting with an
-- indicator during the period. person_key is staging.person_record.record_key (linkage zone).
CREATE TABLE IF NOT EXISTS staging.indicator_event (
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    source        VARCHAR NOT NULL,
    record_key    VARCHAR NOT NULL,      -- the event row ('<source>:<record_id>')
    person_key    VARCHAR NOT NULL,
    indicator     VARCHAR NOT NULL,      -- catalogue code, e.g. I18A
    dataset       VARCHAR NOT NULL,      -- catalogue data set, e.g. MISSING_POL
    event_date    DATE NOT NULL,         -- inside the period
    detail        VARCHAR                -- JSON: the facts the rule used (codes, durations, path)
);

-- Whether each feed x indicator could be counted for the period. A feed that was not delivered
-- is `not_available`, never a silent zero (domain brief section 5, rule 7).
CREATE TABLE IF NOT EXISTS meta.indicator_status (
    feed          VARCHAR NOT NULL,
    indicator     VARCHAR NOT NULL,
    dataset       VARCHAR NOT NULL,
    period        VARCHAR NOT NULL,      -- 'YYYY-MM-DD/YYYY-MM-DD'
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    status        VARCHAR NOT NULL,      -- supplied / zero / late / not_available
    events        INTEGER NOT NULL,      -- events kept (0 when not_available)
    excluded_aged_18_plus INTEGER NOT NULL,   -- events dropped: child known to be 18+ at the event
    excluded_age_unknown  INTEGER NOT NULL,   -- events dropped: crime with no victim age and an offence code that allows adult victims
    note          VARCHAR,
    PRIMARY KEY (indicator, period_start, period_end)
);
