-- One row per linked child known to any source, with the best value of each characteristic
-- across the child's records:
--   dob, sex (M/F), disability (Y/N): the most common recorded value; ties go to the most
--     recently received record (meta.extract.received_at), then the larger record key. U and
--     empty values are not votes; with no votes sex / disability are U.
--   ethnicity: specific (self-defined) main codes first - most common, ties to the kind ranked
--     first in publication.yaml, then most recent; only if no record has one, REFU / NOBT
--     ("Refused or not known"); if no record has any, NULL ("Not recorded"). Officer-observed
--     IC codes are never used.
-- *_basis says how the value was chosen: agreed / most_common / tie_broken / not_recorded.
INSERT INTO mart.child_profile
WITH recs AS (
    SELECT CAST(lp.person_id AS VARCHAR) AS person_id,
           pr.record_key, pr.source, pr.kind, pr.dob, pr.sex, pr.ethnicity, pr.disability,
           coalesce(x.received_at, TIMESTAMP '1900-01-01') AS received_at,
           coalesce(k.ethnicity_rank, 999) AS ethnicity_rank,
           k.feed
    FROM linkage.person lp
    JOIN staging.person_record pr ON pr.record_key = lp.record_key
    LEFT JOIN meta.extract x ON x.extract_id = pr.extract_id
    LEFT JOIN mart_kind k ON k.kind = pr.kind
),
votes_long AS (
    SELECT person_id, 'dob' AS attribute, strftime(dob, '%Y-%m-%d') AS value,
           received_at, 0 AS rank_key, record_key FROM recs WHERE dob IS NOT NULL
    UNION ALL
    SELECT person_id, 'sex', sex, received_at, 0, record_key
    FROM recs WHERE sex IN ('M', 'F')
    UNION ALL
    SELECT person_id, 'disability', disability, received_at, 0, record_key
    FROM recs WHERE disability IN ('Y', 'N')
    UNION ALL
    SELECT person_id, 'ethnicity', ethnicity, received_at, ethnicity_rank, record_key
    FROM recs WHERE ethnicity IS NOT NULL AND ethnicity NOT IN ('REFU', 'NOBT')
    UNION ALL
    SELECT person_id, 'ethnicity_unknown', ethnicity, received_at, 0, record_key
    FROM recs WHERE ethnicity IN ('REFU', 'NOBT')
),
votes AS (
    SELECT person_id, attribute, value, count(*) AS n, max(received_at) AS latest,
           min(rank_key) AS rank_key, max(record_key) AS last_key
    FROM votes_long
    GROUP BY person_id, attribute, value
),
ranked AS (
    SELECT *,
           row_number() OVER w AS rk,
           count(*) OVER (PARTITION BY person_id, attribute) AS n_values,
           lead(n) OVER w AS next_n
    FROM votes
    WINDOW w AS (PARTITION BY person_id, attribute
                 ORDER BY n DESC, rank_key ASC, latest DESC, last_key DESC)
),
best AS (
    SELECT person_id, attribute, value,
           CASE WHEN n_values = 1 THEN 'agreed'
                WHEN n > next_n THEN 'most_common'
                ELSE 'tie_broken' END AS basis
    FROM ranked WHERE rk = 1
),
children AS (
    SELECT person_id,
           count(*) AS n_records,
           list(DISTINCT source ORDER BY source) AS sources,
           list(DISTINCT feed ORDER BY feed) FILTER (WHERE feed IS NOT NULL) AS feeds
    FROM recs GROUP BY person_id
),
hits AS (
    SELECT person_id,
           count(DISTINCT dataset) AS n_datasets,
           count(DISTINCT indicator) AS n_indicators,
           list(DISTINCT dataset ORDER BY dataset) AS datasets,
           list(DISTINCT indicator ORDER BY indicator) AS indicators,
           bool_or(indicator = getvariable('looked_after_indicator')) AS looked_after
    FROM mart.child_indicator
    WHERE period_start = getvariable('period_start') AND period_end = getvariable('period_end')
    GROUP BY person_id
),
profile AS (
    SELECT c.person_id,
           CAST(d.value AS DATE) AS dob,
           coalesce(d.basis, 'not_recorded') AS dob_basis,
           coalesce(s.value, 'U') AS sex,
           coalesce(s.basis, 'not_recorded') AS sex_basis,
           coalesce(e.value, u.value) AS ethnicity,
           CASE WHEN e.value IS NOT NULL THEN e.basis
                WHEN u.value IS NOT NULL THEN 'refused_or_not_known'
                ELSE 'not_recorded' END AS ethnicity_basis,
           coalesce(dis.value, 'U') AS disability,
           coalesce(dis.basis, 'not_recorded') AS disability_basis,
           c.n_records, c.sources, coalesce(c.feeds, []) AS feeds
    FROM children c
    LEFT JOIN best d ON d.person_id = c.person_id AND d.attribute = 'dob'
    LEFT JOIN best s ON s.person_id = c.person_id AND s.attribute = 'sex'
    LEFT JOIN best e ON e.person_id = c.person_id AND e.attribute = 'ethnicity'
    LEFT JOIN best u ON u.person_id = c.person_id AND u.attribute = 'ethnicity_unknown'
    LEFT JOIN best dis ON dis.person_id = c.person_id AND dis.attribute = 'disability'
),
aged AS (
    SELECT p.*,
           CASE WHEN age_years(p.dob, getvariable('as_of')) >= 0
                THEN age_years(p.dob, getvariable('as_of')) END AS age
    FROM profile p
)
SELECT getvariable('period_start'),
       getvariable('period_end'),
       getvariable('as_of'),
       a.person_id,
       a.age,
       coalesce(b.label, getvariable('age_unknown_label')) AS age_band,
       a.dob_basis,
       a.sex,
       a.sex_basis,
       a.ethnicity,
       coalesce(g.ethnic_group, getvariable('ethnicity_not_recorded_label')) AS ethnicity_group,
       a.ethnicity_basis,
       a.disability,
       a.disability_basis,
       coalesce(h.looked_after, false),
       a.n_records,
       a.sources,
       a.feeds,
       coalesce(h.n_datasets, 0),
       coalesce(h.n_indicators, 0),
       coalesce(h.datasets, []),
       coalesce(h.indicators, [])
FROM aged a
LEFT JOIN mart_age_band b
       ON a.age >= b.min_age AND (b.max_age IS NULL OR a.age <= b.max_age)
LEFT JOIN mart_ethnicity g ON g.code = a.ethnicity
LEFT JOIN hits h ON h.person_id = a.person_id;
