-- I19 / I20 persistent absence: authorised + unauthorised absence at or above threshold_percent
-- of possible sessions, summed over the child's attendance terms of the catalogue's school types
-- whose nominal start (ind_school_term) falls in the period - three consecutive terms for a
-- 12-month period, across academic years. Term rows with a missing absence count are left out
-- rather than read as zero. Summed per linked child (ind_child_map). Integer / decimal
-- arithmetic, so exactly at the threshold counts.
WITH terms AS (
    SELECT s.record_key,
           s.person_key,
           coalesce(m.child_key, s.person_key) AS child_key,
           s.school_type,
           s.sessions_possible,
           s.sessions_authorised_absence + s.sessions_unauthorised_absence AS sessions_absent,
           make_date(
               CAST(regexp_extract(s.academic_year, '^\s*(\d{4})', 1) AS INTEGER) + t.year_offset,
               t.month, t.day) AS term_start
    FROM staging.school s
    JOIN ind_school_term t ON t.term = coalesce(s.term, 'whole_year')
    LEFT JOIN ind_child_map m ON m.person_key = s.person_key
    WHERE s.record_type = 'ATTENDANCE'
      AND s.school_type IN (SELECT unnest(getvariable('school_types')))
      AND s.sessions_possible > 0
      AND s.sessions_authorised_absence IS NOT NULL
      AND s.sessions_unauthorised_absence IS NOT NULL
      AND regexp_matches(s.academic_year, '^\s*\d{4}')
),
per_child AS (
    SELECT child_key,
           sum(sessions_possible) AS possible,
           sum(sessions_absent) AS absent,
           count(*) AS terms,
           max(term_start) AS last_term_start,
           arg_max(struct_pack(record_key := record_key, person_key := person_key),
                   struct_pack(t := term_start, r := record_key)) AS rec,
           list(DISTINCT school_type ORDER BY school_type) AS school_types
    FROM terms
    WHERE term_start BETWEEN getvariable('period_start') AND getvariable('period_end')
    GROUP BY child_key
)
SELECT rec.record_key AS record_key,
       rec.person_key AS person_key,
       last_term_start AS event_date,
       json_object('terms', terms,
                   'sessions_possible', possible,
                   'sessions_absent', absent,
                   'absence_percent', round(100.0 * absent / possible, 1),
                   'threshold_percent', getvariable('threshold_percent'),
                   'school_types', school_types)::VARCHAR AS detail
FROM per_child
WHERE 100 * absent >= getvariable('threshold_percent') * possible
