-- I28 missing or away from care at least once: any MISSING episode that starts in the period,
-- whatever its type (missing or away) and length, open episodes included. The type is kept in
-- the detail so the two definitions can still be told apart.
SELECT record_key,
       person_key,
       start_at::DATE AS event_date,
       json_object('missing_type', missing_type,
                   'missing_from', missing_from,
                   'open', end_at IS NULL,
                   'duration_hours', CASE WHEN end_at >= start_at
                        THEN round((epoch(end_at) - epoch(start_at)) / 3600.0, 2) END)::VARCHAR
           AS detail
FROM staging.social_care
WHERE event_type = 'MISSING'
  AND (missing_from IS NULL OR missing_from IN (SELECT unnest(getvariable('missing_from'))))
  AND start_at::DATE BETWEEN getvariable('period_start') AND getvariable('period_end')
