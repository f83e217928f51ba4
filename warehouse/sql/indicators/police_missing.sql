-- I17 reported missing to police: every missing report in the period about the child (the
-- mart's events column gives "number of times"). ABSENT reports are a different definition and
-- only count if the catalogue lists them.
SELECT record_key,
       person_key,
       reported_at::DATE AS event_date,
       json_object('occurrence_type', occurrence_type,
                   'missing_from', missing_from,
                   'risk_level', risk_level,
                   'found', found_at IS NOT NULL)::VARCHAR AS detail
FROM staging.police
WHERE occurrence_type IN (SELECT unnest(getvariable('occurrence_types')))
  AND coalesce(role, 'SUBJECT') = 'SUBJECT'
  AND reported_at::DATE BETWEEN getvariable('period_start') AND getvariable('period_end')
