-- The analyst schema: documented views for people who query the published warehouse read-only
-- (`joinedup sql`). Children appear only by a keyed pseudonym (HMAC-SHA256 of linkage's
-- person_id, see warehouse/pseudonym.py), never by the sequential person_id itself: no names,
-- dates of birth, addresses, postcodes, NHS numbers, UPNs or supplier record ids.
-- Child-level views are for analysis inside the partnership; only the suppressed publish
-- tables (and analyst.published_*) may leave it.
CREATE SCHEMA IF NOT EXISTS analyst;

-- Filled after publication by the nightly run's pseudonymise step (the key never enters the
-- warehouse); created here so the views bind even in a build that has not reached it.
CREATE TABLE IF NOT EXISTS linkage.pseudonym (
    person_id VARCHAR PRIMARY KEY,
    pseudonym VARCHAR NOT NULL UNIQUE
);

CREATE OR REPLACE VIEW analyst.child AS
SELECT c.period_start, c.period_end, c.as_of, p.pseudonym, c.age, c.age_band, c.sex,
       c.ethnicity, c.ethnicity_group, c.ethnicity_basis, c.disability, c.looked_after,
       c.n_records, c.feeds_present, c.n_datasets, c.n_indicators, c.datasets, c.indicators
FROM mart.child_profile c
LEFT JOIN linkage.pseudonym p USING (person_id);
COMMENT ON VIEW analyst.child IS 'One row per linked child and reporting period: age at the period end, age band, best sex / ethnicity / disability across records (and how chosen), feeds, data sets and indicators. Children by keyed pseudonym only.';

CREATE OR REPLACE VIEW analyst.child_indicator AS
SELECT c.period_start, c.period_end, p.pseudonym, c.indicator, c.dataset, c.feed,
       c.first_event_date, c.last_event_date, c.events
FROM mart.child_indicator c
LEFT JOIN linkage.pseudonym p USING (person_id);
COMMENT ON VIEW analyst.child_indicator IS 'One row per child (keyed pseudonym), period and indicator the child presented with: first / last event date and number of events.';

CREATE OR REPLACE VIEW analyst.indicator AS
SELECT DISTINCT period_start, period_end, indicator, inquiry_number, indicator_label, dataset,
       feed, status, note
FROM publish.indicator_status;
COMMENT ON VIEW analyst.indicator IS 'The indicator catalogue per period and whether the feed supplied it (supplied / zero / not_available).';

CREATE OR REPLACE VIEW analyst.published_table8 AS SELECT * FROM publish.table8_datasets;
COMMENT ON VIEW analyst.published_table8 IS 'Published Table 8 (suppressed text): children presenting in k data sets.';
CREATE OR REPLACE VIEW analyst.published_table9 AS SELECT * FROM publish.table9_indicators;
COMMENT ON VIEW analyst.published_table9 IS 'Published Table 9 (suppressed text): children presenting with k indicators.';
CREATE OR REPLACE VIEW analyst.published_drivers AS SELECT * FROM publish.indicator_drivers;
COMMENT ON VIEW analyst.published_drivers IS 'Published (suppressed text): each indicator''s children with k or more / exactly k indicators in all, and their share of Table 9''s row: which indicators each row is made of.';
CREATE OR REPLACE VIEW analyst.published_breakdown AS SELECT * FROM publish.indicator_breakdown;
COMMENT ON VIEW analyst.published_breakdown IS 'Published breakdown (suppressed text) by indicator x age band x sex x ethnic group, with All margins.';
CREATE OR REPLACE VIEW analyst.published_missing AS SELECT * FROM publish.missing_episodes;
COMMENT ON VIEW analyst.published_missing IS 'Published missing-episode measures per feed (suppressed text).';
CREATE OR REPLACE VIEW analyst.published_overlap AS SELECT * FROM publish.feed_overlap;
COMMENT ON VIEW analyst.published_overlap IS 'Published overlap of children between feeds (suppressed text).';
CREATE OR REPLACE VIEW analyst.published_linkage AS SELECT * FROM publish.linkage_summary;
COMMENT ON VIEW analyst.published_linkage IS 'Published linkage summary per feed (suppressed text).';
CREATE OR REPLACE VIEW analyst.published_completeness AS SELECT * FROM publish.data_completeness;
COMMENT ON VIEW analyst.published_completeness IS 'Published share of records with each field not recorded, per feed (suppressed text).';
