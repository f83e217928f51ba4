-- I14 rape of a child victim with two or more linked suspects. An unknown suspect count is
-- neither single nor multiple. The event date is the offence date (the recorded date when the
-- offence date is missing) because the victim's age is judged at the offence.
SELECT record_key,
       person_key,
       coalesce(offence_date, reported_at::DATE) AS event_date,
       json_object(
           'offence_code', offence_code,
           'suspect_count', suspect_count,
           'intrafamilial', intrafamilial,
           'cse_flag', cse_flag,
           'date_basis', CASE WHEN offence_date IS NULL THEN 'recorded' ELSE 'offence' END,
           'recorded_date', reported_at::DATE,
           'child_by_definition',
               offence_code NOT IN (SELECT unnest(getvariable('adult_victim_codes')))
       )::VARCHAR AS detail
FROM staging.police
WHERE occurrence_type = 'CRIME'
  AND role = 'VICTIM'
  AND offence_code IN (SELECT unnest(getvariable('rape_codes')))
  AND suspect_count >= getvariable('min_suspects')
  AND coalesce(offence_date, reported_at::DATE)
      BETWEEN getvariable('period_start') AND getvariable('period_end')
