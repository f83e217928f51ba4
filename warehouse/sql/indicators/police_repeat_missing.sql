-- I18A / I18B repeat missing: at least min_reports missing reports on dates inside any window of
-- window_days consecutive days (so 3 reports 14 days apart, first to last, are not "within 14
-- days"; 13 days apart are). Reports are counted per linked child (ind_child_map) so that two
-- police records of one child add up; one report held on two records counts once. Only reports
-- inside the period count. One event per report that completes a qualifying window.
WITH reports AS (
    SELECT p.record_key,
           p.person_key,
           coalesce(m.child_key, p.person_key) AS child_key,
           p.reported_at,
           p.reported_at::DATE AS d
    FROM staging.police p
    LEFT JOIN ind_child_map m ON m.person_key = p.person_key
    WHERE p.occurrence_type IN (SELECT unnest(getvariable('occurrence_types')))
      AND coalesce(p.role, 'SUBJECT') = 'SUBJECT'
      AND p.reported_at::DATE BETWEEN getvariable('period_start') AND getvariable('period_end')
),
distinct_reports AS (
    SELECT child_key,
           reported_at,
           any_value(d) AS d,
           arg_min(struct_pack(record_key := record_key, person_key := person_key), record_key)
               AS rec
    FROM reports
    GROUP BY child_key, reported_at
),
windows AS (
    SELECT r.rec, r.d, count(*) AS n, min(e.d) AS window_first
    FROM distinct_reports r
    JOIN distinct_reports e
      ON e.child_key = r.child_key
     AND e.reported_at <= r.reported_at
     AND e.d > r.d - getvariable('window_days')
    GROUP BY r.child_key, r.reported_at, r.rec, r.d
)
SELECT rec.record_key AS record_key,
       rec.person_key AS person_key,
       d AS event_date,
       json_object('reports_in_window', n,
                   'window_days', getvariable('window_days'),
                   'window_first_report', window_first)::VARCHAR AS detail
FROM windows
WHERE n >= getvariable('min_reports')
