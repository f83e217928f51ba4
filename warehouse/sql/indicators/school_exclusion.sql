-- I21-I23 exclusion (fixed or permanent) for the catalogue's reason, starting in the period, in
-- any school type (kept in the detail so #21/23 and #22/24 can still be split).
SELECT record_key,
       person_key,
       exclusion_start AS event_date,
       json_object('exclusion_reason', exclusion_reason,
                   'exclusion_category', exclusion_category,
                   'school_type', school_type,
                   'exclusion_sessions', exclusion_sessions)::VARCHAR AS detail
FROM staging.school
WHERE record_type = 'EXCLUSION'
  AND exclusion_reason = getvariable('exclusion_reason')
  AND exclusion_start BETWEEN getvariable('period_start') AND getvariable('period_end')
